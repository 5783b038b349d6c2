"""examples/own_data.py runs in its quick mode and reports mmd against the data's floor."""

import runpy
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own_data.py"


def test_own_data_example_quick(monkeypatch, capsys):
    monkeypatch.setenv("GENMODELS_EXAMPLE_QUICK", "1")
    metrics = runpy.run_path(str(EXAMPLE))["main"]()
    assert metrics["reference_n"] == 600 and metrics["n"] == 2000
    assert 0 < metrics["mmd_floor"] < metrics["mmd"]  # 60 steps: a start, not the data yet
    assert "held-out rows" in capsys.readouterr().out
