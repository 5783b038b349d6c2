"""Diffusion tests run single-threaded: their tensors are small (a few thousand 2-D points),
where intra-op threads only add synchronisation — 10× slower on a loaded 2-core machine."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _single_thread(one_thread: None) -> None:
    """Every test in tests/diffusion/ runs on one thread (see `one_thread`)."""
