"""Random draws under one device policy, for every sampler, loss and estimator here.

A draw is made on the *generator's* device (the CPU for a CPU generator; the tensor's own
device when no generator is given) in the dtype of the tensor it joins, then moved to that
tensor's device. So a seeded CPU generator — what the CLI and the tests pass — gives the same
stream whether the model runs on the CPU or on a GPU, and a generator on the model's device
costs no copy.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["model_tensor", "noise_like", "rademacher_like", "uniform_like"]


def model_tensor(model: torch.nn.Module) -> Tensor:
    """An empty tensor on ``model``'s device and in its dtype: its first parameter's, else its
    first floating buffer's, else the CPU in the default dtype (a model around an analytic
    score may have no parameters at all).

    Example:
        >>> model_tensor(torch.nn.Module()).device.type
        'cpu'
    """
    for t in model.parameters():
        return t.new_empty(0)
    for t in model.buffers():
        if t.is_floating_point():
            return t.new_empty(0)
    return torch.empty(0)


def _device(x: Tensor, generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else x.device


def noise_like(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """z ~ N(0, I) shaped like ``x``, on ``x``'s device and dtype.

    Example:
        >>> a = noise_like(torch.zeros(2, 3), torch.Generator().manual_seed(0))
        >>> torch.equal(a, torch.randn(2, 3, generator=torch.Generator().manual_seed(0)))
        True
    """
    z = torch.randn(x.shape, generator=generator, device=_device(x, generator), dtype=x.dtype)
    return z.to(x.device)


def uniform_like(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """u ~ U[0, 1) shaped like ``x``, on ``x``'s device and dtype."""
    u = torch.rand(x.shape, generator=generator, device=_device(x, generator), dtype=x.dtype)
    return u.to(x.device)


def rademacher_like(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """±1 with probability ½ each, shaped like ``x``, on ``x``'s device and dtype."""
    v = torch.randint(0, 2, x.shape, generator=generator, device=_device(x, generator))
    return v.to(device=x.device, dtype=x.dtype) * 2 - 1
