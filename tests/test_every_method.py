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
# Short runs of the built-in density-camp methods (a user's own runs at its defaults).
DENSITY_SHORT: dict[str, dict] = {
    "smc": {"particles": 200, "populations": 2, "moves": 2},
    "ais": {"particles": 200, "temperatures": 20},
    "flow_is": {"particles": 500, "fit": {"steps": 50}},
    "fab": {"particles": 500, "iterations": 3, "batch_size": 32, "buffer_min": 64,
            "temperatures": 3, "transforms": 2, "hidden": 16},
    "dds": {"particles": 256, "train_steps": 20, "time_steps": 8},
    "pis": {"particles": 256, "train_steps": 20, "time_steps": 8},
    "idem": {"particles": 200, "train_steps": 10, "inner_steps": 5, "num_mc": 8,
             "samples_per_round": 64, "sde_steps": 10},
}  # fmt: skip


def test_methods_lists_the_catalogue(cli):
    rows = json.loads(cli("methods", "--json", check=True).stdout)
    assert [(r["name"], r["camp"]) for r in rows] == METHODS
    assert all(r["description"] for r in rows)
    assert {camp for _, camp in METHODS} == {"chain", "map", "diffusion", "hybrid", "density"}


def _short_settings(name: str, camp: str) -> str:
    """A TOML table that keeps one method's run short (its budget is the real limit)."""
    if camp in ("map", "diffusion"):
        return f"[methods.{name}.train]\nsteps = 150\n"
    if camp == "density":
        values = DENSITY_SHORT.get(name, {})
        flat = "".join(f"{k} = {v}\n" for k, v in values.items() if not isinstance(v, dict))
        nested = "".join(
            f"[methods.{name}.{k}]\n" + "".join(f"{a} = {b}\n" for a, b in v.items())
            for k, v in values.items()
            if isinstance(v, dict)
        )
        return f"[methods.{name}]\n{flat}{nested}"
    table = f"[methods.{name}]\nchains = 2\ndraws = 100\nwarmup = 100\n"
    if camp == "hybrid":
        table += f"[methods.{name}.fit]\nsteps = 100\n"
    return table


def _run_density_method(name: str) -> None:
    """A density-camp method (short settings) on eight_gaussians (log Z = 0): finite weighted
    particles, a finite log Z estimate, and target evaluations counted."""
    from genmodels.catalogue import get_method
    from genmodels.targets import get_target
    from genmodels.training.config import config_from_dict

    spec = get_method(name, "density")
    settings = config_from_dict(spec.settings, DENSITY_SHORT.get(name, {}))
    ws = spec.build(get_target("eight_gaussians"), settings, seed=1)
    assert ws.x.shape[1:] == (2,) and torch.isfinite(ws.x).all()
    assert math.isfinite(ws.log_z) and ws.cost.target_evals >= ws.x.shape[0]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "camp"), METHODS, ids=[n for n, _ in METHODS])
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
@pytest.mark.parametrize(("name", "camp"), METHODS, ids=[n for n, _ in METHODS])
def test_method_runs_in_compare(cli, tmp_path, name, camp):
    config = tmp_path / "short.toml"
    config.write_text(_short_settings(name, camp))
    proc = cli("compare", "--target", "eight_gaussians", "--methods", name,
               "--budget-seconds", 30, "--n-samples", 200, "--config", config,
               "--out", tmp_path / "cmp", "--quiet", "--json", check=True)  # fmt: skip
    (row,) = json.loads(proc.stdout)["methods"]
    assert (row["method"], row["camp"], row["status"]) == (name, camp, "ok"), row["reason"]
    assert row["metrics"]["n"] == 200 and row["metrics"]["mmd"] >= 0
