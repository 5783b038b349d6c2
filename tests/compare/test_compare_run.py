"""The comparison driver: rows, error isolation, budget sharing, costs, results.json."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from compare_fakes import AR1Chains, Exploding, NoisyExact, simple_mmd_evaluator

from genmodels.catalogue import get_method
from genmodels.compare import (
    CompareSettings,
    chain_diagnostics,
    cost_summary,
    load_settings,
    method_seed,
    run_comparison,
)
from genmodels.compare.settings import method_settings
from genmodels.errors import ConfigError, InvalidInputError, UnknownNameError
from genmodels.samples import Samples
from genmodels.targets import get_target


def _run(tmp_path, methods, runners, **settings):
    return run_comparison(
        "eight_gaussians",
        methods,
        tmp_path / "out",
        CompareSettings(n_samples=500, **settings),
        runners=runners,
        evaluate=simple_mmd_evaluator,
        progress=False,
        report=False,
    )


def test_rows_status_and_error_isolation(tmp_path):
    runners = {
        "good": NoisyExact("good", 0.0),
        "boom": Exploding("boom", "network on fire"),
        "bad": NoisyExact("bad", 1.0, camp="map"),
    }
    result = _run(tmp_path, ["good", "boom", "bad"], runners)
    rows = {r.method: r for r in result.methods}
    assert [r.method for r in result.methods] == ["good", "boom", "bad"]
    assert rows["boom"].status == "failed"
    assert "network on fire" in rows["boom"].reason
    assert "Traceback" in (tmp_path / "out" / "boom" / "error.txt").read_text()
    # the failure lost nothing: the method after it ran and was evaluated
    assert rows["good"].status == rows["bad"].status == "ok"
    # exact samples sit at the floor; noise of scale 1 on 8 Gaussians of sd 0.5 does not
    assert rows["good"].metrics["mmd_ratio"] < 2.0
    assert rows["bad"].metrics["mmd_ratio"] > 5.0
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [m["status"] for m in data["methods"]] == ["ok", "failed", "ok"]
    assert data["methods"][0]["cost"]["ess"] == 500
    assert data["methods"][0]["cost"]["nfe_per_sample"] == 10
    assert (tmp_path / "out" / "good" / "samples.npz").is_file()


def test_not_applicable_on_a_target_without_density(tmp_path):
    result = run_comparison(
        "digits",
        ["ar1"],
        tmp_path / "out",
        CompareSettings(n_samples=20),
        runners={"ar1": AR1Chains()},
        evaluate=simple_mmd_evaluator,
        progress=False,
        report=False,
    )
    (row,) = result.methods
    assert row.status == "not_applicable"
    assert "density" in row.reason


def test_chain_ess_per_second_matches_ar1_theory(tmp_path):
    result = _run(tmp_path, ["ar1"], {"ar1": AR1Chains(phi=0.9, draws=1000)})
    (row,) = result.methods
    # ESS of an AR(1) chain: N (1 - φ) / (1 + φ) = 4000 * 0.1 / 1.9 ≈ 210
    assert 140 < row.chain["min_ess_bulk"] < 300
    assert row.cost["ess"] == row.chain["min_ess_bulk"]
    # ESS per second uses the sampling phase (0.5 s), not warm-up + sampling (1 s)
    assert row.cost["ess_per_second"] == pytest.approx(row.chain["min_ess_bulk"] / 0.5)
    assert row.cost["nfe_per_sample"] == 3
    assert row.chain["max_r_hat"] < 1.05


def test_chain_diagnostics_flag_stuck_chains():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 300, 2, generator=g)
    x[0] += 5.0  # one chain elsewhere: R-hat must see it
    d = chain_diagnostics(Samples(x, chains=4))
    assert d["max_r_hat"] > 1.5


def test_cost_summary_of_independent_samples():
    c = cost_summary(Samples(torch.zeros(4000, 2), nfe=100, seconds=2.0), train_seconds=7.0)
    assert c == {
        "train_seconds": 7.0,
        "sample_seconds": 2.0,
        "sample_seconds_per_1000": 0.5,
        "nfe_per_sample": 100.0,
        "n": 4000,
        "ess": 4000.0,
        "ess_per_second": 2000.0,
    }


def test_budget_is_shared_by_camp_weight(tmp_path):
    chain, diffusion = AR1Chains(draws=50), NoisyExact("d", 0.0)
    chain.seen_budget = None
    seen = {}

    class Spy:
        def __init__(self, inner):
            self.inner, self.name, self.camp = inner, inner.name, inner.camp

        def check(self, target):
            self.inner.check(target)

        def parse_settings(self, target, values):
            return values

        def run(self, target, settings, ctx):
            seen[self.name] = ctx.budget.seconds
            return self.inner.run(target, settings, ctx)

    _run(tmp_path, ["ar1", "d"], {"ar1": Spy(chain), "d": Spy(diffusion)}, budget_seconds=100.0)
    # weights 0.5 (chain) and 1.6 (diffusion): the chain gets 0.5 / 2.1 of 100 s
    assert seen["ar1"] == pytest.approx(100 * 0.5 / 2.1, abs=0.5)
    # the diffusion model gets everything that is left, the chain's unused time included
    assert 100 - seen["ar1"] < seen["d"] <= 100


def test_unknown_or_repeated_methods_fail_before_running(tmp_path):
    with pytest.raises(UnknownNameError, match="unknown method"):
        run_comparison("eight_gaussians", ["not_a_method"], tmp_path / "a", progress=False)
    assert not (tmp_path / "a").exists()
    with pytest.raises(InvalidInputError, match="twice"):
        _run(tmp_path, ["x", "x"], {"x": NoisyExact("x", 0.0)})


def test_seeds_do_not_depend_on_method_order():
    assert method_seed(0, "ddpm") == method_seed(0, "ddpm")
    assert method_seed(0, "ddpm") != method_seed(0, "nuts")
    assert method_seed(1, "ddpm") != method_seed(0, "ddpm")


def test_settings_file_and_overrides(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("seed = 3\nn_samples = 100\n[methods.ddpm.train]\nsteps = 7\n")
    s = load_settings(path, seed=5, budget_seconds=None)
    assert (s.seed, s.n_samples, s.budget_seconds) == (5, 100, 540.0)
    spec, toy = get_method("ddpm"), get_target("eight_gaussians")
    default = method_settings(spec, toy)
    merged = method_settings(spec, toy, s.methods["ddpm"])
    assert merged.train == replace(default.train, steps=7)  # the file wins, defaults stay
    assert merged.model == default.model
    path.write_text("sed = 3\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_settings(path)
    path.write_text("seed = [\n")
    with pytest.raises(ConfigError, match="TOML"):
        load_settings(path)
    with pytest.raises(InvalidInputError):
        load_settings(tmp_path / "missing.toml")


def test_every_method_is_scored_on_the_same_number_of_points():
    from genmodels.compare.run import evaluation_points

    x = torch.arange(4 * 1000, dtype=torch.float32).reshape(4, 1000, 1)
    pts = evaluation_points(Samples(x, chains=4), 100)
    assert pts.shape == (100, 1)
    chain_of = (pts[:, 0] // 1000).long()
    assert torch.bincount(chain_of).tolist() == [25, 25, 25, 25]  # every chain, evenly
    assert pts[:, 0].unique().numel() == 100
    assert evaluation_points(Samples(torch.zeros(50, 2)), 100).shape == (50, 2)


def test_metrics_that_cannot_be_computed_are_named_once(tmp_path):
    from genmodels.report.html import render_report

    def evaluate(x, target):
        return {**simple_mmd_evaluator(x, target), "unavailable": {"inception_fid": "no <weights>"}}

    result = run_comparison(
        "eight_gaussians", ["a", "b"], tmp_path / "out", CompareSettings(n_samples=100),
        runners={"a": NoisyExact("a", 0.0), "b": NoisyExact("b", 0.1)},
        evaluate=evaluate, progress=False, report=False,
    )  # fmt: skip
    assert result.unavailable_metrics == {"inception_fid": "no <weights>"}
    assert all("unavailable" not in row.metrics for row in result.methods)
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["unavailable_metrics"] == {"inception_fid": "no <weights>"}
    html = render_report(result)
    assert html.count("inception_fid not computed: no &lt;weights&gt;") == 1
