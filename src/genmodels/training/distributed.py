"""Data-parallel launch: the process group under `torchrun`, gloo on CPU and NCCL on CUDA."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

__all__ = ["TIMEOUT_ENV", "DistInfo", "collective_timeout", "init_distributed", "is_main_process"]

TIMEOUT_ENV = "GENMODELS_DIST_TIMEOUT"
"""Seconds a rank waits in a collective (and at the rendezvous) before it gives up."""

_DEFAULT_TIMEOUT_S = 1800.0  # torch's own gloo default: long enough for a slow first batch


def collective_timeout() -> timedelta:
    """How long a collective may wait for the other ranks: ``$GENMODELS_DIST_TIMEOUT``
    seconds, else 30 minutes. A rank that died without a launcher to kill the others
    (a hand-started job, `srun`) then ends the job after this long instead of hanging."""
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        seconds = float(raw) if raw else _DEFAULT_TIMEOUT_S
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        from genmodels.errors import ConfigError

        raise ConfigError(f"${TIMEOUT_ENV} must be a number of seconds > 0, got {raw!r}")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size``; ``device`` it trains on."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group that `torchrun` describes in the environment, if any.

    Without ``WORLD_SIZE > 1`` in the environment this is a single process on ``device``.
    Under `torchrun`, CUDA ranks take ``cuda:LOCAL_RANK`` and use NCCL; others use gloo.
    Collectives time out after `collective_timeout`.

    Args:
        device: the device `--device` resolved to.

    Returns:
        the rank, world size and the device this rank trains on.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo(0, 1, 0, device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=collective_timeout())
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, device)


def is_main_process() -> bool:
    """True on rank 0 (and in a single process)."""
    return not dist.is_initialized() or dist.get_rank() == 0
