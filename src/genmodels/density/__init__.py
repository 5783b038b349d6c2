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
    reference_scale,
    systematic_resample,
)
from genmodels.density.fab import FABSettings, run_fab
from genmodels.density.idem import IDEMSettings, run_idem
from genmodels.density.importance import (
    FlowISSettings,
    FlowProposal,
    GaussianProposal,
    PFODEProposal,
    Proposal,
    TargetProposal,
    as_proposal,
    importance_correct,
    importance_sample,
    run_flow_is,
)
from genmodels.density.pis import DDSSettings, PISSettings, run_dds, run_pis
from genmodels.density.smc import SMCSettings, run_smc
from genmodels.density.tempering import GaussianReference, TemperedPath

__all__ = [
    "AISSettings",
    "Cost",
    "CountingDensity",
    "DDSSettings",
    "FABSettings",
    "FlowISSettings",
    "FlowProposal",
    "GaussianProposal",
    "GaussianReference",
    "IDEMSettings",
    "PFODEProposal",
    "PISSettings",
    "Proposal",
    "SMCSettings",
    "TargetProposal",
    "TemperedPath",
    "WeightedSamples",
    "as_proposal",
    "ess_fraction",
    "importance_correct",
    "importance_sample",
    "log_z_estimate",
    "reference_scale",
    "run_ais",
    "run_dds",
    "run_fab",
    "run_flow_is",
    "run_idem",
    "run_pis",
    "run_smc",
    "systematic_resample",
]
