"""Normalising flows (RealNVP, MAF, NSF) built on zuko, with exact log-likelihood.

Notation: data x, base noise z ~ N(0, I); zuko's transform f maps x → z and
``log p(x) = log N(f(x); 0, I) + log |det ∂f/∂x|``. Images are flattened to vectors and
uniformly dequantised when the data are discrete (``num_levels``).

- RealNVP: affine coupling layers (Dinh et al. 2017);
- MAF: masked autoregressive affine layers (Papamakarios et al. 2017);
- NSF: MAF with monotonic rational-quadratic splines (Durkan et al. 2019).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import torch
import zuko
from torch import Tensor

from genmodels.catalogue import register_method
from genmodels.checks import at_least
from genmodels.memory import check_network_size
from genmodels.models.base import GenerativeModel, KindDefaults
from genmodels.models.common import Standardize, check_map_sample_options, dequantize
from genmodels.registry import Registry
from genmodels.samples import Samples

__all__ = ["FLOW_KINDS", "Flow", "FlowConfig"]

# kind → zuko flow class; a variant is configuration (zuko's NSF is a MAF with splines).
FLOW_KINDS: Registry[Callable[..., zuko.flows.Flow]] = Registry("flow kind")
FLOW_KINDS.add("realnvp", zuko.flows.RealNVP)
FLOW_KINDS.add("maf", partial(zuko.flows.MAF, randperm=False))
FLOW_KINDS.add("nsf", zuko.flows.NSF)


@dataclass
class FlowConfig:
    """Configuration of `Flow`.

    Attributes:
        kind: ``"nsf"``, ``"maf"``, ``"realnvp"``, or ``"auto"``: NSF for vectors, RealNVP for
            images (autoregressive flows sample one dimension at a time, too slow for images).
        transforms: number of flow layers.
        hidden: width of the hyper-networks' hidden layers.
        depth: hidden layers per hyper-network.
        bins: spline bins (NSF only).
        num_levels: intensity levels of discrete data (0: continuous; set from the target).
    """

    kind: str = "auto"
    transforms: int = 4
    hidden: int = 128
    depth: int = 2
    bins: int = 8
    num_levels: int = 0

    def __post_init__(self) -> None:
        at_least(self, 1, "transforms", "hidden", "depth", "bins", where="model")
        at_least(self, 0, "num_levels", where="model")
        what = f"a flow with hidden={self.hidden}, depth={self.depth}"
        check_network_size(self.hidden, self.depth, what, blocks=self.transforms)


@register_method(
    "flow",
    camp="map",
    order=2,
    description="normalising flow (RealNVP, MAF or NSF via zuko; exact likelihood)",
)
class Flow(GenerativeModel):
    """A normalising flow on ``event_shape`` data (vectors or flattened images).

    Example:
        >>> flow = Flow(FlowConfig(kind="maf", transforms=2, hidden=16), (2,))
        >>> flow.log_prob(torch.zeros(5, 2)).shape
        torch.Size([5])
        >>> flow.sample(3, generator=torch.Generator().manual_seed(0)).x.shape
        torch.Size([3, 2])
    """

    camp = "map"
    likelihood = "exact"
    Config = FlowConfig
    # per target kind, over the Config and TrainConfig defaults (figures in benchmarks/README.md)
    kind_defaults: ClassVar[KindDefaults] = {
        "toy2d": {"train": {"steps": 2000}},
        "image": {"train": {"steps": 2000, "batch_size": 128}},
    }

    def __init__(self, config: FlowConfig, event_shape: tuple[int, ...]) -> None:
        super().__init__(config, event_shape)
        self.features = math.prod(self.event_shape)
        self.kind = config.kind
        if self.kind == "auto":
            self.kind = "realnvp" if len(self.event_shape) > 1 else "nsf"
        build = FLOW_KINDS.get(self.kind)
        kwargs: dict[str, Any] = {
            "transforms": config.transforms,
            "hidden_features": (config.hidden,) * config.depth,
        }
        if self.kind == "nsf":
            kwargs["bins"] = config.bins
        self.flow = build(self.features, **kwargs)
        self.standardize = Standardize(self.event_shape, per_dim=len(self.event_shape) == 1)

    def init_from_data(self, x: Tensor) -> None:
        if self.config.num_levels > 1:
            x = dequantize(x, self.config.num_levels)
        self.standardize.fit(x)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density of continuous ``x [B, *event]`` → ``[B]`` (nats)."""
        # Log-determinants sum many terms: keep them in float32 even under bf16 autocast.
        with torch.autocast(device_type=x.device.type, enabled=False):
            y = self.standardize(x.float()).reshape(x.shape[0], self.features)  # (B, D)
            return self.flow().log_prob(y) + self.standardize.log_abs_det()

    def loss(self, batch: Tensor) -> Tensor:
        """Negative log-likelihood per example (of dequantised data when discrete)."""
        if self.config.num_levels > 1:
            batch = dequantize(batch, self.config.num_levels)
        return -self.log_prob(batch).mean()

    @torch.no_grad()
    def sample(
        self, n: int, *, generator: torch.Generator | None = None, **options: Any
    ) -> Samples:
        """Push ``z ~ N(0, I)`` through the inverse flow.

        ``callback(i, x_i)`` (optional) sees the points after each inverse layer, from the
        base noise (``i = 0``) to the samples: the flow's trajectory for animations.
        """
        check_map_sample_options("flow", options, trajectory=True)
        callback = options.get("callback")
        device = self.standardize.shift.device
        t0 = time.perf_counter()
        z = torch.randn(n, self.features, generator=generator).to(device)  # (n, D)
        transforms = list(self.flow().transform.transforms)
        if callback is not None:
            callback(0, self._to_data(z))
        for i, t in enumerate(reversed(transforms), start=1):
            z = t.inv(z)
            if callback is not None:
                callback(i, self._to_data(z))
        x = self._to_data(z)
        return Samples(x, nfe=len(transforms), seconds=time.perf_counter() - t0)

    def _to_data(self, y: Tensor) -> Tensor:
        return self.standardize.inverse(y.reshape(-1, *self.event_shape))
