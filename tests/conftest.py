"""Shared fixtures. Tests run on CPU in float32 unless they say otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True, scope="session")
def genmodels_cache(tmp_path_factory: pytest.TempPathFactory):
    """Caches (the image metrics' classifier) go to one session directory, never ~/.cache.

    CLI subprocesses inherit the variable, so the digits classifier trains once per session.
    """
    path = tmp_path_factory.mktemp("genmodels-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENMODELS_CACHE", str(path))
        yield path


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture
def run_cli(tmp_path: Path):
    """Run ``python -m genmodels ARGS`` in a subprocess; returns the CompletedProcess."""

    def run(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "genmodels", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"genmodels {' '.join(args)} failed:\n{proc.stderr}")
        return proc

    return run


def assert_one_line_error(proc: subprocess.CompletedProcess[str]) -> None:
    """The CLI contract for bad input: exit 2, one line on stderr, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
