"""Targets: what samplers and models run on, and are judged against.

- 2-D toys (`toy2d`): exact sampler AND exact normalised density — where chains and maps
  meet on equal terms;
- posteriors (`posterior`): a density for the chains (funnel and Gaussian also sample);
- images (`image`): samples only (`digits` is bundled; folders and ``.npz`` files load);
- densities with a known normaliser (`genmodels.targets.logz`: ``gmm40_2d``, ``gmm40_50d``,
  ``manywell_32d``; ``funnel``): `Target.log_z` exact, for the samplers of a density;
- a user's vector data (`vector`, any dimension): `DataTarget`, from ``.npz``/``.npy``/
  ``.csv``/``.tsv`` files, with a fixed test split and standardised columns.

`get_target(name)` builds a registered target; a path to an image folder or a data file
(``.npz``, ``.npy``, ``.csv``, ``.tsv``) works too, and so does ``model.py:NAME``, a user's
own density (`genmodels.targets.user_density`). Posteriors declare named, constrained
parameter blocks (`genmodels.targets.constraints`); chains run them in unconstrained space
(`genmodels.targets.unconstrained`).
"""

from genmodels.targets import (  # noqa: F401  (register targets and path loaders)
    data,
    images,
    logz,
    posteriors,
    toy2d,
    user_density,
)
from genmodels.targets.base import TARGETS, ModeStructure, Target, describe_targets, get_target
from genmodels.targets.constraints import ParamBlock, ParamSpace
from genmodels.targets.data import DataTarget, Standardization, load_data_file
from genmodels.targets.images import ImageDataset, load_image_folder, load_npz_images
from genmodels.targets.logz import ManyWell, UnnormalisedGMM
from genmodels.targets.mixture import GaussianMixture
from genmodels.targets.user_density import DensityTarget, load_density

__all__ = [
    "TARGETS",
    "DataTarget",
    "DensityTarget",
    "GaussianMixture",
    "ImageDataset",
    "ManyWell",
    "ModeStructure",
    "ParamBlock",
    "ParamSpace",
    "Standardization",
    "Target",
    "UnnormalisedGMM",
    "describe_targets",
    "get_target",
    "load_data_file",
    "load_density",
    "load_image_folder",
    "load_npz_images",
]
