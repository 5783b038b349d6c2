"""Kind defaults: `genmodels train` with no flags trains what `compare` trains."""

from __future__ import annotations

import json

import pytest

from genmodels.catalogue import get_method, list_methods
from genmodels.compare.settings import method_settings
from genmodels.targets import get_target
from genmodels.training.config import config_to_dict
from genmodels.training.defaults import (
    KIND_FALLBACKS,
    expected_duration_line,
    kind_defaults,
)

LEARNED = [spec.name for spec in list_methods(("map", "diffusion"))]


@pytest.mark.parametrize("method", LEARNED)
def test_train_with_no_flags_uses_the_settings_compare_uses(cli, tmp_path, method):
    out = tmp_path / method
    # --steps 0 writes the run's config.json without training
    cli("train", method, "--data", "eight_gaussians", "--out", out, "--steps", 0,
        "--no-progress", check=True)  # fmt: skip
    cfg = json.loads((out / "config.json").read_text())
    compared = method_settings(get_method(method), get_target("eight_gaussians"))
    assert cfg["model_config"] == config_to_dict(compared.model)
    ignore = {"steps", "progress"}  # given on the command line above
    train = {k: v for k, v in cfg["train_config"].items() if k not in ignore}
    assert train == {k: v for k, v in config_to_dict(compared.train).items() if k not in ignore}


def test_the_toy_defaults_are_the_tuned_ones_and_vector_data_falls_back_to_them():
    ddpm = kind_defaults("ddpm", "toy2d")
    assert ddpm["train"]["steps"] > 5000 and ddpm["train"]["lr"] > 1e-3
    assert kind_defaults("ddpm", "image")["train"]["batch_size"] == 128
    assert KIND_FALLBACKS["vector"] == "toy2d"
    assert kind_defaults("ddpm", "vector") == ddpm
    assert kind_defaults("ddpm", "posterior") == {}  # a kind with none: the Config's own
    ddpm["train"]["steps"] = 1  # a copy: the model's table is untouched
    assert kind_defaults("ddpm", "toy2d")["train"]["steps"] > 5000
    # every learned model has toy and image values
    for method in LEARNED:
        assert kind_defaults(method, "toy2d")["train"]["steps"] >= 1000
        assert "steps" in kind_defaults(method, "image")["train"]


def test_the_duration_line():
    line = expected_duration_line("ddpm", 3000, 0.5)
    assert line == (
        "ddpm: 3000 steps × 0.5 s/step (measured here) ≈ 25 min of training; --steps N to change"
    )
    assert "≈ 2.1 h" in expected_duration_line("ddpm", 30000, 0.25)


def test_vector_models_train_on_one_thread_unless_the_user_chose(monkeypatch):
    import torch

    from genmodels.training.defaults import cpu_threads, limited_threads

    assert cpu_threads("toy2d") == cpu_threads("vector") == 1 and cpu_threads("image") is None
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        with limited_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2  # restored
        monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user's choice stands
        with limited_threads(1):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
