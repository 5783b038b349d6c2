"""`Samples`: what every sampler returns, with what it cost."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genmodels.errors import InvalidInputError
from genmodels.io import atomic_path

__all__ = ["Samples", "load_samples"]


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


def load_samples(path: str | Path) -> Samples:
    """Read an ``.npz`` written by `Samples.save` (or any npz with an array ``x``)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "x" not in data:
                raise InvalidInputError(
                    f"{path} has no array 'x' (found: {', '.join(data.files) or 'nothing'})"
                )
            x = torch.as_tensor(np.asarray(data["x"], dtype=np.float32))
            chains = int(data["chains"]) if "chains" in data else None
            nfe = int(data["nfe"]) if "nfe" in data else 0
            seconds = float(data["seconds"]) if "seconds" in data else 0.0
            info = {k[5:]: float(data[k]) for k in data.files if k.startswith("info_")}
    except (OSError, ValueError) as e:
        raise InvalidInputError(f"cannot read {path} as .npz: {e}") from None
    return Samples(x, chains=chains, nfe=nfe, seconds=seconds, info=info)
