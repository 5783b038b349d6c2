"""A new solver is one function plus its registration: a toy Euler on the PF-ODE, registered
from this module (no edit to src/), runs through ``model.sample`` and ``genmodels sample``."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from cli_contract import assert_one_line_error
from genmodels.catalogue import get_method
from genmodels.diffusion.samplers import report
from genmodels.diffusion.solvers import SOLVERS, register_solver
from genmodels.errors import InvalidInputError

TINY = ["--set", "model.width=16", "--set", "model.depth=1", "--set", "model.timesteps=50",
        "--set", "train.eval_samples=200", "--no-progress"]  # fmt: skip


@pytest.fixture
def toy_euler():
    """Register ``toy_euler`` (the whole of a new solver) for one test, then unregister it."""

    @register_solver("toy_euler", family="ode", default_steps=12, grid="karras")
    def toy_euler(denoiser, x, sigmas, *, generator=None, callback=None):
        """Plain Euler on dx̂/dσ̂ = (x̂ − D)/σ̂."""
        s_in = x.new_ones(x.shape[0])
        for i, (sigma, sigma_next) in enumerate(itertools.pairwise(sigmas.tolist())):
            denoised = denoiser(x, sigma * s_in)
            x = x + (sigma_next - sigma) * (x - denoised) / sigma
            report(callback, i, x, sigma_next, denoised)
        return x

    yield toy_euler
    SOLVERS.remove("toy_euler")
    assert "toy_euler" not in SOLVERS


def build(name: str):
    cls = get_method(name).build
    torch.manual_seed(0)
    return cls(cls.Config(width=16, depth=1), (2,))


@pytest.mark.parametrize("name", ["ddpm", "sde_vp", "flow_matching"])
def test_toy_solver_through_the_library(toy_euler, name) -> None:
    model = build(name)
    assert "toy_euler" in model.samplers
    seen = []
    out = model.sample(50, sampler="toy_euler", steps=8, generator=torch.Generator().manual_seed(0),
                       callback=seen.append)  # fmt: skip
    assert out.x.shape == (50, 2) and torch.isfinite(out.x).all()
    assert out.nfe == 8 and [s["i"] for s in seen] == list(range(8))
    assert seen[-1]["sigma"] == 0.0 and set(seen[0]) == {"i", "x", "sigma", "denoised"}
    # the same step as the built-in Euler, on the same grid and noise
    grid = model.process.grid_for("karras")
    euler = model.sample(50, sampler="euler", steps=8, grid=grid,
                         generator=torch.Generator().manual_seed(0))  # fmt: skip
    torch.testing.assert_close(out.x, euler.x, rtol=1e-4, atol=1e-4)
    assert model.sample(5, sampler="toy_euler").nfe == 12  # the spec's default steps
    with pytest.raises(InvalidInputError, match="does not take option"):
        model.sample(5, sampler="toy_euler", eta=1.0)  # caught before the solver runs


def test_toy_solver_through_the_cli(toy_euler, cli, tmp_path) -> None:
    run = tmp_path / "run"
    cli("train", "ddpm", "--data", "eight_gaussians", "--steps", "20", "--out", run, *TINY,
        check=True)  # fmt: skip
    proc = cli("sample", run, "--sampler", "toy_euler", "--n", "50", "--out", tmp_path / "x.npz",
               "--animate", tmp_path / "x.gif", "--json", check=True)  # fmt: skip
    assert json.loads(proc.stdout)["nfe"] == 12
    with np.load(tmp_path / "x.npz") as data:
        assert data["x"].shape == (50, 2) and np.isfinite(data["x"]).all()
    assert (tmp_path / "x.gif").stat().st_size > 0
    # a registered solver of a family ddpm does not offer, and an unknown name: one line each
    for sampler in ("pc", "toy_eular"):
        out = tmp_path / f"{sampler}.npz"
        proc = cli("sample", run, "--sampler", sampler, "--n", "5", "--out", out)
        assert_one_line_error(proc)
        assert not out.exists()
    assert "toy_euler" in proc.stderr  # did-you-mean


def test_annealed_langevin_is_ncsns_solver_in_the_cli(cli, tmp_path) -> None:
    run = tmp_path / "ncsn"
    cli("train", "ncsn", "--data", "eight_gaussians", "--steps", "5", "--out", run,
        "--set", "model.width=16", "--set", "model.depth=1", "--set", "train.eval_samples=200",
        "--no-progress", check=True)  # fmt: skip
    proc = cli("sample", run, "--sampler", "annealed_langevin", "--steps", "3", "--n", "20",
               "--out", tmp_path / "x.npz", "--json", check=True)  # fmt: skip
    steps_per_level = json.loads((run / "config.json").read_text())["model_config"][
        "steps_per_level"
    ]  # T: the toy kind's value, which train starts from
    assert json.loads(proc.stdout)["nfe"] == 3 * steps_per_level + 1  # L·T + the final step
    assert get_method("ncsn").build.default_sampler == "annealed_langevin"


@pytest.mark.slow
def test_toy_solver_through_compare(toy_euler, cli, tmp_path) -> None:
    """``[methods.ddpm.sample] sampler = "toy_euler"`` in a comparison: the row samples with it."""
    config = tmp_path / "c.toml"
    config.write_text(
        "[methods.ddpm.train]\nsteps = 100\n[methods.ddpm.model]\nwidth = 16\ndepth = 1\n"
        '[methods.ddpm.sample]\nsampler = "toy_euler"\n'
    )
    proc = cli("compare", "--target", "eight_gaussians", "--methods", "ddpm", "--config", config,
               "--budget-seconds", 30, "--n-samples", 200, "--out", tmp_path / "cmp", "--quiet",
               "--json", check=True)  # fmt: skip
    (row,) = json.loads(proc.stdout)["methods"]
    assert row["status"] == "ok", row["reason"]
    assert row["settings"]["sample"] == {"sampler": "toy_euler"}
    assert row["cost"]["nfe_per_sample"] == 12  # the toy spec's default steps, one NFE each
