"""Targets: what samplers and models run on, and are judged against.

- 2-D toys (`toy2d`): exact sampler AND exact normalised density — where chains and maps
  meet on equal terms;
- posteriors (`posterior`): a density for the chains (funnel and Gaussian also sample);
- images (`image`): samples only (`digits` is bundled; folders and ``.npz`` files load).

`get_target(name)` builds a registered target; a path to an image folder or ``.npz``
file works too.
"""

from genmodels.targets import images, posteriors, toy2d  # noqa: F401  (register targets)
from genmodels.targets.base import TARGETS, ModeStructure, Target, describe_targets, get_target
from genmodels.targets.images import ImageDataset, load_image_folder, load_npz_images
from genmodels.targets.mixture import GaussianMixture

__all__ = [
    "TARGETS",
    "GaussianMixture",
    "ImageDataset",
    "ModeStructure",
    "Target",
    "describe_targets",
    "get_target",
    "load_image_folder",
    "load_npz_images",
]
