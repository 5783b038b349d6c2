"""Samplers for discrete-time ε-networks: DDPM ancestral sampling and DDIM.

One signature: ``sample_X(eps_model, x_T, schedule, timesteps, *, generator, callback, ...)``
where ``eps_model(x_t, t) -> ε̂`` takes timesteps ``t`` of shape ``[B]`` and ``timesteps`` is a
decreasing sequence of integer timesteps (e.g. `DiscreteSchedule.timesteps`). The step after the
last timestep is "t = −1": ᾱ = 1, no noise. Outputs match diffusers' ``DDPMScheduler``
(``variance_type="fixed_small"``, ``clip_sample=False``) and ``DDIMScheduler``
(``set_alpha_to_one=True``, ``clip_sample=False``) given the same ε-network, x_T and generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor

from genmodels.diffusion.parameterization import eps_to_x0
from genmodels.diffusion.samplers.common import Callback, check_eta, noise_like, report
from genmodels.diffusion.schedules import DiscreteSchedule
from genmodels.diffusion.solvers import one_step_per_timestep, positive, register_solver

__all__ = ["ancestral_step", "sample_ddim", "sample_ddpm"]

EpsModel = Callable[[Tensor, Tensor], Tensor]


def _pairs(schedule: DiscreteSchedule, timesteps: Sequence[int] | Tensor) -> list[tuple]:
    """[(t, ᾱ_t, ᾱ_{t'})] for consecutive visited timesteps t > t' (t' = −1 after the last)."""
    ts = [int(t) for t in timesteps]
    ac = schedule.alphas_cumprod.tolist()
    return [
        (t, ac[t], ac[ts[i + 1]] if i + 1 < len(ts) else 1.0)  # ᾱ_{−1} = 1
        for i, t in enumerate(ts)
    ]


def _sigma_hat(abar: float) -> float:
    """σ̂ = √((1 − ᾱ)/ᾱ), the EDM level of x_t (0 at ᾱ = 1)."""
    return math.sqrt((1.0 - abar) / abar)


def ancestral_step(
    x_t: Tensor,
    x0: Tensor,
    abar_t: float,
    abar_prev: float,
    z: Tensor | None,
    variance: Literal["small", "large"] = "small",
) -> Tensor:
    """x_{t'} ~ q(x_{t'} | x_t, x̂₀) (Ho et al. 2020, eqs. 6–7); ``z`` None: its mean μ̃_t.

    Notation: abar_t -> ᾱ_t, abar_prev -> ᾱ_{t'}, beta_t -> β_t = 1 − ᾱ_t/ᾱ_{t'},
    coef_x0, coef_xt -> the posterior mean μ̃_t(x_t, x̂₀) of q(x_{t'} | x_t, x₀) (eq. 7);
    the variance is β̃_t = (1 − ᾱ_{t'})/(1 − ᾱ_t) β_t ("small") or β_t ("large").
    """
    beta_t = 1.0 - abar_t / abar_prev
    coef_x0 = math.sqrt(abar_prev) * beta_t / (1.0 - abar_t)
    coef_xt = math.sqrt(1.0 - beta_t) * (1.0 - abar_prev) / (1.0 - abar_t)
    x = coef_x0 * x0 + coef_xt * x_t  # μ̃_t
    if z is None:
        return x
    var = beta_t if variance == "large" else max((1.0 - abar_prev) / (1.0 - abar_t) * beta_t, 1e-20)
    return x + math.sqrt(var) * z


@register_solver(
    "ancestral", family="discrete", default_steps=one_step_per_timestep,
    config_options=("clip_x0",), description="DDPM ancestral sampling (Ho et al. 2020, Alg. 2)",
    check=lambda o: positive(o, "clip_x0"),
)  # fmt: skip
@torch.no_grad()
def sample_ddpm(
    eps_model: EpsModel,
    x_T: Tensor,
    schedule: DiscreteSchedule,
    timesteps: Sequence[int] | Tensor,
    *,
    variance: Literal["small", "large"] = "small",
    clip_x0: float | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Ancestral sampling from p_θ(x_{t'} | x_t) (Algorithm 2 of Ho et al. 2020).

    With fewer timesteps than the schedule has, the chain is the respaced one of Nichol &
    Dhariwal (2021, §4): β_t' = 1 − ᾱ_t/ᾱ_{t'} between consecutive visited steps.

    Args:
        eps_model: ε̂ = ε_θ(x_t, t).
        x_T: starting noise, ``[B, *event]``.
        schedule: the DDPM schedule the network was trained with.
        timesteps: decreasing timesteps to visit.
        variance: σ_t² = β̃_t = (1 − ᾱ_{t'})/(1 − ᾱ_t) β_t ("small") or β_t ("large").
        clip_x0: clamp x̂₀ to [−c, c] before forming the posterior mean (images in [−1, 1]).
        generator: source of the injected noise z.
        callback: ``callback(state)`` after each step (`StepState`: x = x_{t'}).

    Returns:
        x₀, same shape as ``x_T``.

    Example:
        >>> s = DiscreteSchedule.linear(100)
        >>> x = sample_ddpm(lambda x, t: torch.zeros_like(x), torch.randn(8, 2), s, s.timesteps(10))
        >>> x.shape
        torch.Size([8, 2])
    """
    x = x_T
    pairs = _pairs(schedule, timesteps)
    for i, (t, abar_t, abar_prev) in enumerate(pairs):
        eps = eps_model(x, x.new_full((x.shape[0],), t))
        x0 = eps_to_x0(x, eps, math.sqrt(abar_t), math.sqrt(1.0 - abar_t))
        if clip_x0 is not None:
            x0 = x0.clamp(-clip_x0, clip_x0)
        # no noise on the last step (z = 0 at t = 1 in Alg. 2)
        z = noise_like(x, generator) if i + 1 < len(pairs) else None
        x = ancestral_step(x, x0, abar_t, abar_prev, z, variance)
        report(callback, i, x, _sigma_hat(abar_prev), x0)
    return x


@register_solver(
    "ddim", family="discrete", default_steps=50, config_options=("clip_x0",),
    description="DDIM (Song, Meng & Ermon 2021), deterministic for eta = 0",
    check=lambda o: (positive(o, "clip_x0"), check_eta(o["eta"], high=math.inf)),
)  # fmt: skip
@torch.no_grad()
def sample_ddim(
    eps_model: EpsModel,
    x_T: Tensor,
    schedule: DiscreteSchedule,
    timesteps: Sequence[int] | Tensor,
    *,
    eta: float = 0.0,
    clip_x0: float | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """DDIM (Song, Meng & Ermon 2021, eq. 12): deterministic for η = 0, DDPM-like for η = 1.

    x_{t'} = √ᾱ_{t'} x̂₀ + √(1 − ᾱ_{t'} − σ_t²) ε̂ + σ_t z,
    σ_t = η √((1 − ᾱ_{t'})/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_{t'}).

    Args:
        eps_model: ε̂ = ε_θ(x_t, t).
        x_T: starting noise, ``[B, *event]``.
        schedule: the DDPM schedule the network was trained with.
        timesteps: decreasing timesteps to visit.
        eta: η, the amount of injected noise.
        clip_x0: clamp x̂₀ to [−c, c] (then ε̂ is recomputed from it, as diffusers does).
        generator: source of the injected noise (η > 0).
        callback: ``callback(state)`` after each step (`StepState`: x = x_{t'}).

    Returns:
        x₀, same shape as ``x_T``.

    Example:
        >>> s = DiscreteSchedule.linear(100)
        >>> x = sample_ddim(lambda x, t: torch.zeros_like(x), torch.randn(8, 2), s, s.timesteps(5))
        >>> x.shape
        torch.Size([8, 2])
    """
    x = x_T
    for i, (t, abar_t, abar_prev) in enumerate(_pairs(schedule, timesteps)):
        # Notation: abar_t -> ᾱ_t, abar_prev -> ᾱ_{t'}, sigma_t -> σ_t(η)
        sigma_t = eta * math.sqrt((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev))
        eps = eps_model(x, x.new_full((x.shape[0],), t))
        x0 = eps_to_x0(x, eps, math.sqrt(abar_t), math.sqrt(1.0 - abar_t))
        if clip_x0 is not None:
            x0 = x0.clamp(-clip_x0, clip_x0)
            eps = (x - math.sqrt(abar_t) * x0) / math.sqrt(1.0 - abar_t)
        x = math.sqrt(abar_prev) * x0 + math.sqrt(max(1 - abar_prev - sigma_t**2, 0.0)) * eps
        if sigma_t > 0:
            x = x + sigma_t * noise_like(x, generator)
        report(callback, i, x, _sigma_hat(abar_prev), x0)
    return x
