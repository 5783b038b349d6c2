"""Every script in examples/ runs, in its quick mode, as a user would run it.

Each runs in its own interpreter from a temporary directory, with an absolute PYTHONPATH to
this tree's src/ (as the CLI tests run the CLI) and ``GENMODELS_EXAMPLE_QUICK=1``, which
every example honours by shrinking its steps and sample sizes to seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))


def test_there_are_examples() -> None:
    assert SCRIPTS, f"no examples in {EXAMPLES}"
    assert (EXAMPLES / "README.md").is_file()
    listed = (EXAMPLES / "README.md").read_text()
    assert [s.name for s in SCRIPTS if s.name not in listed] == []  # README names each one


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_runs_in_quick_mode(script: Path, tmp_path: Path) -> None:
    before = sorted(p.name for p in EXAMPLES.iterdir())
    env = {
        **os.environ,
        "GENMODELS_EXAMPLE_QUICK": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "PYTHONWARNINGS": "ignore",
        "MPLBACKEND": "Agg",
    }
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{script.name} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    assert sorted(p.name for p in EXAMPLES.iterdir()) == before  # nothing written beside it
