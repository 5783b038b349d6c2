"""Image grids as PNG files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from torch import Tensor

from genmodels.errors import InvalidInputError
from genmodels.report.figure import save_png

__all__ = ["image_grid", "save_image_grid"]


def image_grid(x: Tensor, nrow: int = 8, *, padding: int = 1, scale: int = 4) -> np.ndarray:
    """Tile images ``[n, C, H, W]`` with values in ``[-1, 1]`` into one uint8 array.

    Args:
        x: images, ``C`` in {1, 3}; values outside [-1, 1] are clipped.
        nrow: images per row.
        padding: pixels between tiles (before scaling).
        scale: nearest-neighbour upscaling factor (8x8 digits are tiny otherwise).

    Returns:
        ``[rows*(H+p)*scale, nrow*(W+p)*scale]`` (grey) or ``[..., ..., 3]`` (RGB) uint8.

    Example:
        >>> import torch
        >>> image_grid(torch.zeros(10, 1, 8, 8), nrow=5, scale=1).shape
        (19, 46)
    """
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise InvalidInputError(f"image grid needs [n, 1 or 3, H, W], got {tuple(x.shape)}")
    n, c, h, w = x.shape
    rows = math.ceil(n / nrow)
    pixels = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().cpu().numpy()
    grid = np.zeros((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top : top + h, left : left + w] = pixels[i]
    grid = grid.repeat(scale, axis=1).repeat(scale, axis=2)
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)  # (H', W') or (H', W', 3)


def save_image_grid(x: Tensor, path: str | Path, nrow: int = 8, **kwargs: int) -> Path:
    """Write `image_grid` of ``x`` as a PNG, atomically. Returns the path."""
    return save_png(image_grid(x, nrow, **kwargs), path)
