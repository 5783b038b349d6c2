"""`Samples`: what every sampler returns, with what it cost."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genmodels.errors import InvalidInputError
from genmodels.io import atomic_path

__all__ = ["Samples", "check_npz_magic", "load_samples"]


@dataclass
class Samples:
    """Draws from a sampler, in one of two layouts.

    - independent draws: ``x`` has shape ``[n, *event_shape]`` and ``chains`` is ``None``;
    - chains: ``x`` has shape ``[chains, draws, *event_shape]`` (``chains`` is set).

    Attributes:
        x: the draws.
        chains: number of chains, when ``x`` is in chain layout.
        nfe: network or gradient evaluations spent in total (for chains: gradient evaluations).
        seconds: wall-clock seconds spent sampling.
        info: extra per-run statistics (acceptance rate, divergences, ...).

    Example:
        >>> s = Samples(torch.zeros(4, 10, 2), chains=4, nfe=40, seconds=0.1)
        >>> s.flat().shape
        torch.Size([40, 2])
    """

    x: Tensor
    chains: int | None = None
    nfe: int = 0
    seconds: float = 0.0
    info: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.chains is not None and (self.x.ndim < 2 or self.x.shape[0] != self.chains):
            raise InvalidInputError(
                f"chain layout needs x of shape [chains={self.chains}, draws, ...], "
                f"got {tuple(self.x.shape)}"
            )

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[2:] if self.chains is not None else self.x.shape[1:])

    @property
    def n(self) -> int:
        return math.prod(self.x.shape[: self.x.ndim - len(self.event_shape)])

    def flat(self) -> Tensor:
        """All draws as ``[n, *event_shape]`` (chains concatenated)."""
        return self.x.reshape(self.n, *self.event_shape)

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` with ``x`` (and ``nfe``, ``seconds``, ``chains``), atomically."""
        arrays: dict[str, np.ndarray] = {
            "x": self.x.detach().cpu().numpy(),
            "nfe": np.asarray(self.nfe),
            "seconds": np.asarray(self.seconds),
        }
        if self.chains is not None:
            arrays["chains"] = np.asarray(self.chains)
        for key, value in self.info.items():
            arrays[f"info_{key}"] = np.asarray(value)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)


def _scalar(data: Any, key: str, path: Path, kind: type) -> Any:
    """Field ``key`` of an npz as one ``kind`` value (int or float), or a one-line error."""
    value = np.asarray(data[key])
    if value.shape != () or not (
        np.issubdtype(value.dtype, np.integer) or np.issubdtype(value.dtype, np.floating)
    ):
        raise InvalidInputError(
            f"{path}: field {key!r} must be a single number, got an array of {value.dtype} "
            f"with shape {value.shape}"
        )
    number = value.item()
    if kind is int and (not math.isfinite(number) or number != int(number) or number < 0):
        raise InvalidInputError(f"{path}: field {key!r} must be an integer >= 0, got {number}")
    return kind(number)


def _draws(data: Any, path: Path) -> Tensor:
    """Array ``x`` as float32, refused when it is not numeric or holds no draws."""
    x = np.asarray(data["x"])
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise InvalidInputError(f"{path}: array 'x' must hold numbers, got {x.dtype}")
    if x.ndim < 2 or x.shape[0] == 0 or x.size == 0:
        raise InvalidInputError(
            f"{path}: array 'x' must be [n, *event] with n >= 1, got shape {x.shape}"
        )
    return torch.as_tensor(x.astype(np.float32))


def check_npz_magic(path: Path) -> None:
    """Refuse in one line a file that is not a zip archive: a ``.npy`` renamed ``.npz``
    (numpy would return a bare array), an empty file, or any other bytes."""
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(b"\x93NUMPY"):
        raise InvalidInputError(f"{path} is a .npy array, not an .npz archive (save with np.savez)")
    if not head.startswith(b"PK"):
        what = "empty" if not head else "not an .npz archive"
        raise InvalidInputError(f"{path} is {what}; expected an .npz file with an array 'x'")


def _read_npz(path: Path) -> Samples:
    check_npz_magic(path)
    with np.load(path, allow_pickle=False) as data:
        if "x" not in data:
            found = ", ".join(data.files) or "nothing"
            raise InvalidInputError(f"{path} has no array 'x' (found: {found})")
        x = _draws(data, path)
        chains = _scalar(data, "chains", path, int) if "chains" in data else None
        nfe = _scalar(data, "nfe", path, int) if "nfe" in data else 0
        seconds = _scalar(data, "seconds", path, float) if "seconds" in data else 0.0
        info = {k[5:]: _scalar(data, k, path, float) for k in data.files if k.startswith("info_")}
    if chains is not None and (chains < 1 or x.ndim < 3 or x.shape[0] != chains):
        raise InvalidInputError(
            f"{path}: 'chains' = {chains} needs x of shape [{chains}, draws, *event], "
            f"got {tuple(x.shape)}"
        )
    return Samples(x, chains=chains, nfe=nfe, seconds=seconds, info=info)


def load_samples(path: str | Path) -> Samples:
    """Read an ``.npz`` written by `Samples.save` (or any npz with an array ``x``).

    Raises:
        InvalidInputError: a missing or unreadable file, a ``.npy`` or other file under an
            ``.npz`` name, no ``x``, or fields (``chains``, ``nfe``, ...) that are not single
            numbers — one line each.
    """
    path = Path(path)
    if not path.is_file():
        what = "a directory" if path.is_dir() else "no such file"
        raise InvalidInputError(f"{path}: {what}; expected an .npz file with an array 'x'")
    try:
        return _read_npz(path)
    except InvalidInputError:
        raise
    except (OSError, ValueError, EOFError, KeyError) as e:
        raise InvalidInputError(f"cannot read {path} as .npz: {e}") from None
