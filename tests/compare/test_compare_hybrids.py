"""The chain+map hybrids in `genmodels compare`: chain metrics, the budget, applicability."""

from __future__ import annotations

import json

import pytest

from genmodels.budget import Budget
from genmodels.catalogue import list_methods as catalogue
from genmodels.compare import RunContext, get_runner
from genmodels.errors import ConfigError, NotApplicableError
from genmodels.methods import list_methods
from genmodels.targets import get_target

# thousands of tiny steps: a second intra-op thread only adds synchronisation
pytestmark = pytest.mark.usefixtures("one_thread")

TINY_FIT = "steps = 40\ntransforms = 2\nhidden = 16\n"
TINY_CONFIG = f"""
n_samples = 300
[methods.flow_mh]
chains = 3
draws = 150
warmup = 20
[methods.flow_mh.fit]
{TINY_FIT}
[methods.neutra_hmc]
chains = 2
draws = 50
warmup = 40
kernel_options = {{ num_steps = 3 }}
[methods.neutra_hmc.fit]
{TINY_FIT}
"""


def test_every_hybrid_listed_by_methods_runs_in_compare():
    hybrids = {r["name"] for r in list_methods() if r["camp"] == "hybrid"}
    assert {"flow_mh", "neutra_hmc"} <= hybrids
    for name in hybrids:
        assert name in {s.name for s in catalogue()}
        assert get_runner(name).camp == "hybrid"


@pytest.mark.slow
def test_hybrids_run_end_to_end_with_chain_metrics_in_json_and_html(cli, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_CONFIG)
    out = tmp_path / "cmp"
    cli(
        "compare", "--target", "eight_gaussians", "--methods", "flow_mh,neutra_hmc",
        "--config", config, "--budget-seconds", 120, "--out", out, "--quiet", check=True,
    )  # fmt: skip
    data = json.loads((out / "results.json").read_text())
    rows = {row["method"]: row for row in data["methods"]}
    assert set(rows) == {"flow_mh", "neutra_hmc"}
    for row in rows.values():
        assert row["status"] == "ok", row["reason"]
        assert row["camp"] == "hybrid"
        # chain layout: R-hat and bulk ESS of the chains, ESS/s from the chain's ESS
        assert 0.9 < row["chain"]["max_r_hat"] < 10
        assert 0 < row["cost"]["ess"] == row["chain"]["min_ess_bulk"]
        assert row["cost"]["ess_per_second"] > 0
        assert row["cost"]["train_seconds"] > 0  # the flow fit
        assert row["notes"]["train_steps"] == 40
        assert row["notes"]["flow_objective"].startswith("forward KL")
        assert {"trace", "autocorr", "samples", "animation"} <= set(row["figures"])
        assert (out / row["figures"]["trace"]).is_file()
        assert row["metrics"]["mmd"] >= 0
    assert rows["flow_mh"]["settings"]["chains"] == 3
    assert 0 < rows["flow_mh"]["notes"]["accept_rate"] <= 1
    assert rows["flow_mh"]["chain"]["accept_rate"] == rows["flow_mh"]["notes"]["accept_rate"]
    assert rows["neutra_hmc"]["notes"]["divergences"] == rows["neutra_hmc"]["chain"]["divergences"]
    # 3 chains x 150 draws kept (the 20 warm-up draws dropped)
    assert rows["flow_mh"]["cost"]["n"] == 450
    html = (out / "index.html").read_text()
    for name in rows:
        assert f'data-method="{name}"' in html
        assert f'href="{name}/trace.png"' in html or f'src="{name}/trace.png"' in html
    assert "max R̂" in html
    assert "accept rate:" in html and "divergences:" in html and "flow objective:" in html


def test_flow_fit_stops_at_the_budget_and_the_chains_still_run(monkeypatch):
    import torch

    import genmodels.hybrids.run as hybrid_run

    # the first optimiser of a process imports torch._dynamo (seconds): not the fit's doing
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    target = get_target("eight_gaussians")
    runner = get_runner("flow_mh")
    settings = runner.parse_settings(
        target,
        {"chains": 2, "draws": 100, "fit": {"steps": 1_000_000, "transforms": 2, "hidden": 16}},
    )
    monkeypatch.setattr(hybrid_run, "MIN_FIT_STEPS", 0)
    out = runner.run(target, settings, RunContext(budget=Budget(1.0)))
    monkeypatch.undo()
    # 70% of the budget for the fit (the rest kept for the chains), with slack for a busy machine
    assert out.train_seconds < 1.0
    assert 0 < out.train_steps < 1_000_000
    assert out.notes["stopped_by_budget"] and out.notes["requested_steps"] == 1_000_000
    assert tuple(out.samples.x.shape) == (2, 100, 2)
    # a budget already used up (an earlier method overran it): the minimal fit, then chains
    out = runner.run(target, settings, RunContext(budget=Budget(0.0)))
    assert out.train_steps == 200
    assert tuple(out.samples.x.shape) == (2, 100, 2)


def test_hybrids_need_a_density_and_check_their_settings():
    digits = get_target("digits")
    for name in ("flow_mh", "neutra_hmc"):
        with pytest.raises(NotApplicableError, match=r"density.*samples only"):
            get_runner(name).check(digits)
    banana = get_target("banana")
    with pytest.raises(ConfigError, match=r"unknown .*num_steps"):
        get_runner("flow_mh").parse_settings(banana, {"num_steps": 3})
    with pytest.raises(ConfigError, match=r"neutra_hmc\.fit.*lr2"):
        get_runner("neutra_hmc").parse_settings(banana, {"fit": {"lr2": 1}})


def test_not_applicable_row_on_a_samples_only_target(tmp_path):
    from genmodels.compare import CompareSettings, run_comparison

    result = run_comparison(
        "digits", ["flow_mh", "neutra_hmc"], tmp_path / "out", CompareSettings(n_samples=20),
        progress=False, report=False,
    )  # fmt: skip
    assert [r.status for r in result.methods] == ["not_applicable"] * 2
    assert all("samples only" in r.reason for r in result.methods)
