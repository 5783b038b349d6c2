"""What every diffusion sampler shares: the callback state, NFE counting, noise draws.

Every sampler draws its noise through `noise_like` (the device policy of `diffusion.draws`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypedDict

import torch
from torch import Tensor

from genmodels.diffusion.draws import noise_like
from genmodels.errors import InvalidInputError

__all__ = [
    "Callback",
    "NFECounter",
    "StepState",
    "as_levels",
    "check_eta",
    "noise_like",
    "report",
]


class StepState(TypedDict):
    """What a sampler's callback receives after step ``i`` (k-diffusion's shape).

    Keys:
        i: the step just taken (0-based).
        x: the state after it: x̂ in EDM coordinates for the ODE and Langevin solvers, x_t in
            native coordinates for the discrete and SDE samplers. (Through
            ``model.sample`` every family reports native x_t = α x̂, what an animation shows.)
        sigma: the noise level σ̂ of ``x`` (EDM's σ = σ_t/α_t; 0 at the end).
        denoised: the x₀ estimate the step was computed from.
    """

    i: int
    x: Tensor
    sigma: float
    denoised: Tensor


Callback = Callable[[StepState], Any]
"""``callback({"i", "x", "sigma", "denoised"})`` after each step (see `StepState`)."""


def report(callback: Callback | None, i: int, x: Tensor, sigma: float, denoised: Tensor) -> None:
    """Call ``callback`` (if any) with the `StepState` of step ``i``."""
    if callback is not None:
        callback({"i": i, "x": x, "sigma": float(sigma), "denoised": denoised})


class NFECounter:
    """Wraps a network function and counts its calls: one call on a batch is one NFE.

    Samplers stay plain functions of a callable; whoever runs them wraps the network once
    and reads ``.nfe`` afterwards.

    Example:
        >>> f = NFECounter(lambda x, t: -x)
        >>> _ = f(torch.zeros(3, 2), torch.zeros(3)); _ = f(torch.zeros(3, 2), torch.zeros(3))
        >>> f.nfe
        2
    """

    def __init__(self, fn: Callable[..., Tensor]) -> None:
        self.fn = fn
        self.nfe = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        self.nfe += 1
        return self.fn(*args, **kwargs)


def check_eta(eta: float, high: float = 1.0) -> None:
    """Raise `InvalidInputError` unless η, the share of fresh noise of a stochastic step, is a
    number in [0, ``high``] (ancestral steps: at most the posterior's noise, η ≤ 1)."""
    if isinstance(eta, bool) or not isinstance(eta, int | float) or not 0 <= eta <= high:
        raise InvalidInputError(f"eta must be a number in [0, {high:g}], got {eta!r}")


def as_levels(sigmas: Sequence[float] | Tensor) -> list[float]:
    """A σ̂ grid as Python floats (float64), what the ODE solvers' step arithmetic runs on: the
    step coefficients are scalars, so only the tensor updates see the data's dtype."""
    return torch.as_tensor(sigmas, dtype=torch.float64).tolist()
