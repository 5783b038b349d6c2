"""`ChainSettings`: how long and how wide a chain method runs (the catalogue's settings of
every chain kernel; ``genmodels compare`` and ``genmodels mcmc`` fill it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChainSettings"]


@dataclass
class ChainSettings:
    """Run settings of a chain kernel.

    Attributes:
        chains: chains run together (the leading batch dimension).
        draws: draws per chain after warm-up.
        warmup: warm-up iterations per chain (step size and mass matrix adaptation).
        kernel_options: keyword arguments of the kernel (e.g. ``{"num_steps": 20}`` for HMC).
    """

    chains: int = 4
    draws: int = 1000
    warmup: int = 500
    kernel_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("chains", "draws"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")
