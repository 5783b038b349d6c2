"""The training loop: resume is bit-identical, NaN losses stop it, bad checkpoints are refused."""

from __future__ import annotations

import json

import pytest
import torch

from genmodels.errors import CheckpointError, InvalidInputError, TrainingDivergedError
from genmodels.targets import get_target
from genmodels.training import (
    Callback,
    JsonlLogger,
    TrainConfig,
    fit,
    load_model,
    read_checkpoint_config,
)
from genmodels.training.setup import build_model

SMALL = {
    "flow": {"transforms": 2, "hidden": 16},
    "gan": {"hidden": 16, "depth": 2},
    "vae": {"hidden": 16, "depth": 2},
    "ddpm": {"width": 16, "depth": 1, "num_classes": 8},  # class-conditional: labelled batches
}


class _StopAt(Callback):
    """Simulates a kill: raises after ``step`` steps (checkpoints before it are on disk)."""

    def __init__(self, step: int, error: type[BaseException] = KeyboardInterrupt) -> None:
        self.step, self.error = step, error

    def on_step(self, state) -> None:
        if state.step == self.step:
            raise self.error()


def _config(**kw) -> TrainConfig:
    base = {"steps": 12, "batch_size": 32, "warmup_steps": 3, "checkpoint_every": 5}
    return TrainConfig(**{**base, "progress": False, **kw})


def _log(out) -> list[Callback]:
    return [JsonlLogger(out / "metrics.jsonl", every=4)]


def _new(method: str):
    return build_model(method, (2,), SMALL[method], seed=0)


@pytest.mark.parametrize("method", ["flow", "gan", "vae", "ddpm"])
def test_resume_is_bit_identical(method: str, tmp_path) -> None:
    target = get_target("eight_gaussians")
    full = fit(
        _new(method), target, _config(), tmp_path / "full", callbacks=_log(tmp_path / "full")
    )

    with pytest.raises(KeyboardInterrupt):  # killed after step 7; last checkpoint: step 5
        fit(
            _new(method),
            target,
            _config(),
            tmp_path / "cut",
            callbacks=[*_log(tmp_path / "cut"), _StopAt(7)],
        )
    assert read_checkpoint_config(tmp_path / "cut")["step"] == 5
    resumed = fit(
        _new(method),
        target,
        _config(),
        tmp_path / "cut",
        resume=True,
        callbacks=_log(tmp_path / "cut"),
    )

    assert resumed.step == full.step == 12
    resumed_weights = resumed.model.state_dict()
    for name, a in full.model.state_dict().items():
        assert torch.equal(a, resumed_weights[name]), name
    for name, a in full.ema.shadow.items():
        assert torch.equal(a, resumed.ema.shadow[name]), name
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(ln)["step"] for ln in lines] == [
        json.loads(ln)["step"]
        for ln in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    ]


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path) -> None:
    class _Poison(Callback):
        def on_step(self, state) -> None:
            if state.step == 7:
                with torch.no_grad():
                    next(state.model.parameters()).fill_(float("nan"))

    out = tmp_path / "run"
    with pytest.raises(TrainingDivergedError, match=r"step 8.*last good checkpoint"):
        fit(_new("flow"), get_target("eight_gaussians"), _config(), out, callbacks=[_Poison()])
    assert read_checkpoint_config(out)["step"] == 5
    model, _ = load_model(out, ema=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_bad_checkpoints_are_refused(tmp_path) -> None:
    target = get_target("eight_gaussians")
    out = tmp_path / "run"
    fit(_new("flow"), target, _config(steps=2), out)
    with pytest.raises(InvalidInputError, match="--resume"):  # never clobbered silently
        fit(_new("flow"), target, _config(steps=2), out)
    with pytest.raises(CheckpointError, match="'flow'"):  # another method's run
        fit(_new("gan"), target, _config(steps=4), out, resume=True)

    weights = out / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(out)

    (out / "config.json").write_text('{"some": "other tool"}')
    with pytest.raises(CheckpointError, match="not a genmodels checkpoint"):
        load_model(out)
    (out / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(out)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_model(tmp_path / "missing")
