"""What every diffusion sampler shares: the callback state, NFE counting, noise draws.

Device policy for random draws (`noise_like`): noise is drawn on the *generator's* device (the
CPU for None or a CPU generator) in the dtype of the tensor it joins, then moved to that
tensor's device. So a seeded CPU generator — what the CLI and the tests pass — gives the same
noise stream whether the model runs on the CPU or on a GPU, and a generator on the model's
device costs no copy. Every sampler here draws through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

import torch
from torch import Tensor

__all__ = ["Callback", "NFECounter", "StepState", "noise_like", "report"]


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


def noise_like(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """z ~ N(0, I) shaped like ``x``, on ``x``'s device and dtype (see the module docstring).

    Example:
        >>> a = noise_like(torch.zeros(2, 3), torch.Generator().manual_seed(0))
        >>> torch.equal(a, torch.randn(2, 3, generator=torch.Generator().manual_seed(0)))
        True
    """
    device = generator.device if generator is not None else x.device
    z = torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype)
    return z.to(x.device)


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
