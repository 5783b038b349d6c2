"""Each learned method's defaults for a kind of data, read by `genmodels train` and `compare`.

A method's ``Config`` and `TrainConfig` hold defaults sized for nothing in particular; a 2-D
toy and a stack of images want different networks, step counts and learning rates. Each model
class states them where it is defined, as `GenerativeModel.kind_defaults`::

    kind_defaults = {
        "toy2d": {"train": {"steps": 12000, "lr": 2e-3}},
        "image": {"train": {"steps": 3000, "batch_size": 128}},
    }

(tables ``model`` (its ``Config``), ``train`` (`TrainConfig`) and ``sample`` (options of
``model.sample``)). `kind_defaults` is the one reader: ``genmodels train`` puts its result
under the user's TOML and ``--set`` values, ``compare`` under its ``[methods.X]`` tables, so
``train METHOD --data eight_gaussians`` with no flags trains exactly what ``compare`` trains.
A kind a model does not list falls back along `KIND_FALLBACKS` (vector data: the 2-D toys'
values), then to the plain ``Config``/`TrainConfig` defaults.

Example:
    >>> import genmodels
    >>> kind_defaults("ddpm", "toy2d")["train"]["steps"]
    12000
    >>> kind_defaults("ddpm", "posterior")
    {}
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from genmodels.catalogue import get_method
from genmodels.device import resolve_device
from genmodels.models.base import GenerativeModel, Player
from genmodels.targets.base import Target
from genmodels.training.config import TrainConfig

__all__ = [
    "KIND_FALLBACKS",
    "SECTIONS",
    "cpu_threads",
    "estimate_step_seconds",
    "expected_duration_line",
    "kind_defaults",
    "limited_threads",
    "training_threads",
]

SECTIONS = ("model", "train", "sample")
"""The tables of a kind's defaults."""

# A kind with no values of its own takes those of the kind named here: vector data of any
# dimension is trained like the 2-D toys (small dense networks, many cheap steps).
KIND_FALLBACKS: dict[str, str] = {"vector": "toy2d"}


def kind_defaults(method: str, kind: str) -> dict[str, dict[str, Any]]:
    """``{"model": ..., "train": ..., "sample": ...}`` (only the tables that are set) of a
    registered map or diffusion model on targets of ``kind``; a fresh copy, safe to change.

    Raises:
        UnknownNameError: ``method`` is not a registered map or diffusion model.
    """
    table: Mapping[str, Mapping[str, Any]] = getattr(
        get_method(method, ("map", "diffusion")).build, "kind_defaults", {}
    )
    seen: set[str] = set()
    while kind not in table and kind in KIND_FALLBACKS and kind not in seen:
        seen.add(kind)
        kind = KIND_FALLBACKS[kind]
    values = table.get(kind, {})
    unknown = set(values) - set(SECTIONS)
    if unknown:  # a mistake in a model's own table, not in user input
        raise TypeError(f"{method}.kind_defaults[{kind!r}]: unknown tables {sorted(unknown)}")
    return {k: copy.deepcopy(dict(v)) for k, v in values.items()}


def cpu_threads(kind: str) -> int | None:
    """Intra-op threads for training on the CPU on data of ``kind`` (None: torch's choice).

    The dense networks of vector data multiply matrices too small to split: a second thread
    only adds OpenMP synchronisation, and on a machine with more busy processes than cores
    each parallel region waits for a time slice, so two threads can cost many times the CPU
    of one (figures in benchmarks/README.md). Images keep torch's default.
    """
    return None if kind == "image" else 1


def training_threads(kind: str, device: str | torch.device) -> int | None:
    """`cpu_threads` when training on ``device`` runs on the CPU (None elsewhere): what
    ``genmodels train`` and ``compare`` both train with, so one setting gives one result."""
    return cpu_threads(kind) if resolve_device(device).type == "cpu" else None


def estimate_step_seconds(
    model: GenerativeModel, target: Target, config: TrainConfig, repeats: int = 2
) -> float:
    """Seconds one training step of ``model`` takes here: forward and backward of every
    player's loss on batches of ``config.batch_size`` on ``config.device``, the fastest of
    ``repeats`` steps after one warm-up step.

    It runs on a copy of the model inside `torch.random.fork_rng` with its own data
    generator, so the run that follows trains exactly as it would without the estimate.
    """
    device = resolve_device(config.device)
    probe = copy.deepcopy(model).to(device)
    forked = [] if device.type == "cpu" else [device.index or 0]
    gen = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(forked, device_type=device.type):
        probe.init_from_data(target.sample(config.batch_size, generator=gen).to(device))
        probe.train()
        times = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            for player in probe.training_players():
                for _ in range(player.steps):
                    probe.zero_grad(set_to_none=True)
                    _probe_loss(probe, player, target, config.batch_size, gen, device).backward()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
    return min(times[1:])


def _probe_loss(
    model: GenerativeModel,
    player: Player,
    target: Target,
    n: int,
    gen: torch.Generator,
    device: torch.device,
) -> torch.Tensor:
    """``player``'s loss on a fresh batch (labelled for a class-conditional model)."""
    if model.num_classes == 0:
        return player.loss(target.sample(n, generator=gen).to(device))
    batch, labels = target.sample_labelled(n, generator=gen)
    return player.loss(batch.to(device), labels=labels.to(device))


def expected_duration_line(method: str, steps: int, seconds_per_step: float) -> str:
    """One line: ``steps × s/step ≈ duration``, and how to change it."""
    total = steps * seconds_per_step
    if total >= 3600:
        human = f"{total / 3600:.1f} h"
    elif total >= 60:
        human = f"{total / 60:.0f} min"
    else:
        human = f"{total:.0f} s"
    return (
        f"{method}: {steps} steps × {seconds_per_step:.3g} s/step (measured here) ≈ {human} "
        "of training; --steps N to change"
    )


@contextlib.contextmanager
def limited_threads(threads: int | None) -> Iterator[None]:
    """Run the enclosed code with ``threads`` intra-op threads (None or an ``OMP_NUM_THREADS``
    the user set: unchanged), then restore torch's setting."""
    before = torch.get_num_threads()
    if threads is None or "OMP_NUM_THREADS" in os.environ or threads >= before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
