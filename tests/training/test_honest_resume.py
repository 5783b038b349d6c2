"""Honest resume: changed settings are refused by name, or applied and recorded on --override."""

from __future__ import annotations

import json

import pytest
import torch

from cli_contract import assert_one_line_error
from genmodels.errors import ConfigError, TrainingDivergedError
from genmodels.targets import get_target
from genmodels.training import Callback, TrainConfig, fit, read_checkpoint_config
from genmodels.training.resume import resume_changes
from genmodels.training.schedule import warmup_cosine
from genmodels.training.setup import build_model

_RUN = [
    "train", "flow", "--data", "eight_gaussians", "--no-progress",
    "--set", "transforms=1", "--set", "hidden=8", "--set", "train.batch_size=16",
    "--set", "train.warmup_steps=2", "--set", "train.log_every=1",
    "--set", "train.eval_samples=50",
]  # fmt: skip


@pytest.fixture
def run(cli, tmp_path):
    out = tmp_path / "run"
    cli(*_RUN, "--steps", "6", "--out", out, check=True)
    return out


def _rows(out) -> list[dict]:
    return [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]


def test_changed_settings_are_refused_by_name(cli, run) -> None:
    saved = (run / "config.json").read_text()
    for change in (
        ["--set", "train.lr=1e-4"],
        ["--set", "train.lr=1e-4", "--set", "train.batch_size=32"],
        ["--seed", "3"],
        ["--steps", "4"],  # fewer steps than the run planned
    ):
        proc = cli(*_RUN, "--steps", "6", "--out", run, "--resume", *change)
        assert_one_line_error(proc)
        assert "--override" in proc.stderr
    assert "batch_size 16 -> 32, lr 0.001 -> 0.0001" in cli(
        *_RUN, "--steps", "6", "--out", run, "--resume", "--set", "train.lr=1e-4",
        "--set", "train.batch_size=32",
    ).stderr  # fmt: skip
    assert (run / "config.json").read_text() == saved  # nothing was recorded


def test_the_same_settings_more_steps_or_runtime_changes_resume(cli, run) -> None:
    proc = cli(
        *_RUN, "--steps", "9", "--out", run, "--resume", "--set", "train.lr=1e-3",
        "--set", "train.log_every=2", "--set", "train.checkpoint_every=3", "--device", "cpu",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cfg = read_checkpoint_config(run)
    assert cfg["step"] == 9 and cfg["train_config"]["steps"] == 9
    assert cfg["train_config"]["log_every"] == 2 and "overrides" not in cfg
    proc = cli("train", "flow", "--data", "eight_gaussians", "--out", run, "--resume")
    assert proc.returncode == 0, proc.stderr  # nothing given: the run's own settings


def test_override_applies_and_records_the_new_settings(cli, run) -> None:
    proc = cli(
        *_RUN, "--steps", "10", "--out", run, "--resume", "--override",
        "--set", "train.lr=1e-4",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cfg = read_checkpoint_config(run)
    assert cfg["train_config"]["lr"] == 1e-4
    assert cfg["overrides"] == [{"step": 6, "changed": {"lr": {"from": 1e-3, "to": 1e-4}}}]
    factor = warmup_cosine(2, 10, TrainConfig().min_lr_ratio)
    for row in _rows(run)[6:]:  # the optimiser follows the new lr, on the new schedule
        assert row["lr/model"] == pytest.approx(1e-4 * factor(row["step"] - 1))
    # a later resume keeps the history and needs no --override for the recorded lr
    proc = cli(*_RUN, "--steps", "12", "--out", run, "--resume", "--set", "train.lr=1e-4")
    assert proc.returncode == 0, proc.stderr
    assert read_checkpoint_config(run)["overrides"] == cfg["overrides"]


def test_another_target_or_model_is_refused_even_with_override(cli, run) -> None:
    for change in (
        ["--data", "two_moons"],
        ["--set", "model.hidden=16"],
    ):
        proc = cli(*_RUN, "--steps", "8", "--out", run, "--resume", "--override", *change)
        assert_one_line_error(proc)
    assert (
        "is a run on 'eight_gaussians'"
        in cli(
            *_RUN, "--steps", "8", "--out", run, "--resume", "--override", "--data", "two_moons"
        ).stderr
    )
    assert read_checkpoint_config(run)["target"] == "eight_gaussians"
    assert_one_line_error(cli(*_RUN, "--steps", "8", "--out", run, "--override"))


def _flow():
    return build_model("flow", (2,), {"transforms": 1, "hidden": 8}, seed=0)


def _config(**kw) -> TrainConfig:
    base = {"steps": 6, "batch_size": 16, "warmup_steps": 2, "checkpoint_every": 2}
    return TrainConfig(**{**base, "progress": False, **kw})


class _Lr(Callback):
    def __init__(self) -> None:
        self.lr: list[float] = []

    def on_step(self, state) -> None:
        self.lr.append(state.lr["model"])


def test_fit_refuses_or_applies_changed_settings(tmp_path) -> None:
    target, out = get_target("eight_gaussians"), tmp_path / "run"
    fit(_flow(), target, _config(), out)
    with pytest.raises(ConfigError, match=r"lr 0\.001 -> 0\.01.*weight_decay 0\.0 -> 0\.1"):
        fit(_flow(), target, _config(steps=8, lr=1e-2, weight_decay=0.1), out, resume=True)
    seen = _Lr()
    state = fit(
        _flow(), target, _config(steps=8, lr=1e-2, weight_decay=0.1, betas=(0.5, 0.9)), out,
        resume=True, override=True, callbacks=[seen],
    )  # fmt: skip
    factor = warmup_cosine(2, 8, TrainConfig().min_lr_ratio)
    assert seen.lr == pytest.approx([1e-2 * factor(6), 1e-2 * factor(7)])
    assert state.step == 8
    changed = read_checkpoint_config(out)["overrides"][0]["changed"]
    assert sorted(changed) == ["betas", "lr", "weight_decay"]


def test_resume_changes_ignores_runtime_keys_and_growing_steps() -> None:
    saved = {"steps": 10, "lr": 1e-3, "progress": True, "log_every": 5, "betas": [0.9, 0.999]}
    assert resume_changes(saved, TrainConfig(steps=20, lr=1e-3, progress=False, log_every=1)) == {}
    assert resume_changes(saved, TrainConfig(steps=5, lr=1e-3)) == {"steps": (10, 5)}
    assert resume_changes(saved, TrainConfig(steps=10, betas=(0.5, 0.9))) == {
        "betas": ([0.9, 0.999], [0.5, 0.9])
    }


def test_the_nan_guards_advice_can_be_followed(cli, tmp_path) -> None:
    class _Poison(Callback):
        def on_step(self, state) -> None:
            if state.step == 5:  # after the step-4 checkpoint
                with torch.no_grad():
                    next(state.model.parameters()).fill_(float("nan"))

    out = tmp_path / "run"
    config = _config(steps=8, lr=1e-3, log_every=1)
    with pytest.raises(TrainingDivergedError, match=r"--resume --override --set train\.lr="):
        fit(_flow(), get_target("eight_gaussians"), config, out, callbacks=[_Poison()])
    assert read_checkpoint_config(out)["step"] == 4
    proc = cli(
        "train", "flow", "--data", "eight_gaussians", "--out", out, "--resume", "--override",
        "--set", "train.lr=1e-4", "--no-progress",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cfg = read_checkpoint_config(out)
    assert cfg["step"] == 8 and cfg["train_config"]["lr"] == 1e-4
