"""`ChainSettings`: how long and how wide a chain method runs (the catalogue's settings of
every chain kernel; ``genmodels compare`` and ``genmodels mcmc`` fill it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from genmodels.checks import at_least
from genmodels.errors import ConfigError

__all__ = ["ChainSettings", "check_run"]


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
        check_run(self)


def check_run(settings: Any) -> None:
    """``chains``, ``draws`` >= 1 and ``warmup`` >= 0 (the fields every chain method has);
    `ConfigError` names the field, the value and what is allowed."""
    at_least(settings, 1, "chains", "draws")
    at_least(settings, 0, "warmup")
    options = getattr(settings, "kernel_options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"kernel_options must be a table of kernel fields, got {options!r}")
