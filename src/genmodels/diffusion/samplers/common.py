"""What every diffusion sampler shares: counting network evaluations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

__all__ = ["Callback", "NFECounter"]

Callback = Callable[[int, Tensor], None]
"""``callback(i, x_i)``: called after step ``i`` with the current state (for animations)."""


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
