"""Explicit conversions between the four things a diffusion network can predict.

Every process in this package perturbs data along a Gaussian path

    x_t = α_t · x₀ + σ_t · ε,        ε ~ N(0, I),

so a prediction of any one of ε (noise), x₀ (data), v (Salimans & Ho 2022) or the score
∇ log p_t(x_t) determines the others. Networks predict one of them; samplers ask for the one
their update rule is written in, through these functions — never through ad-hoc algebra.

Notation (code name -> paper name): ``x_t`` -> x_t, ``alpha`` -> α_t, ``sigma`` -> σ_t,
``eps`` -> ε̂, ``x0`` -> x̂₀, ``v`` -> v̂ = α_t ε − σ_t x₀, ``score`` -> ∇ₓ log p_t(x_t).

EDM coordinates (Karras et al. 2022, §2): dividing by α_t gives x̂ = x_t/α_t = x₀ + σ̂ ε with
σ̂ = σ_t/α_t, the variance-exploding form every ODE sampler here works in; the *denoiser*
D(x̂; σ̂) is the x₀ prediction and the score of x̂ is (D − x̂)/σ̂² = −ε̂/σ̂.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from genmodels.errors import InvalidInputError

__all__ = [
    "PREDICTIONS",
    "Parameterization",
    "Prediction",
    "append_dims",
    "denoiser_to_score",
    "dynamic_threshold",
    "eps_to_score",
    "eps_to_x0",
    "prediction_target",
    "prediction_to_x0_eps",
    "score_to_eps",
    "v_to_eps",
    "v_to_x0",
    "x0_to_eps",
    "x0_to_v",
]


def append_dims(c: Tensor | float, ndim: int) -> Tensor | float:
    """Give a per-sample coefficient ``[B]`` trailing singleton dims to broadcast on ``[B, ...]``.

    Example:
        >>> append_dims(torch.ones(4), 3).shape
        torch.Size([4, 1, 1])
    """
    if not isinstance(c, Tensor) or c.ndim == 0:
        return c
    return c.reshape(*c.shape, *([1] * (ndim - c.ndim)))


def eps_to_x0(x_t: Tensor, eps: Tensor, alpha: Tensor | float, sigma: Tensor | float) -> Tensor:
    """x̂₀ = (x_t − σ_t ε̂) / α_t  (Ho et al. 2020, eq. 15)."""
    return (x_t - append_dims(sigma, x_t.ndim) * eps) / append_dims(alpha, x_t.ndim)


def x0_to_eps(x_t: Tensor, x0: Tensor, alpha: Tensor | float, sigma: Tensor | float) -> Tensor:
    """ε̂ = (x_t − α_t x̂₀) / σ_t."""
    return (x_t - append_dims(alpha, x_t.ndim) * x0) / append_dims(sigma, x_t.ndim)


def eps_to_score(eps: Tensor, sigma: Tensor | float) -> Tensor:
    """∇ log p_t(x_t) = −ε̂ / σ_t: the ε-network *is* a score network (Song et al. 2021, App. B)."""
    return -eps / append_dims(sigma, eps.ndim)


def score_to_eps(score: Tensor, sigma: Tensor | float) -> Tensor:
    """ε̂ = −σ_t ∇ log p_t(x_t)."""
    return -append_dims(sigma, score.ndim) * score


def x0_to_v(x_t: Tensor, x0: Tensor, alpha: Tensor | float, sigma: Tensor | float) -> Tensor:
    """v̂ = α_t ε̂ − σ_t x̂₀ with ε̂ from `x0_to_eps` (Salimans & Ho 2022, §4)."""
    eps = x0_to_eps(x_t, x0, alpha, sigma)
    return append_dims(alpha, x_t.ndim) * eps - append_dims(sigma, x_t.ndim) * x0


def v_to_x0(x_t: Tensor, v: Tensor, alpha: Tensor | float, sigma: Tensor | float) -> Tensor:
    """x̂₀ = (α_t x_t − σ_t v̂) / (α_t² + σ_t²)  (= α_t x_t − σ_t v̂ on variance-preserving paths)."""
    a, s = append_dims(alpha, x_t.ndim), append_dims(sigma, x_t.ndim)
    return (a * x_t - s * v) / (a * a + s * s)


def v_to_eps(x_t: Tensor, v: Tensor, alpha: Tensor | float, sigma: Tensor | float) -> Tensor:
    """ε̂ = (σ_t x_t + α_t v̂) / (α_t² + σ_t²)."""
    a, s = append_dims(alpha, x_t.ndim), append_dims(sigma, x_t.ndim)
    return (s * x_t + a * v) / (a * a + s * s)


def denoiser_to_score(x_hat: Tensor, denoised: Tensor, sigma_hat: Tensor | float) -> Tensor:
    """Score of the EDM variable x̂ = x₀ + σ̂ ε: ∇ log p(x̂; σ̂) = (D(x̂; σ̂) − x̂) / σ̂²  (EDM eq. 3)."""
    return (denoised - x_hat) / append_dims(sigma_hat, x_hat.ndim) ** 2


def dynamic_threshold(x0: Tensor, percentile: float) -> Tensor:
    """Imagen's dynamic thresholding of x̂₀ for data in [−1, 1] (Saharia et al. 2022, §2.3).

    Per sample, s = max(the ``percentile`` quantile of |x̂₀|, 1); x̂₀ is clamped to [−s, s]
    and divided by s, so saturated pixels are pushed inwards instead of piling up at ±1.
    For image data only; an option (`DDPMConfig.dynamic_threshold`), never a default.

    Example:
        >>> dynamic_threshold(torch.tensor([[0.5, 3.0]]), 1.0)
        tensor([[0.1667, 1.0000]])
    """
    flat = x0.flatten(1).abs()
    s = torch.quantile(flat.float(), percentile, dim=1).to(x0.dtype).clamp(min=1.0)
    s = append_dims(s, x0.ndim)
    return x0.clamp(-s, s) / s


# ---- what a network predicts: one table for the loss target and for sampling ------------

Parameterization = Literal["eps", "x0", "v"]
Coef = Tensor | float


class Prediction(NamedTuple):
    """One parameterisation: its regression target and its inverse.

    Attributes:
        target: ``target(x0, eps, alpha, sigma)``, what the network is trained to output.
        to_x0_eps: ``to_x0_eps(x_t, out, alpha, sigma) -> (x̂₀, ε̂)`` from a network output.
    """

    target: Callable[[Tensor, Tensor, Coef, Coef], Tensor]
    to_x0_eps: Callable[[Tensor, Tensor, Coef, Coef], tuple[Tensor, Tensor]]


PREDICTIONS: dict[str, Prediction] = {
    "eps": Prediction(  # Ho et al. 2020
        lambda x0, eps, a, s: eps,
        lambda x_t, out, a, s: (eps_to_x0(x_t, out, a, s), out),
    ),
    "x0": Prediction(
        lambda x0, eps, a, s: x0,
        lambda x_t, out, a, s: (out, x0_to_eps(x_t, out, a, s)),
    ),
    "v": Prediction(  # Salimans & Ho 2022: v = α ε − σ x₀
        lambda x0, eps, a, s: append_dims(a, x0.ndim) * eps - append_dims(s, x0.ndim) * x0,
        lambda x_t, out, a, s: (v_to_x0(x_t, out, a, s), v_to_eps(x_t, out, a, s)),
    ),
}
"""parameterisation name → `Prediction`."""


def _prediction(parameterization: str) -> Prediction:
    try:
        return PREDICTIONS[parameterization]
    except KeyError:
        raise InvalidInputError(
            f"unknown parameterization {parameterization!r} ({', '.join(PREDICTIONS)})"
        ) from None


def prediction_target(
    parameterization: str, x_0: Tensor, eps: Tensor, alpha: Coef, sigma: Coef
) -> Tensor:
    """The regression target: ε (Ho et al. 2020), x₀, or v = α ε − σ x₀ (Salimans & Ho 2022).

    Example:
        >>> prediction_target("x0", torch.ones(2, 1), torch.zeros(2, 1), 1.0, 0.0).flatten()
        tensor([1., 1.])
    """
    return _prediction(parameterization).target(x_0, eps, alpha, sigma)


def prediction_to_x0_eps(
    parameterization: str, x_t: Tensor, out: Tensor, alpha: Coef, sigma: Coef
) -> tuple[Tensor, Tensor]:
    """(x̂₀, ε̂) from a network output ``out`` that predicts ``parameterization``."""
    return _prediction(parameterization).to_x0_eps(x_t, out, alpha, sigma)
