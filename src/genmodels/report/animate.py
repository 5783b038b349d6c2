"""Trajectories as GIFs: scatter frames for 2-D samples, image grids for images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch import Tensor

from genmodels.errors import InvalidInputError
from genmodels.report.figure import canvas_rgb, pyplot, save_gif, save_png
from genmodels.report.grid import image_grid

__all__ = ["save_animation", "save_scatter", "scatter_frame"]


def _limits(frames: Sequence[Tensor]) -> tuple[float, float, float, float]:
    last = frames[-1].detach().float().cpu()
    lo = np.quantile(last.numpy(), 0.005, axis=0)
    hi = np.quantile(last.numpy(), 0.995, axis=0)
    pad = 0.15 * (hi - lo) + 1e-3
    x0, x1 = float(lo[0] - pad[0]), float(hi[0] + pad[0])
    return x0, x1, float(lo[1] - pad[1]), float(hi[1] + pad[1])


def scatter_frame(
    x: Tensor, limits: tuple[float, float, float, float] | None = None, title: str = ""
) -> np.ndarray:
    """Render 2-D points ``[n, 2]`` as an RGB array ``[H, W, 3]`` (matplotlib, Agg)."""
    plt = pyplot()
    pts = x.detach().float().cpu().numpy()
    fig, ax = plt.subplots(figsize=(4, 4), dpi=80)
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5, color="tab:blue", linewidths=0)
    if limits is not None:
        ax.set_xlim(limits[0], limits[1])
        ax.set_ylim(limits[2], limits[3])
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    frame = canvas_rgb(fig)
    plt.close(fig)
    return frame


def save_scatter(x: Tensor, path: str | Path, title: str = "") -> Path:
    """Write a scatter plot of 2-D samples ``[n, 2]`` as a PNG, atomically."""
    return save_png(scatter_frame(x, _limits([x]), title), path)


def thin_frames(frames: Sequence[Tensor], max_frames: int) -> list[Tensor]:
    """At most ``max_frames`` of ``frames``, evenly spaced, the first and the last kept."""
    if len(frames) <= max_frames:
        return list(frames)
    idx = np.unique(np.linspace(0, len(frames) - 1, max_frames).round().astype(int))
    return [frames[i] for i in idx]


def save_animation(
    frames: Sequence[Tensor],
    path: str | Path,
    *,
    fps: int = 10,
    titles: Sequence[str] | None = None,
    nrow: int = 8,
    max_frames: int | None = None,
) -> Path:
    """Write a trajectory as a GIF, atomically.

    Args:
        frames: states along the trajectory, each ``[n, 2]`` (scatter) or ``[n, C, H, W]``
            (image grid); axis limits come from the last frame.
        path: the ``.gif`` to write.
        fps: frames per second; the last frame is held for a second.
        titles: optional per-frame titles (scatter only).
        nrow: images per grid row.
        max_frames: draw at most this many frames, evenly spaced (`thin_frames`; None: all);
            per-frame ``titles`` are thinned with them.

    Returns:
        the path written.

    Example:
        >>> import torch  # doctest: +SKIP
        >>> save_animation([torch.randn(100, 2) * s for s in (3, 2, 1)], "t.gif")  # doctest: +SKIP
    """
    if not frames:
        raise InvalidInputError("no frames to animate")
    if max_frames is not None:
        if titles is not None:
            pairs = thin_frames(list(zip(frames, titles, strict=True)), max_frames)
            frames, titles = [f for f, _ in pairs], [t for _, t in pairs]
        else:
            frames = thin_frames(frames, max_frames)
    first = frames[0]
    if first.ndim == 2 and first.shape[-1] == 2:
        limits = _limits(frames)
        images = [
            scatter_frame(f, limits, titles[i] if titles else "") for i, f in enumerate(frames)
        ]
    elif first.ndim == 4:
        images = [image_grid(f[: nrow * nrow], nrow) for f in frames]
    else:
        raise InvalidInputError(
            f"can animate [n, 2] points or [n, C, H, W] images, got {tuple(first.shape)}"
        )
    return save_gif(images, path, fps=fps, last_frame_seconds=1 + 1 / fps)
