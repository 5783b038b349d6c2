"""`genmodels train ... --set model.num_classes=K` and `genmodels sample --label --guidance`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cli_contract import assert_one_line_error
from genmodels.targets import get_target
from genmodels.training import TrainConfig, fit
from genmodels.training.setup import build_model

TINY = ["--set", "model.width=16", "--set", "model.depth=1", "--set", "model.timesteps=50",
        "--set", "train.eval_samples=200"]  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A class-conditional and an unconditional DDPM on eight_gaussians (labels: its modes),
    trained for 2 steps by the library (the CLI's training is tested below)."""
    root = tmp_path_factory.mktemp("guidance-runs")
    config = TrainConfig(steps=2, batch_size=16, progress=False, device="cpu")
    for name, k in (("cond", 8), ("plain", 0)):
        model = build_model("ddpm", (2,), {"width": 16, "depth": 1, "num_classes": k}, seed=0)
        fit(model, get_target("eight_gaussians"), config, root / name)
    return root


def test_train_and_sample_with_a_label_and_guidance(cli, tmp_path) -> None:
    out = tmp_path / "cond"
    cli("train", "ddpm", "--data", "eight_gaussians", "--steps", "3", "--no-progress", *TINY,
        "--set", "model.num_classes=8", "--out", out, check=True)  # fmt: skip
    assert json.loads((out / "config.json").read_text())["model_config"]["num_classes"] == 8
    proc = cli("sample", out, "--n", "40", "--steps", "4", "--label", "3", "--guidance", "2",
               "--out", tmp_path / "x.npz", "--json", check=True)  # fmt: skip
    summary = json.loads(proc.stdout)
    assert summary["label"] == 3 and summary["guidance"] == 2.0
    assert summary["nfe"] == 2 * 4  # conditional and ∅ halves of every step
    with np.load(tmp_path / "x.npz") as data:
        assert data["x"].shape == (40, 2) and np.isfinite(data["x"]).all()
        assert int(data["info_label"]) == 3 and float(data["info_guidance"]) == 2.0
    cli("sample", out, "--n", "5", "--steps", "2", "--out", tmp_path / "u.npz", check=True)


@pytest.mark.parametrize(
    "args",
    [
        ["cond", "--label", "8"],  # eight classes: 0..7
        ["cond", "--label", "-1"],
        ["cond", "--guidance", "1"],  # no label
        ["cond", "--label", "1", "--guidance", "-1"],
        ["cond", "--label", "1", "--guidance", "nan"],
        ["cond", "--label", "one"],
        ["plain", "--label", "1"],  # trained without classes
    ],
)
def test_bad_label_or_guidance_is_one_line_exit_2(cli, runs, tmp_path, args) -> None:
    run, *flags = args
    out = tmp_path / "x.npz"
    proc = cli("sample", runs / run, *flags, "--n", "4", "--steps", "2", "--out", out)
    assert_one_line_error(proc)
    assert not out.exists()


def test_train_conditional_on_unlabelled_data_is_one_line_exit_2(cli, tmp_path) -> None:
    for data in ("swiss_roll", "eight_gaussians"):  # no labels; 8 classes > num_classes
        proc = cli("train", "ddpm", "--data", data, "--steps", "1", "--out", tmp_path / data,
                   "--set", "model.num_classes=2", *TINY)  # fmt: skip
        assert_one_line_error(proc)
