"""Generative adversarial networks: non-saturating GAN with spectral norm, and WGAN-GP.

Notation: generator G(z), z ~ N(0, I); discriminator / critic D(x) (a logit for the
non-saturating loss, a score for WGAN).

- ``"ns"`` (Goodfellow et al. 2014, non-saturating generator loss; spectral normalisation of
  D from Miyato et al. 2018): ``L_D = softplus(−D(x)) + softplus(D(G(z)))``,
  ``L_G = softplus(−D(G(z)))``;
- ``"wgan-gp"`` (Gulrajani et al. 2017): ``L_D = D(G(z)) − D(x) + λ (‖∇D(x̂)‖ − 1)²`` with
  x̂ on lines between real and fake points, ``L_G = −D(G(z))``.

A GAN has two players, so the training loop drives it through `training_players`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genmodels.catalogue import register_method
from genmodels.checks import at_least, check_betas, check_range
from genmodels.errors import ConfigError
from genmodels.memory import check_network_size
from genmodels.models.base import GenerativeModel, KindDefaults, Player
from genmodels.models.common import Standardize, check_map_sample_options
from genmodels.nets.conv import ConvDecoder, conv_discriminator
from genmodels.nets.dense import dense_net
from genmodels.samples import Samples

__all__ = ["GAN", "GANConfig"]


@dataclass
class GANConfig:
    """Configuration of `GAN`.

    Attributes:
        loss: ``"ns"`` (non-saturating) or ``"wgan-gp"``.
        latent_dim: dimension of z (0: 8 for vectors, 32 for images).
        hidden: hidden width of the dense generator and discriminator (vectors).
        depth: hidden layers of the dense nets (vectors).
        channels: base channels of the conv nets (images).
        spectral_norm: spectral-normalise the discriminator.
        gp_weight: λ of the gradient penalty (WGAN-GP).
        d_steps: discriminator updates per generator update.
        lr: learning rate of both players (0: the train config's).
        betas: Adam betas of both players (GANs like a small β₁).
    """

    loss: Literal["ns", "wgan-gp"] = "ns"
    latent_dim: int = 0
    hidden: int = 256
    depth: int = 3
    channels: int = 32
    spectral_norm: bool = True
    gp_weight: float = 10.0
    d_steps: int = 1
    lr: float = 0.0
    betas: tuple[float, float] = (0.5, 0.9)

    def __post_init__(self) -> None:
        at_least(self, 1, "hidden", "depth", "channels", "d_steps", where="model")
        at_least(self, 0, "latent_dim", where="model")
        check_range(self.gp_weight, "model.gp_weight", ge=0)
        check_range(self.lr, "model.lr", ge=0)
        check_betas(self.betas, "model.betas")
        check_network_size(self.hidden, self.depth, f"a GAN with hidden={self.hidden}", blocks=2)
        check_network_size(3 * self.channels, 3, f"a GAN with channels={self.channels}")


@register_method(
    "gan",
    camp="map",
    order=0,
    description="generative adversarial network (WGAN-GP by default)",
)
class GAN(GenerativeModel):
    """A GAN with dense nets for vectors and conv nets for images (no likelihood).

    Example:
        >>> gan = GAN(GANConfig(hidden=16, depth=1), (2,))
        >>> [p.name for p in gan.training_players()]
        ['discriminator', 'generator']
        >>> gan.sample(4, generator=torch.Generator().manual_seed(0)).x.shape
        torch.Size([4, 2])
    """

    camp = "map"
    likelihood = "none"
    Config = GANConfig
    # per target kind, over the Config and TrainConfig defaults (figures in benchmarks/README.md)
    kind_defaults: ClassVar[KindDefaults] = {
        "toy2d": {"train": {"steps": 3000}},
        "image": {"train": {"steps": 2000, "batch_size": 128}},
    }

    def __init__(self, config: GANConfig, event_shape: tuple[int, ...]) -> None:
        super().__init__(config, event_shape)
        if config.loss not in ("ns", "wgan-gp"):
            raise ConfigError(f"GAN loss must be 'ns' or 'wgan-gp', got {config.loss!r}")
        self.image = len(self.event_shape) == 3
        self.latent_dim = config.latent_dim or (32 if self.image else 8)
        self.dim = math.prod(self.event_shape)
        if self.image:
            self.generator = nn.Sequential(
                ConvDecoder(self.latent_dim, self.event_shape, config.channels), nn.Tanh()
            )
            self.discriminator: nn.Module = conv_discriminator(
                self.event_shape, config.channels, spectral_norm=config.spectral_norm
            )
        else:
            self.generator = dense_net(self.latent_dim, self.dim, config.hidden, config.depth)
            self.discriminator = dense_net(
                self.dim,
                1,
                config.hidden,
                config.depth,
                activation=nn.LeakyReLU,
                spectral_norm=config.spectral_norm,
            )
        self.standardize = Standardize(self.event_shape, per_dim=not self.image)

    def init_from_data(self, x: Tensor) -> None:
        if not self.image:
            self.standardize.fit(x)

    def _fake(self, n: int, like: Tensor) -> Tensor:
        z = torch.randn(n, self.latent_dim, dtype=like.dtype, device=like.device)
        return self.generator(z).reshape(n, *self.event_shape)  # standardised space

    def _d(self, y: Tensor) -> Tensor:
        return self.discriminator(y if self.image else y.reshape(y.shape[0], -1)).squeeze(-1)

    def discriminator_loss(self, batch: Tensor) -> Tensor:
        """The discriminator's (critic's) loss on a real batch and as many fakes."""
        real = self.standardize(batch)
        with torch.no_grad():
            fake = self._fake(batch.shape[0], real)
        d_real, d_fake = self._d(real), self._d(fake)
        if self.config.loss == "ns":
            return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        # WGAN-GP: penalise ‖∇D‖ ≠ 1 on random interpolates x̂ = t x + (1 − t) x̃
        t = torch.rand(real.shape[0], *([1] * len(self.event_shape)), device=real.device)
        x_hat = (t * real + (1 - t) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self._d(x_hat).sum(), x_hat, create_graph=True)
        penalty = (grad.reshape(grad.shape[0], -1).norm(dim=1) - 1).pow(2).mean()
        return d_fake.mean() - d_real.mean() + self.config.gp_weight * penalty

    def generator_loss(self, batch: Tensor) -> Tensor:
        """The generator's loss on ``len(batch)`` fakes (the batch only sets size and device)."""
        d_fake = self._d(self._fake(batch.shape[0], batch))
        if self.config.loss == "ns":
            return F.softplus(-d_fake).mean()
        return -d_fake.mean()

    def loss(self, batch: Tensor) -> Tensor:
        """Sum of both players' losses (a diagnostic; training uses `training_players`)."""
        return self.discriminator_loss(batch) + self.generator_loss(batch)

    def training_players(self) -> list[Player]:
        lr = self.config.lr or None
        betas = tuple(self.config.betas)
        return [
            Player(
                "discriminator",
                list(self.discriminator.parameters()),
                self.discriminator_loss,
                steps=self.config.d_steps,
                lr=lr,
                betas=betas,
            ),
            Player(
                "generator", list(self.generator.parameters()), self.generator_loss, 1, lr, betas
            ),
        ]

    @torch.no_grad()
    def sample(
        self, n: int, *, generator: torch.Generator | None = None, **options: Any
    ) -> Samples:
        """``G(z)`` for ``z ~ N(0, I)`` drawn from ``generator``."""
        check_map_sample_options("gan", options)
        t0 = time.perf_counter()
        device = self.standardize.shift.device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)  # (n, d_z)
        y = self.generator(z).reshape(n, *self.event_shape)
        return Samples(self.standardize.inverse(y), nfe=1, seconds=time.perf_counter() - t0)
