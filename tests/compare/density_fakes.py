"""A tiny sampler of a density for the tests: plain importance sampling from a wide Gaussian.

It stands in for the density camp's real methods (SMC, AIS, ...) so that `compare`'s density
columns and the learned-samplers benchmark are tested without them. `registered()` adds it
to the catalogue for the duration of a test.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from genmodels.budget import Budget
from genmodels.catalogue import register_method, unregister_method
from genmodels.density import CountingDensity, WeightedSamples, log_z_estimate
from genmodels.targets.base import Target

NAME = "tiny_is"


@dataclass
class TinyISSettings:
    """particles: proposal draws; scale: the proposal's standard deviation."""

    particles: int = 20_000
    scale: float = 25.0


def run_tiny_is(
    target: Target,
    settings: TinyISSettings,
    *,
    seed: int = 0,
    budget: Budget | None = None,
    progress: bool = False,
) -> WeightedSamples:
    """Self-normalised importance sampling of the target from N(0, scale² I)."""
    t0 = time.perf_counter()
    d = target.dim
    density = CountingDensity(target.log_prob, tuple(target.event_shape))
    g = torch.Generator().manual_seed(seed)
    x = settings.scale * torch.randn(settings.particles, d, generator=g)
    log_q = -0.5 * (x / settings.scale).square().sum(-1) - d * math.log(
        settings.scale * math.sqrt(2 * math.pi)
    )
    log_w = density.value(x) - log_q
    log_z, se = log_z_estimate(log_w)
    return WeightedSamples(
        x, log_w, log_z, se, "unbiased Z", density.cost, seconds=time.perf_counter() - t0
    )


@contextlib.contextmanager
def registered() -> Iterator[str]:
    """`tiny_is` in the catalogue's density camp while the block runs; its name."""
    register_method(
        NAME,
        camp="density",
        settings=TinyISSettings,
        description="importance sampling from a wide Gaussian (tests only)",
    )(run_tiny_is)
    try:
        yield NAME
    finally:
        unregister_method(NAME)
