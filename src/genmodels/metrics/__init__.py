"""Sample metrics: two-sample distances, mode metrics, offline image metrics, `evaluate_samples`.

`evaluate_samples(x, target)` picks the metrics of the target's kind: MMD (with its floor),
energy distance, sliced Wasserstein and mode metrics for targets with an exact sampler;
Fréchet distance and precision/recall on a small classifier's features for image data sets.
"""

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
from genmodels.metrics.image import (
    FeatureClassifier,
    classifier_accuracy,
    evaluate_images,
    frechet_distance,
    image_classifier,
    precision_recall,
)
from genmodels.metrics.modes import (
    DEFAULT_MIN_SHARE,
    mode_counts,
    mode_weight_tv,
    modes_covered,
)

__all__ = [
    "DEFAULT_BANDWIDTH_FACTORS",
    "DEFAULT_MIN_SHARE",
    "FeatureClassifier",
    "PairwiseMeans",
    "check_sample",
    "classifier_accuracy",
    "energy_distance",
    "evaluate_images",
    "evaluate_samples",
    "frechet_distance",
    "image_classifier",
    "median_pairwise_distance",
    "mmd2",
    "mode_counts",
    "mode_weight_tv",
    "modes_covered",
    "pairwise_means",
    "precision_recall",
    "rbf_bandwidths",
    "sliced_wasserstein",
    "target_bandwidths",
]
