"""Assertions about the CLI contract, shared by the CLI tests of every package."""

from __future__ import annotations

import subprocess


def assert_one_line_error(proc: subprocess.CompletedProcess[str]) -> None:
    """The CLI contract for bad input: exit 2, one line on stderr, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
