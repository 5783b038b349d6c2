"""Image data sets: samples only. The bundled default is scikit-learn's 8×8 digits.

Images are float tensors ``[N, C, H, W]`` in [−1, 1]. Other data sets load from an image
folder (Pillow) or an ``.npz`` array file; torchvision data sets can be wrapped with
`ImageDataset.from_arrays`.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from genmodels.errors import InvalidInputError
from genmodels.samples import check_npz_magic
from genmodels.targets.base import (
    TARGETS,
    Target,
    check_test_size,
    draw_device,
    register_path_loader,
)

__all__ = [
    "ImageDataset",
    "check_label_array",
    "digits",
    "load_image_folder",
    "load_image_path",
    "load_npz_images",
]

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


class ImageDataset(Target):
    """A fixed train/test split of images in [−1, 1], with optional integer labels.

    `sample` draws from the train split with replacement; `test_set` returns the test split.

    Example:
        >>> ds = ImageDataset.from_arrays(np.zeros((10, 4, 4), np.uint8), test_fraction=0.2)
        >>> ds.event_shape, ds.num_levels, len(ds.test_x)
        ((1, 4, 4), 256, 2)
    """

    kind: ClassVar[str] = "image"

    def __init__(
        self,
        train_x: Tensor,
        test_x: Tensor,
        train_y: Tensor | None = None,
        test_y: Tensor | None = None,
        num_levels: int | None = None,
        class_names: list[str] | None = None,
    ) -> None:
        if train_x.ndim != 4 or test_x.shape[1:] != train_x.shape[1:]:
            raise InvalidInputError(
                f"images must be [N, C, H, W] with equal shapes, got {tuple(train_x.shape)} "
                f"and {tuple(test_x.shape)}"
            )
        self.train_x, self.test_x = train_x.float(), test_x.float()
        self.train_y, self.test_y = train_y, test_y
        self.event_shape = tuple(train_x.shape[1:])
        self.num_levels = num_levels
        self.class_names = class_names

    @property
    def num_classes(self) -> int:
        return 0 if self.train_y is None else int(self.train_y.max()) + 1

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.train_x[self._draw_indices(n, generator)].to(draw_device(generator))

    def _draw_indices(self, n: int, generator: torch.Generator | None) -> Tensor:
        """Indices into the train split, drawn on `draw_device`, moved to where the data is."""
        idx = torch.randint(
            0, len(self.train_x), (n,), generator=generator, device=draw_device(generator)
        )
        return idx.to(self.train_x.device)

    def sample_labelled(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Images and their labels, for class-conditional models."""
        if self.train_y is None:
            raise InvalidInputError(f"data set {self.name!r} has no labels")
        idx, device = self._draw_indices(n, generator), draw_device(generator)
        return self.train_x[idx].to(device), self.train_y[idx.to(self.train_y.device)].to(device)

    def test_set(self, n: int = 10_000) -> Tensor:
        check_test_size(self, n)
        return self.test_x[:n]

    @classmethod
    def from_arrays(
        cls,
        images: np.ndarray,
        labels: np.ndarray | None = None,
        *,
        test_fraction: float = 0.2,
        seed: int = 0,
        num_levels: int | None = None,
        class_names: list[str] | None = None,
    ) -> ImageDataset:
        """Build from ``[N, H, W]``, ``[N, H, W, C]`` (C ≤ 4) or ``[N, C, H, W]`` arrays.

        ``uint8`` arrays are read as 256 levels in [0, 255]; float arrays must lie in
        [0, 1] or [−1, 1]. The split is a fixed-seed permutation.
        """
        x = _image_stack(images)
        if x.dtype == np.uint8:
            x, num_levels = x.astype(np.float32) / 127.5 - 1.0, num_levels or 256
        else:
            x = x.astype(np.float32)
            if not np.isfinite(x).all() or x.min() < -1 or x.max() > 1:
                raise InvalidInputError("float images must be finite and in [0, 1] or [-1, 1]")
            if x.min() >= 0:
                x = 2 * x - 1
        perm = np.random.default_rng(seed).permutation(len(x))
        n_test = max(1, round(test_fraction * len(x)))
        test, train = perm[:n_test], perm[n_test:]
        y = None if labels is None else torch.as_tensor(check_label_array(labels, len(x)))
        xt = torch.from_numpy(x)
        return cls(
            xt[train],
            xt[test],
            None if y is None else y[train],
            None if y is None else y[test],
            num_levels,
            class_names,
        )


MIN_SIDE = 4
"""The smallest image side the conv nets take (each down-sampling halves it)."""


def _image_stack(images: np.ndarray) -> np.ndarray:
    """``images`` as ``[N, C, H, W]`` (from ``[N, H, W]`` or ``[N, H, W, C]``), refused in
    one line when it is no stack of at least 2 real-valued images of side >= `MIN_SIDE`."""
    x = np.asarray(images)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise InvalidInputError(f"images must be numbers, got an array of {x.dtype}")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] <= 4 and x.shape[1] > 4:
        x = x.transpose(0, 3, 1, 2)  # NHWC → NCHW
    if x.ndim != 4 or len(x) < 2:
        raise InvalidInputError(
            f"expected a stack of ≥ 2 images [N, H, W], [N, H, W, C] or [N, C, H, W], "
            f"got shape {tuple(np.shape(images))}"
        )
    if min(x.shape[2:]) < MIN_SIDE:
        raise InvalidInputError(
            f"images must be at least {MIN_SIDE}×{MIN_SIDE} pixels, got "
            f"{x.shape[2]}×{x.shape[3]} (shape {tuple(np.shape(images))})"
        )
    return x


def check_label_array(labels: np.ndarray, n: int) -> np.ndarray:
    """``labels`` as int64 ``[n]`` of class indices 0..K−1 (one per image or data row),
    refused in one line when 2-D, of another length, non-integral (NaN included) or negative."""
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != n:
        raise InvalidInputError(
            f"labels must be one integer per image or row, shape [{n}], got shape {y.shape}"
        )
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise InvalidInputError(f"labels must be integers 0..K-1, got an array of {y.dtype}")
    floating = np.issubdtype(y.dtype, np.floating)
    if floating and (not np.isfinite(y).all() or (y != np.round(y)).any()):
        raise InvalidInputError("labels must be integers 0..K-1, got non-integral values (NaN?)")
    if n and y.min() < 0:
        raise InvalidInputError(f"labels must be integers 0..K-1, got {int(y.min())}")
    return y.astype(np.int64)


def _read_image(path: Path, mode: str, size: int) -> np.ndarray:
    """One image file as ``[size, size(, C)]``; an unreadable file or a decompression bomb
    (more pixels than Pillow's ``MAX_IMAGE_PIXELS``) is one `InvalidInputError`."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return np.asarray(im.convert(mode).resize((size, size), Image.BILINEAR))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidInputError(
            f"{path} is too large to decode safely (more than Pillow's MAX_IMAGE_PIXELS = "
            f"{Image.MAX_IMAGE_PIXELS} pixels)"
        ) from None
    except (OSError, ValueError, SyntaxError) as e:
        raise InvalidInputError(f"cannot read image {path}: {e}") from None


@TARGETS.register("digits")
def digits() -> ImageDataset:
    """scikit-learn's bundled 8×8 digits: 1,797 images, 17 grey levels, 10 labels.

    Scaled to [−1, 1] as ``x / 8 − 1``; a fixed 80/20 split (seed 0).
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    images = d.images.astype(np.float32) / 16.0  # 17 levels 0..16 → [0, 1]
    return ImageDataset.from_arrays(images, d.target, num_levels=17)


def load_image_folder(
    path: str | Path, size: int = 32, *, grayscale: bool = False, test_fraction: float = 0.2
) -> ImageDataset:
    """Images under ``path`` (recursively), resized to ``size × size`` with Pillow.

    Sub-folders directly under ``path`` become class labels (ImageNet-folder layout) when
    every image lies in one; otherwise the images are unlabelled.
    """
    root = Path(path)
    if not root.is_dir():
        raise InvalidInputError(f"no such image folder: {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
    if len(files) < 2:
        raise InvalidInputError(f"found {len(files)} images under {root}; need at least 2")
    mode = "L" if grayscale else "RGB"
    if not isinstance(size, int) or size < MIN_SIDE:
        raise InvalidInputError(f"size must be an integer >= {MIN_SIDE}, got {size!r}")
    arrays = [_read_image(f, mode, size) for f in files]
    labels, names = None, None
    parents = [f.parent for f in files]
    if all(p.parent == root for p in parents):
        names = sorted({p.name for p in parents})
        labels = np.array([names.index(p.name) for p in parents])
    return ImageDataset.from_arrays(
        np.stack(arrays), labels, test_fraction=test_fraction, class_names=names
    )


def load_npz_images(path: str | Path, *, key: str = "x", label_key: str = "y") -> ImageDataset:
    """Images from an ``.npz`` file: array ``key`` (and labels ``label_key`` if present)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"no such file: {path}")
    check_npz_magic(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if key not in data:
                raise InvalidInputError(f"{path} has no array {key!r}")
            images = data[key]
            labels = data.get(label_key, None)
    except (OSError, ValueError, EOFError) as e:
        raise InvalidInputError(f"cannot read {path} as .npz: {e}") from None
    return ImageDataset.from_arrays(images, labels)


@register_path_loader
def load_image_path(path: Path, **kwargs: object) -> ImageDataset | None:
    """An image folder as a target (None for any other path), so that
    ``get_target("path/to/images")`` works. Array files (``.npz``, ``.npy``, ``.csv``) of
    images or vectors are `genmodels.targets.data.load_data_path`'s."""
    if path.is_dir():
        return load_image_folder(path, **kwargs)  # type: ignore[arg-type]
    return None
