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


@pytest.mark.parametrize("kernel_cls", [RWMH, MALA, NUTS])
def test_dual_averaging_reaches_target_acceptance(kernel_cls: type) -> None:
    chains = 16
    generator = torch.Generator().manual_seed(0)
    eps = torch.full((chains,), 0.02)  # start far too small
    kernel = kernel_cls(LogDensity(log_prob, (5,)), eps, SCALES**2)
    state = kernel.init(torch.randn(chains, 5, generator=generator) * SCALES)
    dual = DualAveraging(kernel.target_accept)
    dual_state = dual.init(eps)
    accepts = []
    for _ in range(400):
        state, info = replace(kernel, step_size=eps).step(state, generator)
        dual_state = dual.update(dual_state, info.accept_prob)
        eps = dual_state.log_step.exp()
        accepts.append(info.accept_prob)
    late = torch.stack(accepts[200:]).mean()
    assert abs(float(late) - kernel.target_accept) < 0.05, float(late)
    # and sampling with the averaged step size stays close (Jensen's gap makes it higher)
    kernel = replace(kernel, step_size=dual.final_step_size(dual_state))
    sampled = []
    for _ in range(100):
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


def test_welford_matches_regularised_variance() -> None:
    x = torch.randn(50, 3, 4, generator=torch.Generator().manual_seed(1)) * 2.0
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
