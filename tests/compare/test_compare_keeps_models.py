"""`compare` keeps each learned model in ``DIR/METHOD/``, a run directory `sample` reads."""

from __future__ import annotations

import json

import numpy as np

from genmodels.compare import CompareSettings, run_comparison
from genmodels.compare.run import method_seed
from genmodels.training import load_model


def _compare(out, steps: int) -> None:
    settings = CompareSettings(
        n_samples=100,
        budget_seconds=None,
        methods={"flow": {"train": {"steps": steps, "batch_size": 64, "checkpoint_every": 5}}},
    )
    run_comparison(
        "eight_gaussians", ["flow"], out, settings, progress=False, report=False,
        evaluate=lambda x, target: {},
    )  # fmt: skip


def test_sample_draws_from_the_model_compare_trained(tmp_path, cli):
    out = tmp_path / "cmp"
    _compare(out, steps=8)
    run = out / "flow"
    cfg = json.loads((run / "config.json").read_text())
    assert (cfg["method"], cfg["step"], cfg["target"]) == ("flow", 8, "eight_gaussians")
    assert (run / "model.safetensors").is_file() and (run / "metrics.jsonl").is_file()
    # the weights on disk are the ones compare sampled: at compare's sampling seed, `sample`
    # draws exactly compare's samples
    model, _ = load_model(run)
    seed = method_seed(0, "flow") + 1
    x = cli("sample", run, "--n", 100, "--out", tmp_path / "x.npz", "--seed", seed, check=True)
    assert "wrote 100 samples" in x.stdout
    drawn = np.load(tmp_path / "x.npz")["x"]
    np.testing.assert_allclose(drawn, np.load(run / "samples.npz")["x"], atol=1e-5)
    # a second comparison into the same directory replaces the model (no "already holds a
    # checkpoint"), and the directory holds one checkpoint set again
    _compare(out, steps=12)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["step"] == 12
    assert len(list((run / "checkpoints").iterdir())) == 1
    assert model.config == load_model(run)[0].config
