"""InferenceData as ArviZ users expect it: named blocks, sample_stats, warm-up, attrs."""

from __future__ import annotations

from pathlib import Path

import arviz as az
import matplotlib
import numpy as np
import pytest
import torch

from genmodels.mcmc import ChainSamples, sample_chains
from genmodels.metrics.chains import to_inference_data
from genmodels.targets import get_target
from genmodels.targets.constraints import ParamBlock, ParamSpace

matplotlib.use("Agg")

SCHOOLS = ["Choate", "Deerfield", "Phillips Andover", "Phillips Exeter", "Hotchkiss",
           "Lawrenceville", "St. Paul's", "Mt. Hermon"]  # fmt: skip
STATS = {"lp", "energy", "diverging", "tree_depth", "n_steps", "acceptance_rate", "step_size"}


@pytest.mark.slow
def test_eight_schools_inference_data_works_with_arviz(tmp_path: Path) -> None:
    """The centered model (its funnel makes energy diagnostics interesting), a short NUTS."""
    s = sample_chains(get_target("eight_schools"), "nuts", chains=4, draws=100, warmup=100,
                      kernel_options={"max_tree_depth": 5}, seed=0, progress=False)  # fmt: skip
    idata = to_inference_data(s)
    idata.to_netcdf(str(tmp_path / "posterior.nc"))
    idata = az.from_netcdf(tmp_path / "posterior.nc")
    post = idata.posterior
    assert set(post.data_vars) == {"mu", "tau", "theta"}
    assert post["theta"].dims == ("chain", "draw", "school")
    assert list(post["school"].values) == SCHOOLS
    assert float(post["tau"].min()) > 0
    assert set(idata.sample_stats.data_vars) == STATS
    assert idata.posterior.attrs["inference_library"] == "genmodels"
    assert idata.posterior.attrs["sampler"] == "nuts" and int(idata.posterior.attrs["seed"]) == 0
    summary = az.summary(idata)
    assert {"mu", "tau", "theta[Choate]"} <= set(summary.index)
    bfmi = az.bfmi(idata)
    assert bfmi.shape == (4,) and np.isfinite(bfmi).all() and (bfmi > 0).all()
    ess = az.ess(idata)
    assert float(ess["tau"]) > 1 and ess["theta"].shape == (8,)
    az.plot_energy(idata)
    axes = az.plot_trace(idata, var_names=["tau"])
    assert axes.shape == (1, 2)
    matplotlib.pyplot.close("all")
    # the energy is the Hamiltonian at the momentum refresh of draw t: -lp of draw t-1 plus
    # a kinetic energy that is never negative (and not always zero)
    energy, lp = idata.sample_stats["energy"].values, idata.sample_stats["lp"].values
    kinetic = energy[:, 1:] + lp[:, :-1]
    assert (kinetic >= -1e-3).all() and kinetic.mean() > 1.0


@pytest.mark.slow
def test_mcmc_cli_writes_blocks_warmup_and_attrs(cli, tmp_path: Path) -> None:
    """Non-centered eight schools from the CLI: μ and τ where the literature has them
    (μ 4.4, τ 3.6, within 4 MCSE), warm-up groups with --save-warmup."""
    out = tmp_path / "run"
    cli("mcmc", "--target", "eight_schools_noncentered", "--chains", "4", "--draws", "200",
        "--warmup", "150", "--seed", "2", "--save-warmup", "--device", "cpu", "--out", out,
        "--no-progress", check=True)  # fmt: skip
    idata = az.from_netcdf(out / "posterior.nc")
    assert set(idata.posterior.data_vars) == {"mu", "tau", "theta_tilde"}
    assert idata.warmup_posterior["tau"].shape == (4, 150)
    assert "lp" in idata.warmup_sample_stats and "energy" in idata.warmup_sample_stats
    assert idata.posterior.attrs["target"] == "eight_schools_noncentered"
    summary = az.summary(idata, var_names=["mu", "tau"])
    for name, truth in (("mu", 4.4), ("tau", 3.6)):
        row = summary.loc[name]
        assert abs(row["mean"] - truth) < 4 * row["mcse_mean"] + 0.1, (name, row)
    assert (out / "trace.png").stat().st_size > 1000


def test_only_the_stats_a_kernel_has() -> None:
    """RWMH has no energy, leapfrog steps or tree; a flat `names` layout stays available."""
    stats = {
        "accept_prob": torch.rand(2, 20),
        "divergent": torch.zeros(2, 20, dtype=torch.bool),
        "num_grad_evals": torch.ones(2, 20, dtype=torch.long),
        "tree_depth": torch.zeros(2, 20, dtype=torch.long),
        "log_prob": torch.randn(2, 20),
    }
    space = ParamSpace([ParamBlock("a"), ParamBlock("b", (2,))])
    samples = ChainSamples(torch.randn(2, 20, 3), chains=2, stats=stats,
                           step_size=torch.tensor([0.1, 0.2]), space=space)  # fmt: skip
    idata = to_inference_data(samples)
    assert set(idata.sample_stats.data_vars) == {"lp", "acceptance_rate", "diverging", "step_size"}
    assert idata.posterior["b"].shape == (2, 20, 2)
    np.testing.assert_allclose(idata.sample_stats["step_size"].values[:, 0], [0.1, 0.2])
    flat = to_inference_data(samples, ["a", "b[0]", "b[1]"])
    assert list(flat.posterior["x"].coords["param"].values) == ["a", "b[0]", "b[1]"]
