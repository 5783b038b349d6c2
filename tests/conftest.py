"""Shared fixtures. Tests run on CPU in float32 unless they say otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# Under pytest-xdist (`make test` runs 2 workers) each worker takes one core; alone, two.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, os.cpu_count() or 1))


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
def one_thread():
    """Run a test on one intra-op thread: tensors of a few thousand 2-D points or thousands of
    tiny steps gain nothing from a second thread, only synchronisation."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


class CliResult:
    """What `cli` returns, like `subprocess.CompletedProcess` (returncode, stdout, stderr)."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cli(capsys):
    """Run ``genmodels ARGS`` in-process (no interpreter start-up); returns a `CliResult`."""
    from genmodels.cli import main

    def run(*args: object, check: bool = False) -> CliResult:
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        out, err = capsys.readouterr()
        if check and code != 0:
            raise AssertionError(f"genmodels {args} failed: {err}")
        return CliResult(code, out, err)

    return run
