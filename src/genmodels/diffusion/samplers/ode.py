"""Probability-flow ODE samplers in EDM coordinates: Euler (= DDIM), Heun, DPM-Solver++(2M), dopri5.

Every Gaussian-path model (DDPM, VP/sub-VP/VE SDEs, rectified flow) has, after rescaling
x̂ = x_t/α_t, σ̂ = σ_t/α_t, the same probability-flow ODE (Karras et al. 2022, eq. 3 with s = 1)

    dx̂/dσ̂ = (x̂ − D(x̂; σ̂)) / σ̂,

so one set of solvers serves all of them. One signature:
``sample_X(denoiser, x, sigmas, *, generator, callback, ...)`` (``callback`` gets a
`StepState` after each step, ``x`` = x̂ at ``sigma`` = the next level) with ``denoiser(x̂, σ̂) -> x̂₀``
(``σ̂`` of shape ``[B]``), ``x`` a draw at ``sigmas[0]`` and ``sigmas`` decreasing to 0
(e.g. `karras_sigmas`). ``generator`` is accepted for swap-ability; these are deterministic.

Notation (code name -> Karras et al. 2022): ``x`` -> x_i (= x̂), ``sigma``/``sigma_next`` ->
t_i/t_{i+1} (= σ̂), ``d`` -> dx/dt, ``denoised`` -> D_θ(x_i; t_i).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from genmodels.diffusion.grids import few_step_sigma_min
from genmodels.diffusion.samplers.common import Callback, report
from genmodels.diffusion.solvers import positive, register_solver

__all__ = ["sample_dopri5", "sample_dpmpp_2m", "sample_euler", "sample_heun"]

Denoiser = Callable[[Tensor, Tensor], Tensor]


def _levels(sigmas: Sequence[float] | Tensor) -> list[float]:
    return torch.as_tensor(sigmas, dtype=torch.float64).tolist()


@register_solver(
    "euler", family="ode", default_steps=100, grid=None,
    description="Euler on the PF-ODE (= deterministic DDIM; Karras et al. 2022)",
)  # fmt: skip
@torch.no_grad()
def sample_euler(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Sequence[float] | Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Euler steps on the PF-ODE; identical to deterministic DDIM (Karras et al. 2022, §3).

    In any model's native coordinates the step is x_{t'} = (σ_{t'}/σ_t) x_t +
    (α_{t'} − α_t σ_{t'}/σ_t) x̂₀, i.e. DDIM's eq. 12 with η = 0 — and, on the linear path of
    rectified flow, the Euler step x_{t'} = x_t + (t' − t) v̂ of the flow-matching ODE.

    Its default grid is the process's own (``grid=None`` in its spec): on a DDPM the σ̂ of the
    schedule's timestep spacing, where it is DDIM step for step, the first-order grid that
    beats EDM's ρ = 7 and the log-SNR grids at every NFE (benchmarks/README.md); elsewhere
    EDM's ρ = 7 grid (flow matching: uniform t).

    Example:
        >>> zero = lambda x, s: torch.zeros_like(x)
        >>> x = sample_euler(zero, 80 * torch.randn(4, 2), [80.0, 1.0, 0.0])
        >>> x.abs().max().item()
        0.0
    """
    s_in = x.new_ones(x.shape[0])
    levels = _levels(sigmas)
    for i, (sigma, sigma_next) in enumerate(itertools.pairwise(levels)):
        denoised = denoiser(x, sigma * s_in)
        # x + (σ' − σ)(x − D)/σ, written as an interpolation so σ' = 0 gives D exactly
        ratio = sigma_next / sigma
        x = ratio * x + (1 - ratio) * denoised
        report(callback, i, x, sigma_next, denoised)
    return x


@register_solver(
    "heun", family="ode", default_steps=18, grid=None,
    description="Heun's 2nd-order method on the PF-ODE (Karras et al. 2022, Alg. 1)",
)  # fmt: skip
@torch.no_grad()
def sample_heun(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Sequence[float] | Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Heun's 2nd-order method, Euler on the last step to σ = 0 (Karras et al. 2022, Algorithm 1).

    NFE = 2N − 1 for N steps ending at 0.

    Its default grid is the process's own (``grid=None`` in its spec), as Euler's: on a DDPM
    the σ̂ of the schedule's timestep spacing (``leading`` by default: from σ̂ of its top
    timestep to the table's σ̂_min), where it beats diffusers' Heun and EDM's ρ = 7 grid at
    every NFE measured (benchmarks/README.md); elsewhere (VP/VE SDEs, EDM-style processes)
    EDM's ρ = 7 grid to the process's σ̂_min; flow matching, uniform t.
    """
    s_in = x.new_ones(x.shape[0])
    levels = _levels(sigmas)
    for i, (sigma, sigma_next) in enumerate(itertools.pairwise(levels)):
        denoised = denoiser(x, sigma * s_in)
        d = (x - denoised) / sigma
        x_next = x + (sigma_next - sigma) * d
        if sigma_next != 0:  # 2nd-order correction
            d_next = (x_next - denoiser(x_next, sigma_next * s_in)) / sigma_next
            x_next = x + (sigma_next - sigma) * 0.5 * (d + d_next)
        x = x_next
        report(callback, i, x, sigma_next, denoised)
    return x


@register_solver(
    "dpmpp_2m", family="ode", default_steps=18, grid="logsnr", sigma_min=few_step_sigma_min,
    description="DPM-Solver++(2M), multistep 2nd order in log-SNR (Lu et al. 2022)",
)  # fmt: skip
@torch.no_grad()
def sample_dpmpp_2m(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Sequence[float] | Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """DPM-Solver++(2M): multistep 2nd order in λ = −log σ̂ (Lu et al. 2022b, Algorithm 2).

    One NFE per step: the previous step's x̂₀ gives the 2nd-order term. First and last steps
    are first order (the last ends at σ̂ = 0, where λ = ∞).

    Notation: ``h`` -> h_i = λ_{i+1} − λ_i, ``r`` -> r_i = h_{i−1}/h_i, ``D`` -> D_i = (1 + 1/(2r))
    x̂₀_i − 1/(2r) x̂₀_{i−1}.
    """
    s_in = x.new_ones(x.shape[0])
    levels = _levels(sigmas)
    old_denoised: Tensor | None = None
    h_last = 0.0
    for i, (sigma, sigma_next) in enumerate(itertools.pairwise(levels)):
        denoised = denoiser(x, sigma * s_in)
        if sigma_next == 0:
            x = denoised
        else:
            h = math.log(sigma) - math.log(sigma_next)
            if old_denoised is None:
                D = denoised
            else:
                r = h_last / h
                D = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (sigma_next / sigma) * x - math.expm1(-h) * D
            h_last = h
        old_denoised = denoised
        report(callback, i, x, sigma_next, denoised)
    return x


@register_solver(
    "dopri5", family="ode", default_steps=18, grid="karras",
    check=lambda o: positive(o, "rtol", "atol"),
    description="adaptive Dormand-Prince on the PF-ODE in log sigma (torchdiffeq)",
)  # fmt: skip
@torch.no_grad()
def sample_dopri5(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Sequence[float] | Tensor,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-4,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Adaptive Dormand–Prince (torchdiffeq) from σ̂_0 to the smallest positive level, then D.

    Integrates in u = log σ̂, where the ODE dx̂/du = x̂ − D(x̂; eᵘ) is smooth (Song et al. 2021
    use RK45 on the native PF-ODE; the change of variables is exact). Only the first and the
    smallest positive entries of ``sigmas`` are used; a final evaluation D(x̂; σ̂_min) takes the
    Euler step to σ̂ = 0. The callback sees each function evaluation (x̂ at σ̂ = eᵘ).
    """
    from torchdiffeq import odeint

    levels = [s for s in _levels(sigmas) if s > 0]
    s_in = x.new_ones(x.shape[0])
    calls = 0

    def velocity(u: Tensor, x_u: Tensor) -> Tensor:
        nonlocal calls
        denoised = denoiser(x_u, u.exp() * s_in)
        report(callback, calls, x_u, float(u.exp()), denoised)
        calls += 1
        return x_u - denoised

    u = x.new_tensor([math.log(levels[0]), math.log(levels[-1])])
    x_min = odeint(velocity, x, u, rtol=rtol, atol=atol, method="dopri5")[-1]
    return denoiser(x_min, levels[-1] * s_in)
