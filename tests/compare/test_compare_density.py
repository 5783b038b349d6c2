"""The density camp in `genmodels compare`: log Z against the truth, ESS/N of the weights,
target evaluations in every row, the report's columns and its log Z figure.

The method here is the tests' own (`density_fakes.tiny_is`: importance sampling from a
wide Gaussian), so these tests need none of the density camp's real methods.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from density_fakes import TinyISSettings, registered, run_tiny_is

from genmodels.catalogue import MethodSpec
from genmodels.compare import CompareSettings, RunContext, get_runner, run_comparison
from genmodels.compare.runners import DensityRunner, hybrid_target_cost
from genmodels.density import Cost
from genmodels.errors import NotApplicableError
from genmodels.targets import Target, get_target

pytestmark = pytest.mark.usefixtures("one_thread")


class SamplesOnly(Target):
    kind, event_shape = "vector", (2,)

    def sample(self, n, generator=None):
        return torch.randn(n, 2, generator=generator)


def _rows(out) -> dict:
    data = json.loads((out / "results.json").read_text())
    return {row["method"]: row for row in data["methods"]}


def test_density_method_on_gmm40_2d_gives_log_z_and_target_evaluations(tmp_path):
    settings = CompareSettings(
        n_samples=500,
        budget_seconds=None,
        methods={"tiny_is": {"particles": 20_000}},
    )
    with registered() as name:
        assert isinstance(get_runner(name), DensityRunner)
        run_comparison("gmm40_2d", [name], tmp_path / "o", settings, progress=False)
    tiny = _rows(tmp_path / "o")["tiny_is"]
    assert tiny["status"] == "ok" and tiny["camp"] == "density", tiny["reason"]
    z = tiny["log_z"]
    target = get_target("gmm40_2d")
    assert z["true_log_z"] == pytest.approx(target.log_z)
    assert z["log_z_kind"] == "unbiased Z"
    # importance sampling is unbiased for Z: within 4 standard errors of the truth
    assert 0 < z["log_z_se"] < 0.1
    assert z["abs_delta_log_z"] == pytest.approx(abs(z["log_z"] - target.log_z))
    assert z["abs_delta_log_z"] < 4 * z["log_z_se"]
    assert z["delta_in_se"] == pytest.approx(z["delta_log_z"] / z["log_z_se"])
    # a proposal 25 times wider than the components: few effective particles, but not one
    assert 1 / 20_000 < z["ess_fraction"] < 0.2
    # one density evaluation per particle, no gradients
    c = tiny["cost"]
    assert (c["density_evals"], c["grad_evals"], c["target_evals"]) == (20_000, 0, 20_000)
    assert c["nfe_per_sample"] == 1 and c["seconds"] > 0
    # resampled draws are scored like any method's: modes of the mixture found
    assert tiny["metrics"]["modes_covered"] >= 30 and tiny["metrics"]["n"] == 500
    html = (tmp_path / "o" / "index.html").read_text()
    assert "|Δlog Z| ± se" in html and "ESS / N (weights)" in html
    assert "target gradient evals" in html and 'src="log_z.png"' in html
    assert (tmp_path / "o" / "log_z.png").stat().st_size > 1000
    assert (tmp_path / "o" / "tiny_is" / "samples.png").exists()


def test_log_z_of_a_gaussian_and_the_cli_table(cli, tmp_path):
    """On a normalised Gaussian (log Z = 0) through the CLI: the line shows |dlogZ|."""
    config = tmp_path / "c.toml"
    config.write_text("n_samples = 300\n[methods.tiny_is]\nparticles = 4000\nscale = 20.0\n")
    with registered():
        result = cli(
            "compare", "--target", "gaussian_100d_illcond", "--methods", "tiny_is",
            "--config", config, "--no-budget", "--out", tmp_path / "o", "--quiet",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "|dlogZ|" in result.stdout
    assert "target evals 4000 density + 0 gradient" in result.stdout
    z = _rows(tmp_path / "o")["tiny_is"]["log_z"]
    # 100-D from a proposal this wide: one particle carries the weight; the error is large
    # and reported as such, not hidden
    assert z["true_log_z"] == 0.0 and z["abs_delta_log_z"] > 1.0


@pytest.mark.parametrize("kernel, gradient", [("nuts", True), ("rwmh", False)])
def test_chain_rows_count_their_evaluations_as_target_evaluations(kernel, gradient):
    runner = get_runner(kernel)
    target = get_target("gmm40_2d")
    settings = runner.parse_settings(target, {"chains": 2, "draws": 20, "warmup": 20})
    output = runner.run(target, settings, RunContext(seed=0))
    nfe = output.samples.nfe
    assert nfe >= 2 * 40
    expected = Cost(grad_evals=nfe) if gradient else Cost(density_evals=nfe)
    assert output.target_cost == expected and output.log_z == {}


def test_a_map_row_reports_zero_target_evaluations_and_the_draws_it_saw(tmp_path):
    settings = CompareSettings(
        n_samples=200,
        budget_seconds=None,
        methods={"flow": {"train": {"steps": 3, "batch_size": 16}, "model": {"transforms": 1}}},
    )
    run_comparison("gmm40_2d", ["flow"], tmp_path / "o", settings, progress=False, report=False)
    row = _rows(tmp_path / "o")["flow"]
    assert row["status"] == "ok", row["reason"]
    assert (row["cost"]["density_evals"], row["cost"]["grad_evals"]) == (0, 0)
    assert row["cost"]["target_draws"] == 3 * 16 and row["log_z"] == {}


def test_density_runner_refuses_samples_only_targets_and_wrong_returns():
    with registered() as name:
        runner = get_runner(name)
        with pytest.raises(NotApplicableError, match="samples only"):
            runner.check(SamplesOnly())
        runner.check(get_target("manywell_32d"))
    bad = DensityRunner(MethodSpec("bad", "density", lambda *a, **k: 1.0, TinyISSettings, ""))
    with pytest.raises(TypeError, match="not a WeightedSamples"):
        bad.run(get_target("gmm40_2d"), TinyISSettings(), RunContext())


def test_the_tiny_method_is_a_real_estimator():
    """The fake itself: on manywell's 2-D double well (wells=1), log Z within 4 se."""
    from genmodels.targets.logz import ManyWell

    target = ManyWell(wells=1)
    weighted = run_tiny_is(target, TinyISSettings(particles=50_000, scale=2.0), seed=1)
    assert abs(weighted.log_z - target.log_z) < 4 * weighted.log_z_se < 0.1
    assert math.isclose(weighted.cost.density_evals, 50_000)
    assert torch.isfinite(weighted.log_w).all()


def test_hybrid_rows_count_chain_and_reverse_kl_fit_evaluations():
    reverse = {"steps": 10, "objective": "reverse"}
    assert hybrid_target_cost("neutra_hmc", 500, reverse, 64) == Cost(grad_evals=500 + 640)
    assert hybrid_target_cost("flow_mh", 500, reverse, 64) == Cost(500, 640)
    forward = {"steps": 10, "objective": "forward"}  # fitted to samples: no evaluations
    assert hybrid_target_cost("flow_mh", 500, forward, 64) == Cost(density_evals=500)


def test_report_cells_for_a_density_row_and_for_rows_without_log_z():
    from genmodels.compare.run import ComparisonResult, MethodResult
    from genmodels.report.html import render_report

    z = {"log_z": 5.5, "log_z_se": 0.04, "log_z_kind": "ELBO", "ess_fraction": 0.25}
    density = MethodResult(
        "smc", "density", log_z={**z, "true_log_z": 5.512, "abs_delta_log_z": 0.012},
        cost={"density_evals": 100, "grad_evals": 2000, "seconds": 1.5},
    )  # fmt: skip
    chain = MethodResult("nuts", "chain", cost={"density_evals": 0, "grad_evals": 777})
    result = ComparisonResult("gmm40_2d", "toy2d", [2], 0, 100, None, [density, chain])
    html = render_report(result)
    assert "0.012 ± 0.04" in html and "ELBO" in html and "0.25" in html and "777" in html
    assert html.count('<td class="log-z">') == 2  # the chain's cell is a dash
    without = render_report(ComparisonResult("x", "toy2d", [2], 0, 100, None, [chain]))
    assert "log Z" not in without.split("<tbody>")[0]  # no log Z columns without estimates
