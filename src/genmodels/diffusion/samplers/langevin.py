"""Annealed Langevin dynamics (Song & Ermon 2019, Algorithm 1) and plain Langevin as its L = 1 case.

NCSN's sampler, and a sampler of every diffusion model through its score (D − x̂)/σ̂²: the
``"langevin"`` family, ``fn(score_fn, x_init, sigmas, *, generator, callback, ...)``.

Notation (code name -> paper name): ``sigmas`` -> {σ_i}_{i=1}^L (decreasing), ``step_lr`` -> ε,
``alpha`` -> α_i = ε σ_i²/σ_L², ``steps_per_level`` -> T, ``score_fn(x, σ)`` -> s_θ(x, σ),
``gamma`` -> γ = σ_{i−1}/σ_i, ``beta`` -> ε/σ_L² = α_i/σ_i² (the same at every level).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from genmodels.diffusion.samplers.common import Callback, noise_like, report
from genmodels.diffusion.solvers import langevin_levels_or, positive, register_solver
from genmodels.errors import InvalidInputError
from genmodels.samples import Samples

__all__ = ["annealed_langevin", "langevin_step_size"]

SINGLE_LEVEL_BETA = 0.01
"""ε/σ² for plain Langevin on one level, where technique 4 has no previous level to start from."""


def langevin_step_size(sigmas: Sequence[float] | Tensor, steps_per_level: int) -> float:
    """ε by technique 4 of Song & Ermon 2020 ("Improved techniques", §3.3, eq. 4).

    Started at level σ_{i−1} = γ σ_i, T Langevin steps with α_i = ε σ_i²/σ_L² leave a variance
    s_T² with  s_T²/σ_i² = (1 − β)^{2T} (γ² − 2/(2 − β)) + 2/(2 − β),  β = ε/σ_L²
    (the single-point analysis of the paper, simplified). ε is the β that brings this ratio
    closest to 1, for the largest ratio γ of consecutive levels; more steps per level allow a
    smaller, less biased step. With one level there is nothing to anneal from: β = 0.01.

    The analysis treats the data as one point: at levels far below the data's own spread the
    step α_i = β σ_i² is tiny next to the variance to explore, so the chain stops mixing
    there. A ladder for this rule ends near the scale of the data's finest structure (NCSN's
    ``sigma_min``), with the final denoising step removing the rest.

    Example:
        >>> sigmas = torch.logspace(1, -2, 10)   # 10 → 0.01, γ ≈ 2.15
        >>> f"{langevin_step_size(sigmas, 100):.1e}"
        '3.6e-06'
    """
    levels = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
    sigma_L = float(levels[-1])
    if levels.numel() < 2:
        return SINGLE_LEVEL_BETA * sigma_L**2
    gamma = float((levels[:-1] / levels[1:]).max())
    beta = torch.logspace(-8, math.log10(0.999), 4000, dtype=torch.float64)
    c = 2 / (2 - beta)
    ratio = (1 - beta) ** (2 * steps_per_level) * (gamma**2 - c) + c
    return float(beta[(ratio - 1).abs().argmin()]) * sigma_L**2


@register_solver(
    "annealed_langevin", family="langevin", default_steps=langevin_levels_or(10),
    grid="langevin", config_options=("step_lr", "steps_per_level"),
    check=lambda o: (positive(o, "step_lr"), positive(o, "steps_per_level", integer=True)),
    description="annealed Langevin dynamics on the noise-conditional score (Song & Ermon 2019)",
)  # fmt: skip
@torch.no_grad()
def annealed_langevin(
    score_fn: Callable[[Tensor, Tensor], Tensor],
    x_init: Tensor,
    sigmas: Sequence[float] | Tensor,
    *,
    steps_per_level: int = 100,
    step_lr: float | None = 2e-5,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    final_denoise: bool = True,
) -> Samples:
    """Langevin dynamics at decreasing noise levels, each level warm-starting the next.

    For i = 1..L and T steps per level:  x ← x + α_i/2 · s(x, σ_i) + √α_i · z,
    α_i = ε σ_i²/σ_L². With ``final_denoise`` one last step x ← x + σ_L² s(x, σ_L) removes
    the remaining σ_L noise (Tweedie; Jolicoeur-Martineau et al. 2021, Song & Ermon 2020).

    With a single level (``sigmas=[σ]``) α = ε: this *is* unadjusted Langevin on whatever
    ``score_fn(x, σ)`` returns — pass an exact score that ignores σ to run plain Langevin.

    Args:
        score_fn: s(x, σ) with ``σ`` of shape ``[n]``; returns a tensor shaped like ``x``.
        x_init: starting points ``[n, *event]`` (e.g. uniform noise, or N(0, σ_1² I)).
        sigmas: the noise levels σ_1 > ... > σ_L.
        steps_per_level: T.
        step_lr: ε (the step size at the smallest level); None: technique 4 of Song & Ermon
            2020 for these levels and T (`langevin_step_size`), which suits levels that end
            near the data's own scale (below it the chain barely moves, see its docstring).
        generator: source of z.
        callback: ``callback(state)`` after every Langevin step (``i`` counts all steps;
            ``denoised`` is Tweedie's x + σ² s).
        final_denoise: add the Tweedie denoising step at σ_L.

    Returns:
        `Samples` with ``x`` of shape ``[n, *event]`` (independent particles), ``nfe`` the
        number of score evaluations (L·T, +1 with ``final_denoise``).

    Example:
        >>> out = annealed_langevin(lambda x, s: -x, torch.randn(500, 2), [1.0],
        ...                         steps_per_level=200, step_lr=0.1, final_denoise=False)
        >>> round(out.x.var().item(), 1)   # ULA on N(0, I): variance ≈ 1
        1.0
    """
    levels = torch.as_tensor(sigmas, dtype=torch.float64).flatten().tolist()
    if not levels or min(levels) <= 0:
        raise InvalidInputError("sigmas must be a non-empty sequence of positive noise levels")
    if steps_per_level < 1 or (step_lr is not None and step_lr <= 0):
        raise InvalidInputError("steps_per_level must be ≥ 1 and step_lr > 0")
    if step_lr is None:
        step_lr = langevin_step_size(levels, steps_per_level)
    start = time.perf_counter()
    x = x_init.clone()
    n = x.shape[0]
    sigma_L = levels[-1]
    i = 0
    for sigma in levels:
        alpha = step_lr * (sigma / sigma_L) ** 2
        sigma_vec = x.new_full((n,), sigma)
        for _ in range(steps_per_level):
            z = noise_like(x, generator)
            s = score_fn(x, sigma_vec)
            denoised = x + sigma**2 * s if callback is not None else x  # Tweedie at x
            x = x + 0.5 * alpha * s + math.sqrt(alpha) * z
            report(callback, i, x, sigma, denoised)
            i += 1
    nfe = i
    if final_denoise:
        x = x + sigma_L**2 * score_fn(x, x.new_full((n,), sigma_L))
        nfe += 1
    return Samples(x, nfe=nfe, seconds=time.perf_counter() - start)
