"""Sampling a density known only up to its normaliser, with an estimate of log Z.

The ``density`` camp of the catalogue: sequential Monte Carlo and annealed importance
sampling, importance-corrected maps and diffusion samplers trained from the density alone.
Each returns a `WeightedSamples` (particles, log weights, log Ẑ with its standard error, the
`Cost` in target evaluations); `genmodels compare` scores them beside the chains.
"""

from genmodels.density.ais import AISSettings, run_ais
from genmodels.density.base import (
    Cost,
    CountingDensity,
    WeightedSamples,
    ess_fraction,
    log_z_estimate,
    systematic_resample,
)
from genmodels.density.smc import SMCSettings, run_smc
from genmodels.density.tempering import GaussianReference, TemperedPath

__all__ = [
    "AISSettings",
    "Cost",
    "CountingDensity",
    "GaussianReference",
    "SMCSettings",
    "TemperedPath",
    "WeightedSamples",
    "ess_fraction",
    "log_z_estimate",
    "run_ais",
    "run_smc",
    "systematic_resample",
]
