"""`compare` answers bad input before running anything, fails honestly, and repeats exactly.

- every method's settings are checked before the first method runs (exit 2, one line);
- ``--budget-seconds`` nan, inf, negative or zero is exit 2, one line;
- a method that fails at run time (an error, or NaN samples) is a failed row; the CLI then
  exits 1 after finishing the others and writing results.json and the report, naming it;
  a method that does not apply is no failure;
- ``--no-budget`` runs every method's configured steps, so two runs are bit-identical.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from compare_fakes import Exploding, NoisyExact, simple_mmd_evaluator

import genmodels.compare.run as compare_run
from cli_contract import assert_one_line_error
from genmodels.compare import CompareSettings, MethodOutput, run_comparison
from genmodels.errors import ConfigError, NotApplicableError
from genmodels.samples import Samples


class _Recording(NoisyExact):
    """Exact samples; records that it ran."""

    def __init__(self, name: str, ran: list[str]) -> None:
        super().__init__(name, 0.0, camp="map")
        self.ran = ran

    def run(self, target, settings, ctx):
        self.ran.append(self.name)
        return super().run(target, settings, ctx)


class _StrictSettings(_Recording):
    def parse_settings(self, target, values: dict) -> dict:
        if set(values) - {"steps"}:
            raise ConfigError(f"{self.name}: unknown setting(s) {sorted(set(values) - {'steps'})}")
        return values


class _NaNSamples:
    """Finite draws with ``bad`` of them NaN: a numerically broken method."""

    camp = "map"

    def __init__(self, name: str = "nan", bad: int = 7) -> None:
        self.name, self.bad = name, bad

    def check(self, target) -> None:
        pass

    def parse_settings(self, target, values: dict) -> dict:
        return values

    def run(self, target, settings, ctx) -> MethodOutput:
        x = target.sample(ctx.n_samples, generator=torch.Generator().manual_seed(0))
        x[: self.bad, 1] = math.nan
        return MethodOutput(Samples(x, nfe=1, seconds=0.1))


class _NeverApplies(_Recording):
    def check(self, target) -> None:
        raise NotApplicableError(f"{self.name} never applies")


def test_every_methods_settings_are_checked_before_any_runs(tmp_path):
    ran: list[str] = []
    runners = {"first": _Recording("first", ran), "strict": _StrictSettings("strict", ran)}
    settings = CompareSettings(n_samples=100, methods={"strict": {"stepz": 3}})
    with pytest.raises(ConfigError, match="stepz"):
        run_comparison(
            "eight_gaussians", ["first", "strict"], tmp_path / "out", settings,
            runners=runners, evaluate=simple_mmd_evaluator, progress=False, report=False,
        )  # fmt: skip
    assert ran == [] and not (tmp_path / "out").exists()


def test_a_typo_in_a_later_methods_table_is_one_line_at_once(run_cli, tmp_path):
    (tmp_path / "typo.toml").write_text("[methods.flow_mh.fit]\nstepz = 3\n")
    proc = run_cli("compare", "--methods", "flow,flow_mh", "--config", "typo.toml", "--out", "o")
    assert_one_line_error(proc)
    assert "stepz" in proc.stderr and "did you mean 'steps'" in proc.stderr
    assert not (tmp_path / "o").exists()  # the flow was not trained first


@pytest.mark.parametrize("seconds", ["nan", "inf", "-inf", "-1", "0"])
def test_a_budget_that_is_not_a_positive_finite_number_is_one_line(cli, tmp_path, seconds):
    proc = cli("compare", "--methods", "nuts", "--budget-seconds", seconds, "--out", tmp_path / "o")
    assert_one_line_error(proc)
    assert "budget_seconds" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_no_budget_and_a_budget_exclude_each_other(cli, tmp_path):
    proc = cli("compare", "--no-budget", "--budget-seconds", "10", "--out", tmp_path / "o")
    assert_one_line_error(proc)


def test_nan_samples_fail_the_row_with_their_count(tmp_path):
    result = run_comparison(
        "eight_gaussians", ["nan", "ok"], tmp_path / "out", CompareSettings(n_samples=100),
        runners={"nan": _NaNSamples(), "ok": NoisyExact("ok", 0.0)},
        evaluate=simple_mmd_evaluator, progress=False,
    )  # fmt: skip
    nan, ok = result.methods
    assert (nan.status, nan.reason) == ("failed", "7 of 100 samples are NaN or inf")
    assert nan.metrics == {} and nan.metrics_error is None
    assert (tmp_path / "out" / "nan" / "samples.npz").is_file()  # kept, to look at
    assert ok.status == "ok"
    assert (tmp_path / "out" / "index.html").is_file()


@pytest.fixture
def fake_runners(monkeypatch):
    """`compare` in-process with fake methods ``boom`` (fails), ``nan`` (NaN samples) and
    ``never`` (not applicable) beside the real ones."""
    real = compare_run.get_runner
    fakes = {
        "boom": lambda: Exploding("boom", "network on fire"),
        "nan": lambda: _NaNSamples(),
        "never": lambda: _NeverApplies("never", []),
        "exact": lambda: NoisyExact("exact", 0.0),
    }
    monkeypatch.setattr(
        compare_run, "get_runner", lambda name: fakes[name]() if name in fakes else real(name)
    )
    monkeypatch.setattr(compare_run, "_default_evaluator", lambda: simple_mmd_evaluator)


def test_a_failure_at_run_time_exits_1_after_the_others_and_the_report(cli, tmp_path, fake_runners):
    out = tmp_path / "o"
    proc = cli("compare", "--methods", "boom,nan,exact,never", "--n-samples", "100", "--out", out)
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "2 of 4 methods failed: boom, nan" in last and "Traceback" not in proc.stderr
    data = json.loads((out / "results.json").read_text())
    statuses = [row["status"] for row in data["methods"]]
    assert statuses == ["failed", "failed", "ok", "not_applicable"]
    assert (out / "index.html").is_file() and (out / "exact" / "samples.npz").is_file()
    # --json prints the results, and the exit code still says a method failed
    proc = cli("compare", "--methods", "boom,exact", "--n-samples", "100", "--out", out, "--json")
    assert proc.returncode == 1 and json.loads(proc.stdout)["methods"][0]["status"] == "failed"


def test_not_applicable_is_no_failure(cli, tmp_path, fake_runners):
    proc = cli("compare", "--methods", "exact,never", "--n-samples", "100", "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stderr


_TINY = """\
n_samples = 200
[methods.flow.train]
steps = 30
batch_size = 64
[methods.flow.model]
hidden = 16
transforms = 2
[methods.mala]
chains = 2
draws = 100
warmup = 50
"""


def test_no_budget_repeats_a_run_bit_for_bit(cli, tmp_path, one_thread):
    """At one thread count, a budget-free run gives identical samples and metrics."""
    (tmp_path / "tiny.toml").write_text(_TINY)
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        args = ["compare", "--methods", "flow,mala", "--config", tmp_path / "tiny.toml"]
        cli(*args, "--no-budget", "--quiet", "--out", out, check=True)
        runs.append((out, json.loads((out / "results.json").read_text())))
    (a, ra), (b, rb) = runs
    assert ra["budget_seconds"] is None
    for row_a, row_b in zip(ra["methods"], rb["methods"], strict=True):
        assert row_a["status"] == "ok", row_a
        assert row_a["metrics"] == row_b["metrics"] and row_a["chain"] == row_b["chain"]
        assert row_a["notes"] == row_b["notes"] and row_a["settings"] == row_b["settings"]
        method = row_a["method"]
        with np.load(a / method / "samples.npz") as xa, np.load(b / method / "samples.npz") as xb:
            assert np.array_equal(xa["x"], xb["x"])
    assert ra["methods"][0]["notes"]["train_steps"] == 30  # every configured step ran


@pytest.mark.parametrize(
    "method, sample, message",
    [
        ("ddpm", {"sampler": "nope"}, "unknown diffusion sampler 'nope'"),
        ("ddpm", {"sampler": "euler_maruyama"}, "ddpm cannot sample with 'euler_maruyama'"),
        ("ddpm", {"sampler": "ddim", "etaa": 1}, "does not take option"),
        ("flow_matching", {"steps": 0}, "steps must be an integer >= 1"),
        ("flow", {"steps": 3}, "one pass"),
    ],
)
def test_sample_options_are_checked_with_the_settings(method, sample, message):
    from genmodels.compare import get_runner
    from genmodels.targets import get_target

    with pytest.raises(ConfigError, match=f"{method}.sample: .*{message}"):
        get_runner(method).parse_settings(get_target("eight_gaussians"), {"sample": sample})
    ok = {"sampler": "ddim", "steps": 5, "eta": 0.5} if method == "ddpm" else {}
    assert get_runner(method).parse_settings(get_target("two_moons"), {"sample": ok}).sample == ok
