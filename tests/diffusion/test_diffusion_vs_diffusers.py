"""Differential test against diffusers: same ε-network, x_T and injected noise → same x₀.

diffusers is a test-only dependency (skipped when absent). Its schedulers draw the injected
noise with ``torch.randn(shape, generator=...)`` in the same order we do, so one seeded
generator each reproduces the same noise sequence. diffusers keeps ᾱ_t in float32 (we keep
float64); the tables agree to 1e-5 relative, and with one float64 table in both and float64
runs the outputs agree to 1e-5 — any difference left is in the sampler arithmetic itself.
(Float64 because on the cosine schedule x̂₀ = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t divides by √ᾱ_T ≈ 5·10⁻⁵:
float32 rounding of the coefficients alone moves x₀ by ~1e-4, in either library.)
"""

from __future__ import annotations

import pytest
import torch
from analytic import Mixture

from genmodels.diffusion.samplers import sample_ddim, sample_ddpm
from genmodels.diffusion.schedules import DiscreteSchedule

diffusers = pytest.importorskip("diffusers")

SCHEDULES = {"linear": DiscreteSchedule.linear, "squaredcos_cap_v2": DiscreteSchedule.cosine}


DATA = Mixture([[-1.0, 0.5], [1.0, -0.5], [0.0, 1.0]], [0.2, 0.3, 0.25], [0.5, 0.3, 0.2])


@pytest.fixture(scope="module", params=list(SCHEDULES))
def beta_schedule(request):
    return request.param


@pytest.fixture(scope="module")
def eps_net(beta_schedule):
    """The exact ε-network of a 3-component mixture on this schedule (a well-behaved ε̂:
    an untrained network's ε̂ blows x up by 1/√ᾱ_T ≈ 10⁴ on the cosine schedule)."""
    schedule = SCHEDULES[beta_schedule](1000)

    def eps(x, t):
        alpha, sigma = (c.to(x) for c in schedule.alpha_sigma(t.long()))
        return DATA.eps(x, alpha, sigma)

    return eps


def same_table(schedule, scheduler):
    ours, theirs = schedule.alphas_cumprod, scheduler.alphas_cumprod.double()
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-9)
    schedule.alphas_cumprod = scheduler.alphas_cumprod = theirs  # one float64 table for both
    return schedule


def run_diffusers(scheduler, net, x_T, steps, seed, **step_kwargs):
    scheduler.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    x = x_T.clone()
    with torch.no_grad():
        for t in scheduler.timesteps:
            eps = net(x, torch.full((x.shape[0],), int(t)))
            x = scheduler.step(eps, t, x, generator=g, **step_kwargs).prev_sample
    return x, [int(t) for t in scheduler.timesteps]


@pytest.mark.parametrize("steps", [50, 250])
def test_ddpm_ancestral_matches_diffusers(eps_net, beta_schedule, steps):
    x_T = torch.randn(128, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    scheduler = diffusers.DDPMScheduler(
        num_train_timesteps=1000, beta_schedule=beta_schedule, clip_sample=False,
        variance_type="fixed_small",
    )  # fmt: skip
    schedule = same_table(SCHEDULES[beta_schedule](1000), scheduler)
    expected, timesteps = run_diffusers(scheduler, eps_net, x_T, steps, seed=2)
    assert schedule.timesteps(steps).tolist() == timesteps
    ours = sample_ddpm(
        eps_net,
        x_T,
        schedule,
        schedule.timesteps(steps),
        generator=torch.Generator().manual_seed(2),
    )
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("steps", [10, 50])
def test_ddim_matches_diffusers(eps_net, beta_schedule, steps):
    x_T = torch.randn(128, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    scheduler = diffusers.DDIMScheduler(
        num_train_timesteps=1000, beta_schedule=beta_schedule, clip_sample=False,
        set_alpha_to_one=True,
    )  # fmt: skip
    schedule = same_table(SCHEDULES[beta_schedule](1000), scheduler)
    expected, _ = run_diffusers(scheduler, eps_net, x_T, steps, seed=4, eta=0.0)
    ours = sample_ddim(eps_net, x_T, schedule, schedule.timesteps(steps), eta=0.0)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)
