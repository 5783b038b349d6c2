"""Noise-level grids σ_0 > σ_1 > ... > σ_{N−1} (then 0) for the solvers in EDM coordinates.

A grid is a plain function of (steps, σ_min, σ_max); a noise process (`noise.NoiseProcess`)
picks one by name and supplies its own range.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genmodels.errors import InvalidInputError

__all__ = ["geometric_sigmas", "karras_sigmas"]


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
