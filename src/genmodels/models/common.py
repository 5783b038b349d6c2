"""Pieces the maps share: standardisation, dequantisation, sampler-option checks."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from genmodels.errors import InvalidInputError

__all__ = [
    "Standardize",
    "bin_width",
    "check_map_sample_options",
    "dequantize",
    "discrete_log_likelihood_offset",
]


def bin_width(num_levels: int) -> float:
    """Width δ of one intensity level when ``num_levels`` levels span [-1, 1]: 2 / (L − 1)."""
    return 2.0 / (num_levels - 1)


def dequantize(x: Tensor, num_levels: int, generator: torch.Generator | None = None) -> Tensor:
    """Uniform dequantisation: ``x + u``, ``u ~ U(−δ/2, δ/2)`` with δ = `bin_width`.

    A density ``p`` on the dequantised data bounds the discrete likelihood:
    ``log P(x) ≥ E_u[log p(x + u)] + D log δ`` (Theis et al. 2016), see
    `discrete_log_likelihood_offset`.
    """
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) - 0.5
    return x + bin_width(num_levels) * u


def discrete_log_likelihood_offset(dim: int, num_levels: int) -> float:
    """``D log δ``: add to a continuous log-density of dequantised data to get log P(x)."""
    return dim * math.log(bin_width(num_levels))


def check_map_sample_options(
    method: str, options: dict[str, Any], *, trajectory: bool = False
) -> None:
    """Maps sample in one pass: reject sampler options meant for iterative samplers.

    ``callback`` (a trajectory hook ``callback(i, x_i)``) is accepted only by maps that have a
    trajectory to show (``trajectory=True``, e.g. a flow's layers).
    """
    if options.get("callback") is not None and not trajectory:
        raise InvalidInputError(f"{method} samples in one pass and has no trajectory to animate")
    for key in ("sampler", "steps"):
        if options.get(key) is not None:
            raise InvalidInputError(
                f"{method} samples in one pass; it takes no --{key} (that is for diffusion models)"
            )
    unknown = set(options) - {"sampler", "steps", "callback"}
    if unknown:
        raise InvalidInputError(f"{method} does not take sample option(s) {sorted(unknown)}")


class Standardize(nn.Module):
    """A fixed affine map ``y = (x − shift) / scale``, set from data once before training.

    Args:
        event_shape: shape of one point.
        per_dim: one scale per coordinate (vectors) or one scalar scale (images).
    """

    def __init__(self, event_shape: tuple[int, ...], per_dim: bool = True) -> None:
        super().__init__()
        shape = event_shape if per_dim else (1,) * len(event_shape)
        self.register_buffer("shift", torch.zeros(shape))
        self.register_buffer("scale", torch.ones(shape))
        self.per_dim = per_dim
        self.dim = math.prod(event_shape)

    @torch.no_grad()
    def fit(self, x: Tensor) -> None:
        """Set shift and scale to the mean and standard deviation of ``x [B, *event]``."""
        if self.per_dim:
            self.shift.copy_(x.mean(0))
            self.scale.copy_(x.std(0).clamp_min(1e-3))
        else:
            self.shift.fill_(float(x.mean()))
            self.scale.fill_(float(x.std().clamp_min(1e-3)))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.shift) / self.scale

    def inverse(self, y: Tensor) -> Tensor:
        return y * self.scale + self.shift

    def log_abs_det(self) -> Tensor:
        """``log |det ∂y/∂x|`` of the forward map (a scalar)."""
        per = -torch.log(self.scale).sum()
        return per if self.per_dim else per * self.dim
