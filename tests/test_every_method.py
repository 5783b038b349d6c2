"""Every method `genmodels methods` lists runs in its camp's command and in `compare`.

The list is read from the CLI itself, so a method registered in the catalogue is tested here
with no edit to this file.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from genmodels.catalogue import list_methods

METHODS = [(spec.name, spec.camp) for spec in list_methods()]
# The density camp (issue 16) runs from Python (tests/density) until `compare` gets its runner.
RUNNABLE = [(name, camp) for name, camp in METHODS if camp != "density"]


def test_methods_lists_the_catalogue(cli):
    rows = json.loads(cli("methods", "--json", check=True).stdout)
    assert [(r["name"], r["camp"]) for r in rows] == METHODS
    assert all(r["description"] for r in rows)
    assert {camp for _, camp in METHODS} == {"chain", "map", "diffusion", "hybrid", "density"}


def _short_settings(name: str, camp: str) -> str:
    """A TOML table that keeps one method's run short (its budget is the real limit)."""
    if camp in ("map", "diffusion"):
        return f"[methods.{name}.train]\nsteps = 150\n"
    table = f"[methods.{name}]\nchains = 2\ndraws = 100\nwarmup = 100\n"
    if camp == "hybrid":
        table += f"[methods.{name}.fit]\nsteps = 100\n"
    return table


def _run_density_method(name: str) -> None:
    """A density-camp method at its default settings on eight_gaussians (log Z = 0): finite
    weighted particles, a finite log Z estimate, and target evaluations counted."""
    from genmodels.catalogue import get_method
    from genmodels.targets import get_target

    spec = get_method(name, "density")
    ws = spec.build(get_target("eight_gaussians"), spec.settings(), seed=1)
    assert ws.x.shape[1:] == (2,) and torch.isfinite(ws.x).all()
    assert math.isfinite(ws.log_z) and ws.cost.target_evals >= ws.x.shape[0]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "camp"), RUNNABLE, ids=[n for n, _ in RUNNABLE])
def test_method_runs_in_its_command(cli, tmp_path, name, camp):
    if camp == "density":  # no command of its own: its run function, from the catalogue
        _run_density_method(name)
        return
    if camp in ("chain", "hybrid"):  # chains, and the hybrids (a flow fit, then chains)
        out = tmp_path / "mcmc"
        cli("mcmc", "--target", "eight_gaussians", "--sampler", name, "--chains", 2,
            "--draws", 60, "--warmup", 60, "--out", out, "--seed", 1, check=True)  # fmt: skip
        summary = json.loads((out / "summary.json").read_text())
        assert summary["sampler"] == name and summary["draws"] == 60
        return
    run = tmp_path / "run"
    cli("train", name, "--data", "eight_gaussians", "--steps", 20, "--out", run,
        "--set", "train.eval_samples=200", "--no-progress", check=True)  # fmt: skip
    steps = ["--steps", 20] if camp == "diffusion" else []  # the solver's steps
    cli("sample", run, "--n", 50, *steps, "--out", tmp_path / "x.npz", check=True)
    x = np.load(tmp_path / "x.npz")["x"]
    assert x.shape == (50, 2) and np.isfinite(x).all()


@pytest.mark.slow
@pytest.mark.parametrize(("name", "camp"), RUNNABLE, ids=[n for n, _ in RUNNABLE])
def test_method_runs_in_compare(cli, tmp_path, name, camp):
    if camp == "density":
        pytest.skip("compare has no runner for the density camp yet (issue 16, item 5)")
    config = tmp_path / "short.toml"
    config.write_text(_short_settings(name, camp))
    proc = cli("compare", "--target", "eight_gaussians", "--methods", name,
               "--budget-seconds", 30, "--n-samples", 200, "--config", config,
               "--out", tmp_path / "cmp", "--quiet", "--json", check=True)  # fmt: skip
    (row,) = json.loads(proc.stdout)["methods"]
    assert (row["method"], row["camp"], row["status"]) == (name, camp, "ok"), row["reason"]
    assert row["metrics"]["n"] == 200 and row["metrics"]["mmd"] >= 0
