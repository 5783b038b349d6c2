"""Noise-level grids σ_0 > σ_1 > ... > σ_{N−1} (then 0) for the solvers in EDM coordinates.

A grid is a plain function of (steps, σ_min, σ_max); a noise process (`noise.NoiseProcess`)
picks one by name and supplies its own range. A solver may move the range's low end with a
σ_min rule (`few_step_sigma_min`; see `solvers.SolverSpec.sigma_min`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genmodels.errors import InvalidInputError

__all__ = ["FEW_STEP_SCALE", "few_step_sigma_min", "geometric_sigmas", "karras_sigmas"]

FEW_STEP_SCALE = 3.0
"""c of `few_step_sigma_min`'s σ_min(N) = (c/N)², for data of about unit scale (the scale
`NoiseProcess.start_std_hat` assumes too); chosen by measurement (docs/design-notes.md,
"Few-step grids")."""


def few_step_sigma_min(steps: int, sigma_min: float) -> float:
    """The smallest nonzero level of an N-step grid that ends with the jump x̂ = D(x̂; σ_min):
    max(σ̂_min, (c/N)²), c = `FEW_STEP_SCALE`.

    Why: that last jump returns the posterior mean, narrower than the data by about σ_min², and
    the N − 1 steps before it cover log(σ_max/σ_min) in log-SNR. A σ_min far below the data's
    scale buys nothing at the end and makes every step longer, the error that dominates at
    few steps; at many steps (c/N)² falls below the process's own σ̂_min, which then stands.

    Example:
        >>> few_step_sigma_min(10, 0.002), few_step_sigma_min(100, 0.002)
        (0.09, 0.002)
    """
    if steps < 1:
        raise InvalidInputError(f"steps must be ≥ 1, got {steps}")
    return max(float(sigma_min), (FEW_STEP_SCALE / steps) ** 2)


def karras_sigmas(
    steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0, *, append_zero: bool = True
) -> Tensor:
    """EDM's noise levels σ_i = (σ_max^{1/ρ} + i/(N−1)(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, then σ_N = 0.

    Karras et al. 2022, eq. 5 (ρ = 7): dense near σ_min where the ODE curves most.

    Example:
        >>> karras_sigmas(3, 0.002, 80.0).tolist()[-1]
        0.0
    """
    if steps < 1:
        raise InvalidInputError(f"steps must be ≥ 1, got {steps}")
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64) if steps > 1 else torch.zeros(1)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    if append_zero:
        sigmas = torch.cat([sigmas, sigmas.new_zeros(1)])
    return sigmas.float()


def geometric_sigmas(
    steps: int, sigma_min: float, sigma_max: float, *, append_zero: bool = True
) -> Tensor:
    """Noise levels uniform in log σ (so in log-SNR = −2 log σ) from σ_max to σ_min, then 0.

    The step rule DPM-Solver++ recommends ("time-uniform logSNR", Lu et al. 2022); its 2M
    solver reaches a given quality in fewer steps on it than on EDM's ρ = 7 grid (measured in
    benchmarks/README.md).

    Example:
        >>> [round(s, 3) for s in geometric_sigmas(3, 0.01, 1.0).tolist()]
        [1.0, 0.1, 0.01, 0.0]
    """
    if steps < 1:
        raise InvalidInputError(f"steps must be ≥ 1, got {steps}")
    if steps == 1:
        sigmas = torch.tensor([sigma_max], dtype=torch.float64)
    else:
        sigmas = torch.logspace(
            math.log10(sigma_max), math.log10(sigma_min), steps, dtype=torch.float64
        )
    if append_zero:
        sigmas = torch.cat([sigmas, sigmas.new_zeros(1)])
    return sigmas.float()
