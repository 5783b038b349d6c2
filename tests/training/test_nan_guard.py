"""The NaN guard: a run that diverges stops, and the checkpoint it keeps is usable.

A checkpoint is only written of weights that are finite and whose loss (raw and EMA weights,
on a probe batch) is finite; the probe changes nothing the training sees.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cli_contract import assert_one_line_error
from genmodels.errors import TrainingDivergedError
from genmodels.targets import get_target
from genmodels.training import Callback, TrainConfig, fit, load_model
from genmodels.training.setup import build_model


def _config(**values) -> TrainConfig:
    base = {"steps": 6, "batch_size": 64, "warmup_steps": 0, "progress": False, "log_every": 1}
    return TrainConfig(**{**base, **values})


def _model(method: str, seed: int = 0):
    return build_model(method, (2,), {}, seed=seed)


def _finite(module: torch.nn.Module) -> bool:
    return all(
        torch.isfinite(t).all() for t in module.state_dict().values() if t.is_floating_point()
    )


def test_a_diverging_run_stops_and_keeps_only_a_usable_checkpoint(tmp_path, one_thread):
    """At lr 3e4 (warming up over 100 steps) a flow-matching net blows up within a few steps,
    after its first checkpoints; the one it keeps is finite and samples finite points."""
    out = tmp_path / "run"
    config = _config(steps=200, lr=3e4, warmup_steps=100, checkpoint_every=1)
    with pytest.raises(TrainingDivergedError, match=r"last good checkpoint .* is kept"):
        fit(_model("flow_matching"), get_target("two_moons"), config, out)
    for ema in (True, False):
        model, cfg = load_model(out, ema=ema)
        assert _finite(model), cfg["step"]
        x = model.sample(200, generator=torch.Generator().manual_seed(0)).x
        assert torch.isfinite(x).all()


class _PoisonEMA(Callback):
    """After step ``at``, one EMA value becomes NaN (the raw weights, and so the loss, stay
    finite): only a check of the weights themselves can notice."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_step(self, state) -> None:
        if state.step == self.at:
            name = next(k for k, v in state.ema.shadow.items() if v.is_floating_point())
            state.ema.shadow[name].view(-1)[0] = math.nan


def test_non_finite_weights_are_never_checkpointed(tmp_path, one_thread):
    out = tmp_path / "run"
    config = _config(steps=6, checkpoint_every=2)
    with pytest.raises(TrainingDivergedError, match=r"EMA weights .*after step 4.*kept"):
        fit(_model("flow"), get_target("two_moons"), config, out, callbacks=[_PoisonEMA(3)])
    model, cfg = load_model(out)  # the step-2 checkpoint, untouched
    assert cfg["step"] == 2 and _finite(model)


class _Recorder(Callback):
    def __init__(self) -> None:
        self.losses: list[dict[str, float]] = []

    def on_step(self, state) -> None:
        self.losses.append(dict(state.losses))


@pytest.mark.parametrize("method", ["vae", "ddpm", "gan"])
def test_the_probe_changes_nothing_training_sees(tmp_path, method, one_thread):
    """Checkpointing every step (so probing every step) gives the same run as no checkpoints:
    global and data generators, buffers (the VAE's update count, spectral norms) untouched."""
    target = get_target("eight_gaussians")
    runs = []
    for out in (tmp_path / "run", None):
        recorder = _Recorder()
        model = _model(method)
        fit(model, target, _config(checkpoint_every=1), out, callbacks=[recorder])
        runs.append((recorder.losses, model.state_dict()))
    (losses_a, state_a), (losses_b, state_b) = runs
    assert losses_a == losses_b
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)


def _run_with_nan_ema(tmp_path, monkeypatch):
    """A run directory whose EMA weights hold a NaN (written with the guard switched off)."""
    import genmodels.training.loop as loop

    out = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(loop, "_check_finite_weights", lambda run, step: None)
        fit(
            _model("flow"),
            get_target("two_moons"),
            _config(steps=2),
            out,
            callbacks=[_PoisonEMA(1)],
        )
    return out


def test_sample_and_likelihood_refuse_a_checkpoint_with_nan_weights(cli, tmp_path, monkeypatch):
    run = _run_with_nan_ema(tmp_path, monkeypatch)
    proc = cli("sample", run, "--n", "10", "--out", tmp_path / "x.npz")
    assert_one_line_error(proc)
    assert "1 NaN or inf EMA weights" in proc.stderr and "--no-ema" in proc.stderr
    assert not (tmp_path / "x.npz").exists()
    assert_one_line_error(cli("likelihood", run, "--data", "two_moons", "--n", "50"))
    # the raw weights are fine
    cli("sample", run, "--n", "10", "--no-ema", "--out", tmp_path / "raw.npz", check=True)
    with np.load(tmp_path / "raw.npz") as data:
        assert np.isfinite(data["x"]).all()


def test_non_finite_samples_are_counted_and_not_written(cli, tmp_path, monkeypatch):
    """Samples that come out NaN: exit 2, the count, and no file (nor a temporary) left."""
    from genmodels.models.flow import Flow

    out = tmp_path / "run"
    fit(_model("flow"), get_target("two_moons"), _config(steps=2), out)
    real_sample = Flow.sample

    def broken(self, n, **options):
        samples = real_sample(self, n, **options)
        samples.x[:3, 0] = math.nan
        samples.x[3, 1] = math.inf
        return samples

    monkeypatch.setattr(Flow, "sample", broken)
    proc = cli("sample", out, "--n", "10", "--out", tmp_path / "s" / "x.npz")
    assert_one_line_error(proc)
    assert "4 of 10 samples are NaN or inf; nothing was written" in proc.stderr
    assert not (tmp_path / "s").exists() or not list((tmp_path / "s").iterdir())
