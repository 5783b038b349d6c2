"""Diffusion tests run single-threaded: their tensors are small (a few thousand 2-D points),
where intra-op threads only add synchronisation — 10× slower on a loaded 2-core machine."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
