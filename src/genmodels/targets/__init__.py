"""Targets: 2-D toys (density and sampler), Bayesian posteriors (density), image data sets."""

from genmodels.targets.base import TARGETS, ModeStructure, Target, get_target

__all__ = ["TARGETS", "ModeStructure", "Target", "get_target"]
