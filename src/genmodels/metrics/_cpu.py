"""Thread control for the metrics' CPU loops."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["one_cpu_thread"]


@contextmanager
def one_cpu_thread(device: torch.device | str = "cpu") -> Iterator[None]:
    """Run the enclosed torch ops on one intra-op thread (CPU only), then restore.

    The metrics' loops work on small, cache-sized tensors (kernel blocks, an 8×8 conv net),
    where extra threads gain little; but every op over a few thousand entries opens an
    OpenMP region, and on a machine with more busy processes than cores each region waits
    for a time slice, so a second thread can make them many times slower (figures in
    benchmarks/README.md).
    """
    threads = torch.get_num_threads()
    if torch.device(device).type != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
