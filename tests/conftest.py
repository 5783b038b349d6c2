"""Shared fixtures. Tests run in float32 on the device ``--device`` names (default: cpu).

As zuko's suite does, ``pytest --device cuda`` runs the whole suite with tensors created on
that device by default (`torch.set_default_device`); tests that build tensors or generators
for a device explicitly take the `device` fixture. A device this machine lacks is a usage
error, not a run of skipped tests that looks green.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# Kernels compile their hot path by default ("auto"); compiling every test's density would
# cost more than the tests: the suite runs eagerly (tests/mcmc/test_compiled.py compiles).
os.environ["GENMODELS_COMPILE"] = "0"

# Under pytest-xdist (`make test` runs 2 workers) each worker takes one core; alone, two.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, os.cpu_count() or 1))


DEVICE = pytest.StashKey[torch.device]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device",
        action="store",
        default="cpu",
        help="torch device to run the suite on, e.g. cpu, cuda, cuda:1, mps (default: cpu)",
    )


def _available(device: torch.device) -> bool:
    if device.type == "cpu":
        return True
    if device.type == "cuda":
        return torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    if device.type == "mps":
        return torch.backends.mps.is_available()
    module = getattr(torch, device.type, None)
    return bool(module is not None and getattr(module, "is_available", lambda: False)())


def pytest_configure(config: pytest.Config) -> None:
    name = config.getoption("--device")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise pytest.UsageError(f"--device {name!r} is not a torch device: {e}") from None
    if not _available(device):
        raise pytest.UsageError(f"--device {name}: no such device is available on this machine")
    config.stash[DEVICE] = device
    if device.type != "cpu":  # on cpu this is the default already, and the mode costs time
        torch.set_default_device(device)


@pytest.fixture(scope="session")
def device(pytestconfig: pytest.Config) -> torch.device:
    """The device the suite runs on (``--device``; tensors are created there by default)."""
    return pytestconfig.stash[DEVICE]


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
def generator(device: torch.device) -> torch.Generator:
    """A seeded generator on the suite's device (random draws join tensors made there)."""
    return torch.Generator(device=device).manual_seed(0)


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
