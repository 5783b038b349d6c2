"""Your own density -> NUTS -> ArviZ, from Python.

A small hierarchical model written as a plain log-density over named, constrained
parameters: ``mu`` (real), ``sigma`` (positive) and per-group effects ``theta[4]``. The
chains run in unconstrained space (log sigma) with the Jacobian added; the draws, the
summary and the InferenceData are in the parameters' own terms.

    python examples/own_density.py             # a few thousand draws
    GENMODELS_EXAMPLE_QUICK=1 python examples/own_density.py   # a few seconds

The same file works from the command line, since ``model`` is a `DensityTarget`:

    genmodels mcmc --target examples/own_density.py:model --out runs/own
"""

from __future__ import annotations

import os
import sys

import arviz as az
import torch
from torch.distributions import HalfNormal, Normal, constraints

from genmodels.mcmc import sample_chains
from genmodels.metrics.chains import to_inference_data
from genmodels.targets import DensityTarget, ParamBlock

QUICK = os.environ.get("GENMODELS_EXAMPLE_QUICK") == "1"

# observations of four groups (made up)
Y = torch.tensor([[1.1, 0.7, 1.9], [2.4, 2.9, 2.2], [0.1, -0.4, 0.5], [1.6, 1.2, 2.0]])


def log_prob(x: torch.Tensor) -> torch.Tensor:
    """log p(mu, sigma, theta | Y) up to a constant; ``x`` is ``[n, 6]`` = (mu, sigma, theta)."""
    mu, sigma, theta = x[:, 0], x[:, 1], x[:, 2:]
    lp = Normal(0.0, 5.0).log_prob(mu) + HalfNormal(2.0).log_prob(sigma)
    lp = lp + Normal(mu[:, None], sigma[:, None]).log_prob(theta).sum(-1)
    return lp + Normal(theta[:, :, None], 0.5).log_prob(Y).sum((-1, -2))  # [n]


model = DensityTarget(
    log_prob,
    params=[
        ParamBlock("mu"),
        ParamBlock("sigma", support=constraints.positive),
        ParamBlock("theta", (4,), dims=("group",), coords={"group": ["a", "b", "c", "d"]}),
    ],
    name="own_density",
)


def main() -> None:
    draws, warmup = (80, 80) if QUICK else (1000, 500)
    samples = sample_chains(
        model, "nuts", chains=4, draws=draws, warmup=warmup, seed=0, progress=not QUICK
    )
    idata = to_inference_data(samples, attrs={"target": model.name})
    print(az.summary(idata, kind="all", round_to=3))
    print("E-BFMI per chain:", az.bfmi(idata).round(2))
    sigma = idata.posterior["sigma"]
    assert float(sigma.min()) > 0, "sigma is sampled on its support"
    if len(sys.argv) > 1:  # e.g. `python examples/own_density.py posterior.nc`
        idata.to_netcdf(sys.argv[1])


if __name__ == "__main__":
    main()
