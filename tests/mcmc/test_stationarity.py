"""Exact correctness of the Metropolis-type kernels: one transition preserves the target.

Start many independent chains at exact draws of a skewed 1-D mixture, apply a few
transitions with fixed tuning, and compare the end points with the target by a
chi-square test on 40 equiprobable cells — a goodness-of-fit test on *independent*
draws (NumPyro's `gof` style), valid for any correct kernel and any step size. Declared
failure rate: 0.1% per kernel (p < 1e-3 fails). The unadjusted kernel (ULA) is biased
and must be rejected, which shows the test has power.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from scipy import optimize, stats

from genmodels.mcmc import HMC, MALA, NUTS, RWMH, ULA, ChEES, LogDensity

WEIGHTS = (0.3, 0.7)
LOCS = (-2.0, 1.0)
SCALES = (0.5, 1.0)
N_CHAINS = 20_000
N_CELLS = 40


def log_prob(x: torch.Tensor) -> torch.Tensor:
    x = x[..., 0]
    comps = [
        math.log(w) - 0.5 * ((x - m) / s) ** 2 - math.log(s)
        for w, m, s in zip(WEIGHTS, LOCS, SCALES, strict=True)
    ]
    return torch.logsumexp(torch.stack(comps), dim=0)


def cdf(x: float) -> float:
    return sum(w * stats.norm.cdf(x, m, s) for w, m, s in zip(WEIGHTS, LOCS, SCALES, strict=True))


def exact_draws(n: int, generator: torch.Generator) -> torch.Tensor:
    comp = (torch.rand(n, generator=generator) < WEIGHTS[1]).long()
    loc, scale = torch.tensor(LOCS)[comp], torch.tensor(SCALES)[comp]
    return (loc + scale * torch.randn(n, generator=generator))[:, None]  # [n, 1]


@functools.cache
def cell_edges() -> np.ndarray:
    """Inner edges of N_CELLS cells of equal target probability."""
    return np.array(
        [
            optimize.brentq(lambda t, q=q: cdf(t) - q, -20, 20)
            for q in np.arange(1, N_CELLS) / N_CELLS
        ]
    )


def chi_square_p_value(x: torch.Tensor) -> float:
    inner = cell_edges()
    counts = np.bincount(np.searchsorted(inner, x[:, 0].cpu().numpy()), minlength=N_CELLS)
    return float(stats.chisquare(counts).pvalue)


def _kernels(density: LogDensity) -> dict[str, object]:
    return {
        "rwmh": RWMH(density, step_size=2.0),
        "mala": MALA(density, step_size=1.2),
        "hmc": HMC(density, step_size=0.6, num_steps=4),
        "nuts": NUTS(density, step_size=0.7, max_tree_depth=4),
        "chees": ChEES(density, step_size=0.6, trajectory_length=2.0),
        "ula": ULA(density, step_size=1.2),
    }


@pytest.mark.parametrize("name", ["rwmh", "mala", "hmc", "nuts", "chees", "ula"])
def test_transition_preserves_the_target(name: str, device) -> None:
    generator = torch.Generator(device=device).manual_seed(3)
    kernel = _kernels(LogDensity(log_prob, (1,)))[name]
    x0 = exact_draws(N_CHAINS, generator)
    assert chi_square_p_value(x0) > 1e-3  # the start itself is exact
    state = kernel.init(x0)
    for _ in range(2):
        state, info = kernel.step(state, generator)
    assert bool(info.accepted.any())
    p_value = chi_square_p_value(state.position)
    if name == "ula":
        assert p_value < 1e-3  # biased: the test must see it
    else:
        assert p_value > 1e-3
