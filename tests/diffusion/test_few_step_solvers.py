"""The few-step solvers (UniPC, DPM-Solver++(3M), iPNDM, Euler ancestral, DPM-Solver++(2M) SDE)
on the exact denoiser of a Gaussian mixture: at their registered default steps and grid each
reaches the data (mmd to exact draws within a few × its floor, mode weights right), with one
NFE per step, through the free function and through a model's driver. (Their steps are
checked against diffusers' in test_diffusion_vs_diffusers.py.)
"""

from __future__ import annotations

import math

import pytest
import torch
from analytic import Mixture, mmd

from genmodels.diffusion.samplers import NFECounter
from genmodels.diffusion.schedules import DiscreteSchedule
from genmodels.diffusion.solvers import get_solver

N = 1000
DATA = Mixture([[-2.0, 0.0], [2.0, 1.0]], [0.4, 0.6], [0.7, 0.3])
SCHEDULE = DiscreteSchedule.linear()
NEW = ["unipc", "dpmpp_3m", "ipndm", "euler_ancestral", "dpmpp_2m_sde"]


def denoiser(x_hat, sigma_hat):
    return x_hat - sigma_hat[:, None] * DATA.eps(x_hat, torch.ones_like(sigma_hat), sigma_hat)


@pytest.fixture(scope="module")
def exact():
    g = torch.Generator().manual_seed(123)
    ref = DATA.sample(N, g)
    return ref, mmd(ref, DATA.sample(N, g))


def run(name, steps=None, grid=None, seed=0, **options):
    """``name`` on the linear-β DDPM's σ̂ grid (its spec's default steps and grid unless
    given), from x̂ at the grid's first level; returns (x̂₀, NFE)."""
    spec = get_solver(name)
    steps = steps or spec.steps_for(SCHEDULE)
    sigmas = spec.sigmas_on(SCHEDULE, steps, grid)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, 2, generator=g) * SCHEDULE.start_std_hat(float(sigmas[0]))
    counted = NFECounter(denoiser)
    return spec.fn(counted, x, sigmas, generator=g, **{**spec.options, **options}), counted.nfe


def quality(x, exact):
    ref, floor = exact
    assert torch.isfinite(x).all()
    return mmd(x, ref) / floor, (DATA.assign(x) == 0).float().mean().item()


@pytest.mark.parametrize("name", NEW)
def test_default_steps_reach_the_data_with_one_nfe_per_step(name, exact):
    spec = get_solver(name)
    assert spec.family == "ode" and spec.steps_for(SCHEDULE) <= 100
    x, nfe = run(name)
    assert nfe == spec.steps_for(SCHEDULE)
    ratio, share = quality(x, exact)
    assert ratio < 3, ratio  # a 10%-too-wide sample is ≈ 20× the floor here
    assert abs(share - 0.7) < 0.04, share


def test_the_check_fails_a_wrong_sampler(exact):
    """The statistic above sees a 10% error of scale and a sampler that skips its noise."""
    bad = DATA.sample(N, torch.Generator().manual_seed(5)) * 1.1
    assert quality(bad, exact)[0] > 3
    x, _ = run("euler_ancestral", eta=0.0, steps=5, grid="karras")  # = 5-step Euler: too coarse
    assert quality(x, exact)[0] > 3


@pytest.mark.parametrize("options", [{"order": 3}, {"variant": "bh1"}, {"corrector": False}])
def test_unipc_variants(options, exact):
    x, nfe = run("unipc", **options)
    assert nfe == 10 and quality(x, exact)[0] < 4


def test_stochastic_solvers_use_the_generator():
    a, _ = run("dpmpp_2m_sde", seed=1)
    b, _ = run("dpmpp_2m_sde", seed=1)
    c, _ = run("euler_ancestral", seed=1)
    torch.testing.assert_close(a, b)
    d, _ = run("euler_ancestral", seed=1, eta=0.0)
    assert not torch.allclose(c, d)


@pytest.mark.parametrize("name", NEW)
def test_through_a_model_with_guidance_and_callback(name):
    """Each solver runs on a DDPM through ``model.sample``: callback per step, NFE counted,
    classifier-free guidance doubling it."""
    from genmodels.catalogue import get_method

    cls = get_method("ddpm").build
    torch.manual_seed(0)
    model = cls(cls.Config(width=16, depth=1, num_classes=2), (2,))
    seen = []
    out = model.sample(20, sampler=name, steps=6, generator=torch.Generator().manual_seed(0),
                       callback=seen.append, labels=1, guidance=2.0)  # fmt: skip
    assert out.x.shape == (20, 2) and torch.isfinite(out.x).all()
    assert out.nfe == 2 * 6 and [s["i"] for s in seen] == list(range(6))
    assert seen[-1]["sigma"] == 0.0 and math.isfinite(float(seen[0]["x"].abs().max()))
