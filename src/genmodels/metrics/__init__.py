"""Sample metrics: two-sample distances, mode metrics, and `evaluate_samples`."""

from genmodels.metrics.distances import (
    DEFAULT_BANDWIDTH_FACTORS,
    PairwiseMeans,
    energy_distance,
    median_pairwise_distance,
    mmd2,
    pairwise_means,
    rbf_bandwidths,
    sliced_wasserstein,
)
from genmodels.metrics.evaluate import check_sample, evaluate_samples, target_bandwidths
from genmodels.metrics.modes import (
    DEFAULT_MIN_SHARE,
    mode_counts,
    mode_weight_tv,
    modes_covered,
)

__all__ = [
    "DEFAULT_BANDWIDTH_FACTORS",
    "DEFAULT_MIN_SHARE",
    "PairwiseMeans",
    "check_sample",
    "energy_distance",
    "evaluate_samples",
    "median_pairwise_distance",
    "mmd2",
    "mode_counts",
    "mode_weight_tv",
    "modes_covered",
    "pairwise_means",
    "rbf_bandwidths",
    "sliced_wasserstein",
    "target_bandwidths",
]
