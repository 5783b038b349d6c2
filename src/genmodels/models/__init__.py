"""Maps: learned models from noise to data (GAN, VAE, flows), the model interface and registry."""

from genmodels.models.base import MODELS, GenerativeModel, Player
from genmodels.models.flow import Flow, FlowConfig
from genmodels.models.gan import GAN, GANConfig
from genmodels.models.vae import VAE, VAEConfig

__all__ = [
    "GAN",
    "METHOD_CAMPS",
    "MODELS",
    "VAE",
    "Flow",
    "FlowConfig",
    "GANConfig",
    "GenerativeModel",
    "Player",
    "VAEConfig",
]

_MAPS = ("gan", "vae", "flow")

# The diffusion methods register into the same MODELS; importing them here means
# `from genmodels.models import MODELS` always sees every learned model.
import genmodels.diffusion  # noqa: E402, F401


def METHOD_CAMPS() -> dict[str, str]:
    """The maps this package registers: ``{"gan": "map", "vae": "map", "flow": "map"}``."""
    return {name: "map" for name in _MAPS}
