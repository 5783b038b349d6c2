"""Stochastic samplers on the EDM denoiser: Euler ancestral and DPM-Solver++(2M) SDE.

Same signature as the ODE solvers (``sample_X(denoiser, x, sigmas, *, generator, callback,
...)``, see `genmodels.diffusion.samplers.ode`), but each step also injects fresh noise drawn
with ``generator`` (through `noise_like`, one draw of ``x``'s shape per step that has noise),
so they sample the reverse SDE along the σ̂ grid rather than follow the PF-ODE. ``eta = 0``
turns the noise off (Euler ancestral becomes Euler, 2M SDE becomes a first-order-noise-free
DPM-Solver++ of the SDE form).

Notation (code name -> paper): ``sigma_up`` / ``sigma_down`` -> the noise added and the level
the deterministic part steps to, with σ_down² + σ_up² = σ_next² (k-diffusion's
``get_ancestral_step``; Ho et al. 2020's posterior variance in EDM coordinates);
``h`` -> λ_{i+1} − λ_i with λ = −log σ̂ (Lu et al. 2022b).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from genmodels.diffusion.grids import few_step_sigma_min, sde_few_step_sigma_min
from genmodels.diffusion.samplers.common import Callback, as_levels, check_eta, noise_like, report
from genmodels.diffusion.solvers import register_solver
from genmodels.errors import InvalidInputError

__all__ = ["ancestral_levels", "sample_dpmpp_2m_sde", "sample_euler_ancestral"]

Denoiser = Callable[[Tensor, Tensor], Tensor]


def ancestral_levels(sigma: float, sigma_next: float, eta: float = 1.0) -> tuple[float, float]:
    """(σ_down, σ_up) of an ancestral step from σ̂ to σ̂': σ_up = min(σ̂', η σ̂'√(σ̂² − σ̂'²)/σ̂),
    σ_down = √(σ̂'² − σ_up²). With η = 1 the step is DDPM's posterior q(x_{t'} | x_t, x̂₀).

    Example:
        >>> [round(v, 3) for v in ancestral_levels(1.0, 0.5)]
        [0.25, 0.433]
    """
    if sigma_next == 0:
        return 0.0, 0.0
    up = min(sigma_next, eta * sigma_next * math.sqrt(sigma**2 - sigma_next**2) / sigma)
    return math.sqrt(sigma_next**2 - up**2), up


def _check_noise(options: Mapping[str, Any]) -> None:
    """The stochastic solvers' `OptionCheck`: η in [0, 1], s_noise ≥ 0."""
    check_eta(options["eta"])
    s_noise = options["s_noise"]
    if not (math.isfinite(s_noise) and s_noise >= 0):
        raise InvalidInputError(f"s_noise must be a finite number ≥ 0, got {s_noise!r}")


@register_solver(
    "euler_ancestral", family="ode", default_steps=100, grid=None,
    sigma_min=few_step_sigma_min, check=_check_noise,
    description="Euler ancestral: Euler to sigma_down, then noise sigma_up (k-diffusion)",
)  # fmt: skip
@torch.no_grad()
def sample_euler_ancestral(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Sequence[float] | Tensor,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Euler ancestral (k-diffusion's ``sample_euler_ancestral``; diffusers'
    ``EulerAncestralDiscreteScheduler``): an Euler step of the PF-ODE from σ̂ to σ_down, then
    noise of std σ_up · ``s_noise`` (`ancestral_levels`). One NFE per step; the step to 0 has
    no noise. Default grid: the process's own, as for `sample_euler` (on a DDPM its timesteps,
    where η = 1 is DDPM ancestral sampling; elsewhere EDM's ρ = 7 grid, ending at the
    few-step σ_min).

    Example:
        >>> zero = lambda x, s: torch.zeros_like(x)
        >>> x = sample_euler_ancestral(zero, 80 * torch.randn(4, 2), [80.0, 1.0, 0.0])
        >>> x.abs().max().item()
        0.0
    """
    _check_noise({"eta": eta, "s_noise": s_noise})
    s_in = x.new_ones(x.shape[0])
    for i, (sigma, sigma_next) in enumerate(itertools.pairwise(as_levels(sigmas))):
        denoised = denoiser(x, sigma * s_in)
        sigma_down, sigma_up = ancestral_levels(sigma, sigma_next, eta)
        ratio = sigma_down / sigma  # x + (σ_down − σ)(x − D)/σ, exact D at σ_down = 0
        x = ratio * x + (1 - ratio) * denoised
        if sigma_up > 0:
            x = x + noise_like(x, generator) * (s_noise * sigma_up)
        report(callback, i, x, sigma_next, denoised)
    return x


@register_solver(
    "dpmpp_2m_sde", family="ode", default_steps=20, grid="logsnr",
    sigma_min=sde_few_step_sigma_min, check=_check_noise,
    description="DPM-Solver++(2M) SDE, midpoint (Lu et al. 2022b; k-diffusion)",
)  # fmt: skip
@torch.no_grad()
def sample_dpmpp_2m_sde(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Sequence[float] | Tensor,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """DPM-Solver++(2M) for the reverse SDE (Lu et al. 2022b, eq. 9 second-order multistep;
    k-diffusion's ``sample_dpmpp_2m_sde`` with the midpoint rule; diffusers'
    ``DPMSolverMultistepScheduler(algorithm_type="sde-dpmsolver++")`` at ``eta = 1``).

    With η h the noise's share of the step, x̂' = (σ̂'/σ̂) e^{−ηh} x̂ + (1 − e^{−(1+η)h}) D
    (+ ½ (1 − e^{−(1+η)h}) (D − D_prev)/r) + σ̂' √(1 − e^{−2ηh}) s_noise z. One NFE per step;
    first and last steps first order, the last one to 0 is x̂ = D.

    Its default grid: log-SNR from min(σ̂_max, 80) to `grids.sde_few_step_sigma_min` (its
    own σ_min rule, higher than the ODE solvers' `grids.few_step_sigma_min`), then 0.

    Example:
        >>> zero = lambda x, s: torch.zeros_like(x)
        >>> x = sample_dpmpp_2m_sde(zero, 80 * torch.randn(4, 2), [80.0, 1.0, 0.0])
        >>> x.abs().max().item()
        0.0
    """
    _check_noise({"eta": eta, "s_noise": s_noise})
    s_in = x.new_ones(x.shape[0])
    old_denoised: Tensor | None = None
    h_last = 0.0
    for i, (sigma, sigma_next) in enumerate(itertools.pairwise(as_levels(sigmas))):
        denoised = denoiser(x, sigma * s_in)
        if sigma_next == 0:
            x = denoised
        else:
            h = math.log(sigma) - math.log(sigma_next)
            eta_h = eta * h
            keep = -math.expm1(-h - eta_h)  # 1 − e^{−(1+η)h}
            x = (sigma_next / sigma) * math.exp(-eta_h) * x + keep * denoised
            if old_denoised is not None:
                x = x + (0.5 * keep * h / h_last) * (denoised - old_denoised)
            if eta > 0:
                noise_std = sigma_next * math.sqrt(-math.expm1(-2 * eta_h)) * s_noise
                x = x + noise_like(x, generator) * noise_std
            h_last = h
        old_denoised = denoised
        report(callback, i, x, sigma_next, denoised)
    return x
