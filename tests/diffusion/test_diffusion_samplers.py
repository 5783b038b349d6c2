"""Samplers driven by the exact ε-network of a Gaussian mixture: every view reaches the data.

One closed-form ε*(x_t) (`analytic.Mixture`) is used as a DDPM ε-network, as a score −ε/σ for
annealed Langevin and the reverse SDE, and as a denoiser for the PF-ODE solvers — the
equivalence of Song et al. 2021 checked sampler by sampler against exact draws.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from analytic import Mixture, mmd

from genmodels.diffusion.samplers import (
    NFECounter,
    annealed_langevin,
    sample_ddim,
    sample_ddpm,
    sample_dopri5,
    sample_dpmpp_2m,
    sample_euler,
    sample_euler_maruyama,
    sample_heun,
    sample_pc,
)
from genmodels.diffusion.schedules import DiscreteSchedule, karras_sigmas
from genmodels.diffusion.sde import VESDE, VPSDE

N = 1000
DATA = Mixture([[-2.0, 0.0], [2.0, 1.0]], [0.4, 0.6], [0.7, 0.3])
SCHEDULE = DiscreteSchedule.linear()
VP = VPSDE()


def ddpm_eps(x, t):
    alpha, sigma = (c.to(x) for c in SCHEDULE.alpha_sigma(t.long()))
    return DATA.eps(x, alpha, sigma)


def denoiser(x_hat, sigma_hat):  # EDM coordinates: α = 1, σ = σ̂
    return x_hat - sigma_hat[:, None] * DATA.eps(x_hat, torch.ones_like(sigma_hat), sigma_hat)


def score_hat(x_hat, sigma_hat):  # the ε-network as a score: −ε/σ
    return -DATA.eps(x_hat, torch.ones_like(sigma_hat), sigma_hat) / sigma_hat[:, None]


def vp_score(x, t):
    alpha, sigma = VP.marginal(t)
    return -DATA.eps(x, alpha, sigma) / sigma[:, None]


@pytest.fixture(scope="module")
def exact():
    g = torch.Generator().manual_seed(123)
    ref = DATA.sample(N, g)
    return ref, mmd(ref, DATA.sample(N, g))


def check(x, exact, weight_tol=0.04):
    """mmd to exact draws below max(3 × floor, 0.02) (10% too wide gives ≈ 0.06), and the
    0.7/0.3 mode weights within ``weight_tol`` (Langevin-type samplers get them only roughly)."""
    ref, floor = exact
    assert torch.isfinite(x).all()
    assert mmd(x, ref) < max(3 * floor, 0.02), (mmd(x, ref), floor)
    share = (DATA.assign(x) == 0).float().mean().item()
    assert abs(share - 0.7) < weight_tol, share


def test_exact_mmd_distinguishes_a_wrong_sampler(exact):
    bad = DATA.sample(N, torch.Generator().manual_seed(5)) * 1.15  # 15% too wide
    with pytest.raises(AssertionError):
        check(bad, exact)


def test_ddpm_ancestral_and_ddim(generator, exact):
    x_T = torch.randn(N, 2, generator=generator)
    eps = NFECounter(ddpm_eps)
    check(sample_ddpm(eps, x_T, SCHEDULE, SCHEDULE.timesteps(500), generator=generator), exact)
    assert eps.nfe == 500
    check(sample_ddim(ddpm_eps, x_T, SCHEDULE, SCHEDULE.timesteps(50)), exact)
    check(
        sample_ddim(ddpm_eps, x_T, SCHEDULE, SCHEDULE.timesteps(100), eta=1.0, generator=generator),
        exact,
    )


@pytest.mark.parametrize(
    ("solver", "steps", "nfe"),
    [
        (sample_euler, 100, 100),
        (sample_heun, 20, 39),
        (sample_dpmpp_2m, 20, 20),
        (sample_dopri5, 2, None),
    ],
)
def test_pf_ode_solvers(solver, steps, nfe, generator, exact):
    sigmas = karras_sigmas(steps, 0.01, 80.0)
    x = 80.0 * torch.randn(N, 2, generator=generator)
    counted = NFECounter(denoiser)
    check(solver(counted, x, sigmas), exact)
    if nfe is not None:
        assert counted.nfe == nfe


def test_annealed_langevin_with_the_eps_network_as_score(generator, exact):
    sigmas = torch.logspace(math.log10(8.0), -2, 10)
    x_init = 8.0 * torch.randn(N, 2, generator=generator)
    out = annealed_langevin(
        score_hat, x_init, sigmas, steps_per_level=100, step_lr=5e-5, generator=generator
    )
    assert out.nfe == 1001
    check(out.x, exact, weight_tol=0.05)


def test_reverse_sde_with_the_eps_network_as_score(generator, exact):
    ts = torch.linspace(1.0, 1e-3, 200)
    x_T = torch.randn(N, 2, generator=generator)
    check(sample_euler_maruyama(vp_score, VP, x_T, ts, generator=generator), exact)
    check(sample_pc(vp_score, VP, x_T, ts, generator=generator), exact, weight_tol=0.05)
    # corrector-only on the VE SDE (annealed Langevin along its levels)
    ve = VESDE(0.01, 8.0)
    ve_score = lambda x, t: score_hat(x, ve.sigma(t))  # noqa: E731
    ts = torch.linspace(1, 1e-5, 50)
    x = sample_pc(
        ve_score, ve, 8.0 * x_T, ts, predictor=None, corrector_steps=10, generator=generator
    )
    check(x, exact, weight_tol=0.1)  # Langevin alone mixes weights slowly (Song & Ermon §3.2)


def test_samplers_recover_gaussian_moments_at_fixed_seed(generator):
    """Unimodal data: mean and covariance from 4000 draws within Monte-Carlo tolerance."""
    gauss = Mixture([[1.0, -1.0]], [0.5], [1.0])
    den = lambda x, s: x - s[:, None] * gauss.eps(x, torch.ones_like(s), s)  # noqa: E731
    x = sample_heun(
        den, 80.0 * torch.randn(4000, 2, generator=generator), karras_sigmas(30, 0.01, 80.0)
    )
    torch.testing.assert_close(x.mean(0), torch.tensor([1.0, -1.0]), atol=0.03, rtol=0)
    torch.testing.assert_close(x.var(0), torch.tensor([0.25, 0.25]), atol=0.02, rtol=0)


def test_euler_on_the_edm_grid_is_ddim_and_flow_matching_euler(generator):
    """Euler in EDM coordinates = DDIM (η = 0) = the flow-matching Euler step (Karras §3)."""
    x_T = torch.randn(64, 2, generator=generator)
    ts = SCHEDULE.timesteps(20)
    ddim = sample_ddim(ddpm_eps, x_T, SCHEDULE, ts)
    sig = [*SCHEDULE.sigmas_hat[ts].tolist(), 0.0]
    alpha_T = float(SCHEDULE.alphas_cumprod[ts[0]].sqrt())

    def den(x, s):
        return x - s[:, None] * ddpm_eps(
            x / (1 + s[:, None] ** 2).sqrt(), SCHEDULE.sigma_hat_to_t(s).round()
        )

    euler = sample_euler(den, x_T / alpha_T, sig)
    torch.testing.assert_close(euler, ddim, atol=1e-4, rtol=1e-4)
    # rectified flow: x_t = (1 − t) x₀ + t ε, exact velocity v = ε − x₀; Euler in t vs EDM Euler
    t_grid = torch.linspace(0.999, 0.01, 12).tolist()
    velocity = lambda x, t: (DATA.eps(x, 1 - t, t) - x) / (1 - t)[:, None]  # noqa: E731
    x = x_T.clone()
    for t, t_next in itertools.pairwise(t_grid):
        x = x + (t_next - t) * velocity(x, torch.full((64,), t))
    sig_fm = [t / (1 - t) for t in t_grid]

    def den_fm(xh, s):
        return (xh / (1 + s[:, None])) - (s / (1 + s))[:, None] * velocity(
            xh / (1 + s[:, None]), s / (1 + s)
        )

    x_hat = sample_euler(den_fm, x_T / (1 - t_grid[0]), sig_fm)
    torch.testing.assert_close(x_hat * (1 - t_grid[-1]), x, atol=1e-4, rtol=1e-4)
