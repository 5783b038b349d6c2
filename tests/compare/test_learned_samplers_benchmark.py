"""benchmarks/learned_samplers.py --quick runs end to end (with the tests' own density method,
so that it needs none of the real ones) and its table says what the runs measured."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from density_fakes import registered

from genmodels.targets import get_target

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "learned_samplers.py"
pytestmark = pytest.mark.usefixtures("one_thread")


def _benchmark():
    spec = importlib.util.spec_from_file_location("learned_samplers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_with_the_tiny_density_method(tmp_path, capsys):
    bench = _benchmark()
    with registered() as name:
        assert name in bench.default_methods() and bench.default_methods()[-2:] == [
            "nuts", "neutra_hmc",
        ]  # fmt: skip
        runs = bench.main(
            ["--quick", "--methods", name, "--n-samples", "200", "--out", str(tmp_path)]
        )
    assert [r["target"] for r in runs] == list(bench.TARGETS)
    assert all(r["status"] == "ok" and r["seed"] == 0 for r in runs), runs
    by_target = {r["target"]: r for r in runs}
    # the truth each run is scored against is the target's
    for target, row in by_target.items():
        assert row["log_z"]["true_log_z"] == pytest.approx(get_target(target).log_z)
        assert row["cost"]["density_evals"] == 20_000 and row["cost"]["grad_evals"] == 0
    # a wide Gaussian proposal: right on the 2-D mixture, far off in 50-D (reported as is)
    gmm2, gmm50 = by_target["gmm40_2d"]["log_z"], by_target["gmm40_50d"]["log_z"]
    assert gmm2["abs_delta_log_z"] < 4 * gmm2["log_z_se"]
    assert gmm50["abs_delta_log_z"] > 10
    assert by_target["gmm40_2d"]["metrics"]["modes_total"] == 40
    table = (tmp_path / "table.md").read_text()
    assert table in capsys.readouterr().out
    assert table.count("| tiny_is |") == 4 and "\\|Δlog Z\\| ± se" in table
    assert "/40 |" in table  # modes covered of the mixtures
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    assert [json.loads(line)["target"] for line in lines] == list(bench.TARGETS)
    assert (tmp_path / "log_z_gmm40_2d.png").exists()
    # runs made in separate processes: their runs.jsonl files merged into the same table
    (tmp_path / "a.jsonl").write_text("\n".join(lines[:2]) + "\n")
    (tmp_path / "b.jsonl").write_text("\n".join(lines[2:]) + "\n")
    merged = tmp_path / "merged"
    files = f"{tmp_path / 'a.jsonl'},{tmp_path / 'b.jsonl'}"
    again = bench.main(["--table-from", files, "--out", str(merged)])
    assert len(again) == 4 and (merged / "table.md").read_text() == table
    assert (merged / "log_z_manywell_32d.png").exists()


def test_baselines_settings_see_only_the_density():
    bench = _benchmark()
    values = bench.method_values("neutra_hmc", {"methods": {"neutra_hmc": {"draws": 7}}}, True)
    assert values["fit"]["objective"] == "reverse" and values["draws"] == 7
    assert bench.method_values("nuts", {}, False)["chains"] == 4
