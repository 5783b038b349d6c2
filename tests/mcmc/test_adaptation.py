"""Warm-up: dual averaging hits its target acceptance; Stan's windows; Welford variance."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from genmodels.mcmc import MALA, NUTS, RWMH, DualAveraging, LogDensity, sample_chains
from genmodels.mcmc.adaptation import WelfordVariance, warmup_windows

SCALES = torch.tensor([0.3, 1.0, 3.0, 1.0, 0.5])


def log_prob(x: torch.Tensor) -> torch.Tensor:
    return -0.5 * ((x / SCALES) ** 2).sum(-1)


@pytest.mark.parametrize("kernel_cls", [RWMH, MALA, pytest.param(NUTS, marks=pytest.mark.slow)])
def test_dual_averaging_reaches_target_acceptance(kernel_cls: type, device) -> None:
    chains = 16 if kernel_cls is not NUTS else 8
    generator = torch.Generator(device=device).manual_seed(0)
    eps = torch.full((chains,), 0.02)  # start far too small
    kernel = kernel_cls(LogDensity(log_prob, (5,)), eps, SCALES**2)
    state = kernel.init(torch.randn(chains, 5, generator=generator) * SCALES)
    dual = DualAveraging(kernel.target_accept)
    dual_state = dual.init(eps)
    accepts = []
    iterations = 400 if kernel_cls is not NUTS else 250
    for _ in range(iterations):
        state, info = replace(kernel, step_size=eps).step(state, generator)
        dual_state = dual.update(dual_state, info.accept_prob)
        eps = dual_state.log_step.exp()
        accepts.append(info.accept_prob)
    late = torch.stack(accepts[iterations // 2 :]).mean()
    assert abs(float(late) - kernel.target_accept) < 0.05, float(late)
    # and sampling with the averaged step size stays close (Jensen's gap makes it higher)
    kernel = replace(kernel, step_size=dual.final_step_size(dual_state))
    sampled = []
    for _ in range(60):
        state, info = kernel.step(state, generator)
        sampled.append(info.accept_prob)
    mean = float(torch.stack(sampled).mean())
    assert kernel.target_accept - 0.05 < mean < kernel.target_accept + 0.15, mean


def test_warmup_windows_follow_stan() -> None:
    assert warmup_windows(1000) == [(75, 100), (100, 150), (150, 250), (250, 450), (450, 950)]
    assert warmup_windows(500) == [(75, 100), (100, 150), (150, 250), (250, 450)]
    # short warm-ups: 15% / 75% / 10%
    assert warmup_windows(100) == [(15, 90)]
    assert warmup_windows(10) == []


def test_welford_matches_regularised_variance(device) -> None:
    x = torch.randn(50, 3, 4, generator=torch.Generator(device=device).manual_seed(1)) * 2.0
    w = WelfordVariance()
    for xi in x:
        w.update(xi)
    n = 50
    expected = (n / (n + 5)) * x.var(0) + 1e-3 * 5 / (n + 5)
    torch.testing.assert_close(w.variance(), expected, rtol=1e-4, atol=1e-6)


def test_warmup_learns_the_diagonal_mass_matrix() -> None:
    s = sample_chains(
        log_prob, "mala", event_shape=(5,), chains=4, draws=10, warmup=400, seed=0, progress=False
    )
    ratio = s.inverse_mass / SCALES**2  # [chains, d]; should be ~1 (variances)
    # identity (not adapted) would give ratios 0.11 and 11
    assert ratio.min() > 0.2 and ratio.max() < 5.0, ratio


def test_window_adaptation_warms_ula_up_adjusted_and_returns_it_unadjusted(generator) -> None:
    from genmodels.mcmc import ULA, window_adaptation

    density = LogDensity(log_prob, (5,))
    x0 = torch.randn(8, 5, generator=generator) * SCALES
    kernel, state, info = window_adaptation(
        ULA, density, x0, num_steps=300, generator=generator, adapt_mass=False
    )
    assert isinstance(kernel, ULA) and not kernel.adjusted
    assert info.inverse_mass is None and torch.isfinite(state.position).all()
    # the step was tuned to ULA's target on the *adjusted* (MALA) acceptance
    accepts = []
    mala = replace(kernel, adjusted=True)
    for _ in range(100):
        state, step = mala.step(state, generator)
        accepts.append(step.accept_prob)
    assert abs(float(torch.stack(accepts).mean()) - ULA.target_accept) < 0.08


def test_step_size_search_runs_through_the_kernel_and_is_counted(device) -> None:
    from genmodels.mcmc import window_adaptation

    density = LogDensity(log_prob, (5,))
    for step_size in (None, 0.3):  # None: a doubling search before warm-up
        seen = []
        _, _, info = window_adaptation(
            NUTS,
            density,
            torch.zeros(2, 5),
            num_steps=30,
            generator=torch.Generator(device=device).manual_seed(0),
            step_size=step_size,
            callback=lambda t, state, step, seen=seen: seen.append(int(step.num_grad_evals.sum())),
        )
        assert len(seen) == 30
        if step_size is None:  # the search's NUTS transitions are paid for too
            assert info.num_grad_evals > sum(seen)
        else:
            assert info.num_grad_evals == sum(seen)
