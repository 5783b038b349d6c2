"""Memory estimates checked before a large allocation, so a huge size is one clear line.

``genmodels mcmc --chains 10000000`` would otherwise grow until the kernel kills it. A
library function that is about to allocate an array whose size the user chose estimates its
bytes and calls `check_allocation` first.

Example:
    >>> check_allocation(1024, "a tiny array")
    >>> try:
    ...     check_allocation(2**45, "the draws")
    ... except InvalidInputError as e:
    ...     print(str(e)[:34])
    the draws would need 32768.0 GiB (
"""

from __future__ import annotations

import math
import os

from genmodels.errors import InvalidInputError

__all__ = [
    "GIB",
    "available_memory",
    "check_allocation",
    "check_network_size",
    "network_bytes",
    "tensor_bytes",
]

GIB = 2**30

_LIMIT_ENV = "GENMODELS_MEMORY_LIMIT_GIB"
"""An explicit limit in GiB (e.g. for tests, or a job that must stay under its share)."""


def available_memory(device: object = None) -> int | None:
    """Bytes this process may still allocate: ``GENMODELS_MEMORY_LIMIT_GIB`` if set; on a
    CUDA ``device`` its free memory; else ``MemAvailable`` of /proc/meminfo, else psutil's
    figure; None where none is known."""
    import torch

    if device is not None and torch.device(device).type == "cuda":  # type: ignore[arg-type]
        return int(torch.cuda.mem_get_info(torch.device(device))[0])  # type: ignore[arg-type]
    limit = os.environ.get(_LIMIT_ENV)
    if limit:
        try:
            return int(float(limit) * GIB)
        except ValueError:
            pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:  # macOS, Windows
        import psutil  # type: ignore[import-not-found]
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def tensor_bytes(*shape: int, itemsize: int = 4) -> int:
    """Bytes of a dense array of ``shape`` (Python ints: no overflow)."""
    return math.prod(int(s) for s in shape) * int(itemsize)


def check_allocation(nbytes: int, what: str, device: object = None) -> None:
    """Refuse (`InvalidInputError`, one line) an allocation of ``nbytes`` for ``what`` that
    exceeds the memory available (on ``device``; default host memory); silent when the
    figure is unknown."""
    available = available_memory(device)
    if available is None or nbytes <= available:
        return
    need = nbytes / GIB
    shown = f"{need:.1f}" if need < 1e6 else f"{need:.2g}"
    raise InvalidInputError(
        f"{what} would need {shown} GiB (available ~{available / GIB:.1f} GiB); ask for fewer"
    )


_TRAINING_COPIES = 5
"""Copies of every weight while training: the weights, gradients, Adam's two moments, EMA."""


def network_bytes(width: int, layers: int, blocks: int = 1) -> int:
    """A lower bound on the training memory of ``blocks`` networks of ``layers`` hidden
    layers of ``width`` units: the ``width × width`` weights between hidden layers (at least
    one row of ``width`` per layer), float32, times the copies training keeps."""
    per_block = int(width) * max(int(width) * (int(layers) - 1), int(width)) * int(layers)
    return per_block * max(int(blocks), 1) * 4 * _TRAINING_COPIES


def check_network_size(width: int, layers: int, what: str, blocks: int = 1) -> None:
    """Refuse a network too wide for memory (`network_bytes`) before torch allocates it;
    called by model configs, so that ``hidden=10**9`` is one line and not a swap storm."""
    check_allocation(network_bytes(width, layers, blocks), what)
