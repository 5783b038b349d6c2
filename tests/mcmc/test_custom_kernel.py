"""A new chain kernel is one class plus its registration: defined here, with no edit to src/,
it runs through `sample_chains`, `window_adaptation` and ``genmodels mcmc --sampler``."""

from __future__ import annotations

import doctest
import importlib
import json
import math

import pytest
import torch

from cli_contract import assert_one_line_error
from genmodels.catalogue import list_methods, register_method, unregister_method
from genmodels.mcmc import (
    ChainSettings,
    ChainState,
    Info,
    LogDensity,
    sample_chains,
    window_adaptation,
)


class ToyBarker:
    """Barker's proposal (Livingstone & Zanella 2022) on a diagonal preconditioner, written
    against the documented contract only: no base class, no genmodels helper."""

    target_accept = 0.4

    def __init__(self, density, step_size, inverse_mass=None, *, flip_floor: float = 0.0):
        self.density, self.step_size, self.inverse_mass = density, step_size, inverse_mass
        self.flip_floor = flip_floor  # a kernel option, to see kernel_options pass through

    def init(self, position: torch.Tensor) -> ChainState:
        lp, grad = self.density.value_and_grad(position)
        return ChainState(position, lp, grad)

    def _scale(self, x: torch.Tensor) -> torch.Tensor:
        eps = torch.as_tensor(self.step_size, dtype=x.dtype, device=x.device).reshape(-1, 1)
        inv = torch.ones_like(x) if self.inverse_mass is None else self.inverse_mass.to(x)
        return eps * inv.sqrt()  # [chains, d]

    def step(self, state: ChainState, generator: torch.Generator) -> tuple[ChainState, Info]:
        x, grad = state.position, state.grad  # [chains, d]
        scale = self._scale(x)
        z = scale * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        flip = u < torch.sigmoid(z * grad).clamp(min=self.flip_floor)
        x_new = x + torch.where(flip, z, -z)
        lp_new, grad_new = self.density.value_and_grad(x_new)
        d = x_new - x
        # π(x') Q(x', x) / (π(x) Q(x, x')), Q(x, x') ∝ φ(x' - x) σ((x' - x) ∇ log π(x))
        log_q_back = torch.nn.functional.logsigmoid(-d * grad_new).sum(-1)
        log_q_forth = torch.nn.functional.logsigmoid(d * grad).sum(-1)
        log_ratio = lp_new - state.log_prob + log_q_back - log_q_forth
        log_ratio = torch.nan_to_num(log_ratio, nan=-math.inf)
        accept_prob = log_ratio.clamp(max=0.0).exp()
        accepted = torch.rand(x.shape[0], generator=generator, device=x.device) < accept_prob
        keep = accepted[:, None]
        new = ChainState(
            torch.where(keep, x_new, x),
            torch.where(accepted, lp_new, state.log_prob),
            torch.where(keep, grad_new, grad),
        )
        zeros = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        return new, Info(accept_prob, accepted, torch.zeros_like(accepted), zeros + 1, zeros)


SCALES = torch.tensor([0.5, 2.0])


def log_prob(x: torch.Tensor) -> torch.Tensor:
    return -0.5 * ((x / SCALES) ** 2).sum(-1)


@pytest.fixture
def toy_kernel():
    register_method(
        "my_toy", camp="chain", settings=ChainSettings, description="Barker proposal (a test)"
    )(ToyBarker)
    yield ToyBarker
    unregister_method("my_toy")


def test_custom_kernel_runs_through_the_library(toy_kernel) -> None:
    s = sample_chains(
        log_prob,
        "my_toy",
        event_shape=(2,),
        chains=8,
        draws=800,
        warmup=400,
        seed=3,
        progress=False,
        kernel_options={"flip_floor": 0.0},
    )
    assert s.x.shape == (8, 800, 2)
    # tuned towards its own target acceptance (0.4), with the target's diagonal mass matrix
    assert 0.2 < s.info["accept_rate"] < 0.6, s.info["accept_rate"]
    ratio = s.inverse_mass / SCALES**2
    assert ratio.min() > 0.3 and ratio.max() < 3.0, ratio
    # moments of N(0, diag(0.25, 4)) within a few Monte Carlo errors
    x = s.x.reshape(-1, 2)
    torch.testing.assert_close(x.mean(0), torch.zeros(2), atol=0.35, rtol=0)
    torch.testing.assert_close(x.std(0), SCALES, atol=0.0, rtol=0.2)
    assert s.nfe == int(s.info["grad_evals_warmup"] + s.info["grad_evals_sampling"])


def test_window_adaptation_returns_a_tuned_kernel_of_the_same_class(toy_kernel, generator):
    density = LogDensity(log_prob, (2,))
    kernel, state, info = window_adaptation(
        toy_kernel, density, torch.zeros(4, 2), num_steps=150, generator=generator
    )
    assert isinstance(kernel, ToyBarker)
    assert kernel.step_size is info.step_size and info.step_size.shape == (4,)
    assert info.inverse_mass.shape == (4, 2) and info.num_grad_evals >= 4 * 150
    state, step_info = kernel.step(state, generator)
    assert state.position.shape == (4, 2) and step_info.accept_prob.shape == (4,)


def test_custom_kernel_runs_through_the_cli(toy_kernel, cli, tmp_path) -> None:
    out = tmp_path / "toy"
    proc = cli(
        "mcmc",
        "--target",
        "banana",
        "--sampler",
        "my_toy",
        "--chains",
        "2",
        "--draws",
        "50",
        "--warmup",
        "50",
        "--out",
        out,
        "--json",
        "--no-plots",
        check=True,
    )
    summary = json.loads(proc.stdout)
    assert summary["sampler"] == "my_toy" and summary["draws"] == 50
    assert json.loads((out / "summary.json").read_text())["grad_evals"] == summary["grad_evals"]


def test_custom_kernel_runs_through_compare(toy_kernel, cli, tmp_path) -> None:
    """A kernel registered from this module is a row of ``genmodels compare`` like nuts."""
    config = tmp_path / "c.toml"
    config.write_text("[methods.my_toy]\nchains = 4\ndraws = 1500\nwarmup = 500\n")
    proc = cli("compare", "--target", "banana", "--methods", "my_toy,mala", "--config", config,
               "--budget-seconds", 30, "--n-samples", 500, "--out", tmp_path / "cmp", "--quiet",
               "--json", check=True)  # fmt: skip
    rows = {row["method"]: row for row in json.loads(proc.stdout)["methods"]}
    toy = rows["my_toy"]
    assert (toy["camp"], toy["status"]) == ("chain", "ok"), toy["reason"]
    assert toy["settings"] == {"chains": 4, "draws": 1500, "warmup": 500, "kernel_options": {}}
    assert toy["chain"]["max_r_hat"] < 1.1 and toy["chain"]["min_ess_bulk"] > 20
    assert rows["mala"]["status"] == "ok"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # R-hat of 5 draws may divide by 0
def test_mcmc_sampler_accepts_exactly_the_chain_camp(cli, tmp_path) -> None:
    chains = [spec.name for spec in list_methods("chain")]
    assert {"rwmh", "mala", "ula", "hmc", "nuts"} <= set(chains)
    for name in chains:
        cli(
            "mcmc",
            "--target",
            "banana",
            "--sampler",
            name,
            "--chains",
            "2",
            "--draws",
            "5",
            "--warmup",
            "0",
            "--out",
            tmp_path / name,
            "--json",
            "--no-plots",
            check=True,
        )
    others = [spec.name for spec in list_methods(("map", "diffusion"))]
    assert others
    for name in others:
        proc = cli("mcmc", "--target", "banana", "--sampler", name, "--out", tmp_path / "x")
        assert_one_line_error(proc)
        assert "not a sampler" in proc.stderr
        assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "module", ["", ".base", ".warmup", ".driver", ".start", ".adaptation", ".hmc", ".nuts",
               ".mala", ".rwmh"],
)  # fmt: skip
def test_the_documented_examples_run(module: str, device) -> None:
    """The docstring examples of the chains are true; among them the kernel contract's (a
    kernel registered and run by `sample_chains`) and `window_adaptation`'s."""
    if device.type != "cpu":
        pytest.skip("the docstring examples are written for the CPU")
    mod = importlib.import_module("genmodels.mcmc" + module)
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
