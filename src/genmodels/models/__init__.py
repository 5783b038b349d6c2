"""Maps: learned models from noise to data, and the shared model interface and registry."""

from genmodels.models.base import MODELS, GenerativeModel

__all__ = ["MODELS", "GenerativeModel"]
