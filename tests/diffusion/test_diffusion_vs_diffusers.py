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

import inspect

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


# ---- the PF-ODE and σ̂-grid samplers against diffusers' EDM-style schedulers -----------------
#
# diffusers' multistep schedulers run in native VP coordinates x_t = α_t x₀ + σ_t ε on the
# σ̂ = σ_t/α_t of their table; ours run in x̂ = x_t/α_t on the same σ̂'s. ε of a point does not
# depend on the coordinates, so one ε(x̂; σ̂) (`eps_hat`) serves both: diffusers gets it at
# x_t/α_t, ours through the denoiser D = x̂ − σ̂ ε. Same grid (the scheduler's ``sigmas``), same
# x_T, same injected noise (one seeded generator each, drawn in the same order), float64.


def eps_hat(x_hat, sigma_hat):
    return DATA.eps(x_hat, torch.ones_like(sigma_hat), sigma_hat)


def edm_denoiser(x_hat, sigma_hat):
    return x_hat - sigma_hat[:, None] * eps_hat(x_hat, sigma_hat)


def run_diffusers_sigmas(scheduler, x_T, seed, native):
    """diffusers' loop on ``eps_hat``; ``native``: the sample is x_t (VP), else x̂ (EDM, with
    ``scale_model_input``). Returns (x₀, the scheduler's σ̂ grid, x̂ at its start)."""
    g = torch.Generator().manual_seed(seed)
    sigmas = scheduler.sigmas.double()
    level = dict(zip(scheduler.timesteps.tolist(), sigmas[:-1].tolist(), strict=True))
    x = x_T.clone() if native else x_T * scheduler.init_noise_sigma
    takes_generator = "generator" in inspect.signature(scheduler.step).parameters
    kwargs = {"generator": g} if takes_generator else {}
    with torch.no_grad():
        for t in scheduler.timesteps:
            s = torch.full((x.shape[0],), level[float(t)], dtype=torch.float64)
            x_in = x if native else scheduler.scale_model_input(x, t)
            eps = eps_hat(x_in * (1 + s[:, None] ** 2).sqrt(), s)
            x = scheduler.step(eps, t, x, **kwargs).prev_sample
    x_hat_T = x_T * (1 + sigmas[0] ** 2).sqrt() if native else x_T * scheduler.init_noise_sigma
    return x, sigmas, x_hat_T


def float64_table(scheduler):
    """The scheduler's σ̂ table recomputed in float64 (diffusers keeps ᾱ in float32)."""
    scheduler.alphas_cumprod = scheduler.alphas_cumprod.double()
    return scheduler


DIFFUSERS_MULTISTEP = {
    "dpmpp_2m": lambda: diffusers.DPMSolverMultistepScheduler(solver_order=2),
    "dpmpp_3m": lambda: diffusers.DPMSolverMultistepScheduler(solver_order=3),
    "dpmpp_2m_sde": lambda: diffusers.DPMSolverMultistepScheduler(
        solver_order=2, algorithm_type="sde-dpmsolver++"
    ),
    "unipc": lambda: diffusers.UniPCMultistepScheduler(solver_order=2),
    "unipc_3": lambda: diffusers.UniPCMultistepScheduler(solver_order=3),
    # bh1's B(h) = −h is −∞ on a step to σ̂ = 0, and diffusers' last step gives ∞·0 = NaN there:
    # compared on the grid ending at σ̂_min (we step to 0 with x̂ = D, the limit).
    "unipc_bh1": lambda: diffusers.UniPCMultistepScheduler(
        solver_order=2, solver_type="bh1", final_sigmas_type="sigma_min"
    ),
    "euler_ancestral": lambda: diffusers.EulerAncestralDiscreteScheduler(),
}
OURS = {"unipc_3": ("unipc", {"order": 3}), "unipc_bh1": ("unipc", {"variant": "bh1"})}


@pytest.mark.parametrize("name", list(DIFFUSERS_MULTISTEP))
@pytest.mark.parametrize("steps", [6, 10, 20])
def test_sigma_grid_solvers_match_diffusers(name, steps):
    from genmodels.diffusion.solvers import get_solver

    scheduler = float64_table(DIFFUSERS_MULTISTEP[name]())
    scheduler.set_timesteps(steps)
    x_T = torch.randn(256, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    native = name != "euler_ancestral"
    expected, sigmas, x_hat_T = run_diffusers_sigmas(scheduler, x_T, seed=6, native=native)
    assert (float(sigmas[-1]) == 0.0) == (name != "unipc_bh1") and len(sigmas) == steps + 1
    solver, options = OURS.get(name, (name, {}))
    if name == "dpmpp_2m_sde":  # diffusers draws its noise in float32 whatever the sample's
        x_hat_T = x_hat_T.float()  # dtype: so do we, from a float32 x̂
    ours = get_solver(solver).fn(
        edm_denoiser, x_hat_T, sigmas, generator=torch.Generator().manual_seed(6), **options
    )
    assert expected.abs().max() > 0.5  # a real output, not a collapse to 0
    torch.testing.assert_close(ours.double(), expected.double(), atol=1e-4, rtol=0)
