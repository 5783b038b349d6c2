"""`genmodels mcmc`: files and keys of the contract; bad input is one line and exit 2."""

from __future__ import annotations

import json

import arviz as az

from cli_contract import assert_one_line_error

SUMMARY_KEYS = {
    "sampler",
    "target",
    "chains",
    "draws",
    "seconds",
    "grad_evals",
    "divergences",
    "min_ess_bulk",
    "max_r_hat",
    "params",
}


def test_mcmc_writes_summary_posterior_and_plots(cli, tmp_path) -> None:
    out = tmp_path / "run"
    proc = cli(
        "mcmc",
        "--target",
        "banana",
        "--sampler",
        "mala",
        "--chains",
        "2",
        "--draws",
        "60",
        "--warmup",
        "40",
        "--seed",
        "1",
        "--out",
        out,
        "--no-progress",
        check=True,
    )
    assert "max R-hat" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) >= SUMMARY_KEYS
    assert summary["chains"] == 2 and summary["draws"] == 60 and summary["grad_evals"] > 0
    assert set(summary["params"]) == {"x[0]", "x[1]"}
    for p in summary["params"].values():
        assert set(p) == {"mean", "sd", "ess_bulk", "ess_tail", "r_hat"}
    idata = az.from_netcdf(out / "posterior.nc")
    assert idata.posterior["x"].shape == (2, 60, 2)
    assert "diverging" in idata.sample_stats
    for name in ("trace.png", "autocorrelation.png", "scatter.png"):
        assert (out / name).stat().st_size > 1000


def test_mcmc_json_and_modes_init_flag_non_mixing(cli, tmp_path) -> None:
    # RWMH started in both modes of a far-apart mixture never crosses: R-hat must say so.
    proc = cli(
        "mcmc",
        "--target",
        "mixture_80_20",
        "--sampler",
        "rwmh",
        "--chains",
        "4",
        "--draws",
        "300",
        "--warmup",
        "100",
        "--init",
        "modes",
        "--out",
        tmp_path / "mix",
        "--json",
        "--no-plots",
        check=True,
    )
    summary = json.loads(proc.stdout)
    assert summary["max_r_hat"] > 1.1


def test_mcmc_bad_input_is_one_line(cli, tmp_path) -> None:
    out = tmp_path / "bad"
    unknown = cli("mcmc", "--target", "banana", "--sampler", "nutz", "--out", out)
    assert_one_line_error(unknown)
    assert "did you mean 'nuts'" in unknown.stderr
    for args in (
        ("--target", "digits"),  # samples only, no density
        ("--target", "banana", "--init", "modes"),  # banana has no modes
    ):
        assert_one_line_error(cli("mcmc", *args, "--draws", "5", "--out", out))
