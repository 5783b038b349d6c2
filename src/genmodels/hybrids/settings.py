"""Typed settings of the chain+map hybrids (the catalogue's settings of `flow_mh` and
`neutra_hmc`): the chains' run settings plus the flow fit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from genmodels.hybrids.flow_fit import FlowFitConfig
from genmodels.mcmc.settings import check_run

__all__ = ["FlowMHSettings", "NeutraSettings"]


@dataclass
class FlowMHSettings:
    """`flow_mh`: a fitted flow as the independence proposal of Metropolis–Hastings.

    Attributes:
        chains, draws, warmup: the chains' layout and length.
        fit: how the flow is fitted (`FlowFitConfig`).
    """

    chains: int = 4
    draws: int = 1000
    warmup: int = 100
    fit: FlowFitConfig = field(default_factory=FlowFitConfig)

    def __post_init__(self) -> None:
        check_run(self)


@dataclass
class NeutraSettings:
    """`neutra_hmc`: HMC or NUTS in a fitted flow's latent space.

    Attributes:
        chains, draws, warmup: the chains' layout and length.
        sampler: the latent-space kernel (``hmc`` or ``nuts``). HMC by default: in the
            latent space the density is near N(0, I), where one trajectory length fits
            everywhere, while batched NUTS waits for the deepest tree of all chains at
            every draw, each gradient passing the flow.
        kernel_options: keyword arguments of that kernel.
        fit: how the flow is fitted (`FlowFitConfig`).
    """

    chains: int = 4
    draws: int = 1000
    warmup: int = 500
    sampler: str = "hmc"
    kernel_options: dict[str, Any] = field(default_factory=dict)
    fit: FlowFitConfig = field(default_factory=FlowFitConfig)

    def __post_init__(self) -> None:
        check_run(self)
