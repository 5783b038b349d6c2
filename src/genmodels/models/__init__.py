"""Maps: learned models from noise to data (GAN, VAE, flows) and the model interface.

Each model registers itself in `genmodels.catalogue` (camp ``"map"``).
"""

from genmodels.models.base import GenerativeModel, Player
from genmodels.models.flow import Flow, FlowConfig
from genmodels.models.gan import GAN, GANConfig
from genmodels.models.vae import VAE, VAEConfig

__all__ = [
    "GAN",
    "VAE",
    "Flow",
    "FlowConfig",
    "GANConfig",
    "GenerativeModel",
    "Player",
    "VAEConfig",
]
