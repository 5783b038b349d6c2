"""`genmodels train`, `sample` and `likelihood` end to end, and their one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cli_contract import assert_one_line_error
from genmodels.errors import InvalidInputError
from genmodels.models.gan import GAN, GANConfig


def test_train_sample_likelihood_resume(cli, tmp_path, monkeypatch) -> None:
    toml = tmp_path / "flow.toml"
    toml.write_text('[model]\nkind = "maf"\nhidden = 32\n[train]\nbatch_size = 64\n')
    out = tmp_path / "run"
    args = ["train", "flow", "--data", "eight_gaussians", "--out", out, "--config", toml]
    flags = ["--set", "transforms=2", "--set", "model.hidden=16", "--set", "train.log_every=5"]
    proc = cli(*args, "--steps", "20", *flags, "--no-progress", "--json", check=True)
    assert json.loads(proc.stdout)["steps"] == 20
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_config"]["kind"] == "maf"  # from the TOML
    assert cfg["model_config"]["hidden"] == 16  # flag beats TOML
    assert cfg["train_config"]["batch_size"] == 64
    assert (out / "model.safetensors").is_file() and (out / "samples.png").is_file()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 4

    proc = cli(*args, "--steps", "30", *flags, "--resume", "--no-progress", check=True)
    assert json.loads((out / "config.json").read_text())["step"] == 30

    gif = tmp_path / "flow.gif"
    cli("sample", out, "--n", "300", "--out", tmp_path / "s.npz", "--animate", gif, check=True)
    with np.load(tmp_path / "s.npz") as data:
        assert data["x"].shape == (300, 2) and np.isfinite(data["x"]).all()
    assert gif.stat().st_size > 1000

    proc = cli("likelihood", out, "--data", "eight_gaussians", "--n", "500", "--json")
    result = json.loads(proc.stdout)
    assert result["kind"] == "exact" and result["n"] == 500
    assert result["bits_per_dim"] == pytest.approx(result["nll_nats"] / (2 * np.log(2)))

    assert_one_line_error(cli("train", "flow", "--data", "eight_gaussians", "--out", out))
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(cli("sample", out, "--n", "5", "--out", "x.npz", "--sampler", "ddim"))
    assert_one_line_error(cli("train", "flw", "--data", "eight_gaussians", "--out", "r"))
    assert_one_line_error(cli("likelihood", out, "--data", "digits"))  # wrong shape


def test_digits_flow_writes_an_image_grid_and_bits_per_dim(cli, tmp_path) -> None:
    out = tmp_path / "digits"
    proc = cli(
        "train", "flow", "--data", "digits", "--out", out, "--steps", "3",
        "--set", "transforms=2", "--set", "hidden=32", "--no-progress", check=True,
    )  # fmt: skip
    assert (out / "samples.png").stat().st_size > 200
    # an image run says what it will cost before it trains, in one line
    (line,) = [ln for ln in proc.stderr.splitlines() if "s/step" in ln]
    assert line.startswith("genmodels: flow: 3 steps × ") and "--steps N to change" in line
    result = json.loads(cli("likelihood", out, "--data", "digits", "--json", check=True).stdout)
    assert result["dequantized"] and result["dim"] == 64
    assert 0 < result["bits_per_dim"] < 20


@pytest.mark.parametrize(
    "bad",
    [
        ["--set", "model.bogus=1"],
        ["--set", "lr"],
        ["--set", "train.steps=many"],
        ["--set", "kind=nope"],
        ["--config", "missing.toml"],
    ],
)
def test_bad_config_is_one_line_exit_2(cli, bad, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    proc = cli("train", "flow", "--data", "eight_gaussians", "--out", "r", *bad)
    assert_one_line_error(proc)


def test_bad_run_dir_is_one_line_exit_2(run_cli, tmp_path) -> None:
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "config.json").write_text("{}")
    assert_one_line_error(run_cli("sample", tmp_path / "junk", "--out", "x.npz"))  # real entry


def test_one_pass_maps_refuse_to_animate() -> None:
    gan = GAN(GANConfig(hidden=8, depth=1), (2,))
    with pytest.raises(InvalidInputError, match="no trajectory"):
        gan.sample(3, generator=torch.Generator(), callback=lambda i, x: None)
