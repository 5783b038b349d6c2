"""Writing pictures: matplotlib figures, PNG arrays and GIFs, each atomically (`genmodels.io`).

Every figure genmodels draws leaves through one of these three writers, so a reader never
sees half a file and no fixed temporary name is ever used. matplotlib runs on the Agg
backend (no display needed).

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> frames = [np.full((8, 8, 3), v, np.uint8) for v in (0, 128, 255)]
    >>> save_gif(frames, d / "a.gif").name
    'a.gif'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genmodels.errors import InvalidInputError
from genmodels.io import atomic_path

__all__ = ["canvas_rgb", "pyplot", "save_figure", "save_gif", "save_png"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, imported on first use (it is slow to load)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def canvas_rgb(fig: Any) -> np.ndarray:
    """The figure as drawn now, as an RGB array ``[H, W, 3]`` (uint8): one animation frame."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def save_figure(
    fig: Any, path: str | Path, *, dpi: float | None = None, tight: bool = False
) -> Path:
    """Save a matplotlib figure (format from the suffix) atomically and close it.

    Args:
        fig: the figure.
        path: where to write.
        dpi: resolution; the figure's own when None.
        tight: crop to the drawn content (``bbox_inches="tight"``).
    """
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(
                tmp, dpi=dpi if dpi is not None else fig.dpi, bbox_inches="tight" if tight else None
            )
    finally:
        pyplot().close(fig)
    return path


def save_png(image: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 array ``[H, W]`` (grey) or ``[H, W, 3]`` (RGB) as a PNG, atomically."""
    from PIL import Image

    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
    return path


def save_gif(
    frames: Sequence[np.ndarray],
    path: str | Path,
    *,
    fps: int = 10,
    last_frame_seconds: float = 1.5,
) -> Path:
    """Write RGB frames ``[H, W, 3]`` (uint8) as a looping GIF, atomically.

    Args:
        frames: the frames, in order.
        path: the ``.gif`` to write.
        fps: frames per second.
        last_frame_seconds: how long the last frame stays up (longer than the others: the
            end state is the point of most animations).
    """
    from PIL import Image

    if not frames:
        raise InvalidInputError("no frames to animate")
    images = [Image.fromarray(f) for f in frames]
    durations = [1000 // fps] * (len(images) - 1) + [round(1000 * last_frame_seconds)]
    path = Path(path)
    with atomic_path(path) as tmp:
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0
        )
    return path
