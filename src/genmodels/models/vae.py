"""Variational auto-encoder (Kingma & Welling 2014) with the IWAE bound (Burda et al. 2016).

Notation: data x, latent z ~ p(z) = N(0, I), decoder p_θ(x | z), encoder q_φ(z | x) =
N(μ_φ(x), diag σ_φ(x)²). Training maximises the ELBO
``E_q[log p_θ(x|z)] − KL(q_φ(z|x) ‖ p(z))``; `log_prob` reports the IWAE bound
``log (1/K) Σ_k p_θ(x, z_k) / q_φ(z_k | x)`` (K = 1: the ELBO), a lower bound on log p(x),
never the likelihood itself.
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
from genmodels.checks import at_least, check_range
from genmodels.errors import ConfigError, NotApplicableError
from genmodels.memory import check_network_size
from genmodels.models.base import GenerativeModel, KindDefaults
from genmodels.models.common import Standardize, check_map_sample_options, dequantize
from genmodels.nets.conv import ConvDecoder, ConvEncoder
from genmodels.nets.dense import dense_net
from genmodels.samples import Samples

__all__ = ["VAE", "VAEConfig"]

_LOG_2PI = math.log(2 * math.pi)


@dataclass
class VAEConfig:
    """Configuration of `VAE`.

    Attributes:
        latent_dim: dimension of z (0: 2 for vectors, 16 for images).
        hidden: hidden width of the dense encoder/decoder (vectors).
        depth: hidden layers of the dense nets (vectors).
        channels: base channels of the conv nets (images).
        decoder: ``"gaussian"`` (learned per-dimension scale; a density, so it has a bound)
            or ``"bernoulli"`` (images only: intensities as probabilities, no bound).
        iwae_k: importance samples K of the bound `log_prob` reports (1: the ELBO).
        min_log_scale: floor of the Gaussian decoder's log-scale (keeps the bound finite).
        num_levels: intensity levels of discrete data (0: continuous; set from the target).
        kl_warmup: training updates over which the KL weight rises linearly from 0 to 1
            (Bowman et al. 2016); without it a Gaussian decoder on 2-D data settles in the
            posterior-collapse optimum (one Gaussian fitted to all the data). 0: off;
            -1: 1000 updates for vectors, off for images (whose short runs it would spoil).
    """

    latent_dim: int = 0
    hidden: int = 256
    depth: int = 3
    channels: int = 32
    decoder: Literal["gaussian", "bernoulli"] = "gaussian"
    iwae_k: int = 64
    min_log_scale: float = -5.0
    num_levels: int = 0
    kl_warmup: int = -1

    def __post_init__(self) -> None:
        at_least(self, 1, "hidden", "depth", "channels", "iwae_k", where="model")
        at_least(self, 0, "latent_dim", "num_levels", where="model")
        at_least(self, -1, "kl_warmup", where="model")
        check_range(self.min_log_scale, "model.min_log_scale")
        check_network_size(self.hidden, self.depth, f"a VAE with hidden={self.hidden}", blocks=2)
        check_network_size(3 * self.channels, 3, f"a VAE with channels={self.channels}")


@register_method(
    "vae",
    camp="map",
    order=1,
    description="variational auto-encoder (ELBO; IWAE bound for likelihood)",
)
class VAE(GenerativeModel):
    """A VAE with dense nets for vectors and conv nets for images.

    Example:
        >>> vae = VAE(VAEConfig(hidden=16, depth=1, iwae_k=4), (2,))
        >>> vae.log_prob(torch.zeros(5, 2)).shape
        torch.Size([5])
    """

    camp = "map"
    likelihood = "bound"
    Config = VAEConfig
    # per target kind, over the Config and TrainConfig defaults (figures in benchmarks/README.md)
    kind_defaults: ClassVar[KindDefaults] = {
        "toy2d": {"train": {"steps": 3000}},
        "image": {"train": {"steps": 2000, "batch_size": 128}},
    }

    def __init__(self, config: VAEConfig, event_shape: tuple[int, ...]) -> None:
        super().__init__(config, event_shape)
        if config.decoder not in ("gaussian", "bernoulli"):
            raise ConfigError(f"decoder must be gaussian or bernoulli, got {config.decoder!r}")
        self.image = len(self.event_shape) == 3
        if config.decoder == "bernoulli" and not self.image:
            raise ConfigError("the Bernoulli decoder is for images; use decoder='gaussian'")
        self.latent_dim = config.latent_dim or (16 if self.image else 2)
        self.dim = math.prod(self.event_shape)
        out_per_dim = 2 if config.decoder == "gaussian" else 1  # (mean, log-scale) or logits
        if self.image:
            self.encoder: nn.Module = ConvEncoder(
                self.event_shape, 2 * self.latent_dim, config.channels
            )
            self.decoder: nn.Module = ConvDecoder(
                self.latent_dim,
                self.event_shape,
                config.channels,
                out_channels=out_per_dim * self.event_shape[0],
            )
        else:
            self.encoder = dense_net(self.dim, 2 * self.latent_dim, config.hidden, config.depth)
            self.decoder = dense_net(
                self.latent_dim, out_per_dim * self.dim, config.hidden, config.depth
            )
        self.standardize = Standardize(self.event_shape, per_dim=not self.image)
        # training updates so far, for the KL warm-up (a buffer: checkpoints carry it)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def init_from_data(self, x: Tensor) -> None:
        if not self.image:
            self.standardize.fit(x)

    def _encode(self, y: Tensor) -> tuple[Tensor, Tensor]:
        mu, log_sigma = self.encoder(y).chunk(2, dim=-1)  # (B, d_z) each
        return mu, log_sigma.clamp(-10.0, 5.0)

    def _log_px_given_z(self, y: Tensor, z: Tensor) -> Tensor:
        """``log p_θ(y | z)`` for ``y [B, *event]`` and ``z [K, B, d_z]`` → ``[K, B]``."""
        k, b = z.shape[:2]
        out = self.decoder(z.reshape(k * b, -1))  # (K*B, out_per_dim * D) or image channels
        out = out.reshape(k, b, -1, self.dim)  # (K, B, out_per_dim, D)
        target = y.reshape(1, b, self.dim)  # (1, B, D)
        if self.config.decoder == "bernoulli":
            p = (target + 1) / 2  # intensities in [0, 1] as Bernoulli means
            return -F.binary_cross_entropy_with_logits(
                out[:, :, 0], p.expand(k, b, self.dim), reduction="none"
            ).sum(-1)
        mean, log_scale = out[:, :, 0], out[:, :, 1].clamp_min(self.config.min_log_scale)
        return (-0.5 * ((target - mean) / log_scale.exp()) ** 2 - log_scale - 0.5 * _LOG_2PI).sum(
            -1
        )

    def _log_weights(self, x: Tensor, k: int, beta: float = 1.0) -> Tensor:
        """``log p(x|z_k) + β (log p(z_k) − log q(z_k|x))``, z_k ~ q(z | x) → ``[K, B]``.

        β = 1 gives the importance weights of the bound; β < 1 only during KL warm-up.
        """
        y = self.standardize(x)
        mu, log_sigma = self._encode(y.reshape(x.shape[0], -1) if not self.image else y)
        eps = torch.randn(k, *mu.shape, dtype=mu.dtype, device=mu.device)  # (K, B, d_z)
        z = mu + log_sigma.exp() * eps
        log_q = (-0.5 * eps**2 - log_sigma - 0.5 * _LOG_2PI).sum(-1)
        log_prior = (-0.5 * z**2 - 0.5 * _LOG_2PI).sum(-1)
        log_px = self._log_px_given_z(y, z)
        return log_px + beta * (log_prior - log_q) + self.standardize.log_abs_det()

    def loss(self, batch: Tensor) -> Tensor:
        """Negative ELBO per example (of dequantised data when discrete), KL-weighted by
        β = min(1, updates / kl_warmup) while training."""
        if self.config.num_levels > 1 and self.config.decoder == "gaussian":
            batch = dequantize(batch, self.config.num_levels)
        beta = 1.0
        warmup = self.config.kl_warmup
        if warmup < 0:  # auto
            warmup = 0 if self.image else 1000
        if self.training and warmup > 0:
            beta = min(1.0, float(self.updates) / warmup)
            self.updates += 1
        return -self._log_weights(batch, 1, beta).mean()

    def log_prob(self, x: Tensor, k: int | None = None) -> Tensor:
        """IWAE lower bound on ``log p(x)`` with ``k`` (default ``iwae_k``) samples → ``[B]``."""
        if self.config.decoder == "bernoulli":
            raise NotApplicableError(
                "the Bernoulli decoder treats intensities as probabilities and has no density "
                "of the data; train with decoder='gaussian' for a likelihood bound"
            )
        k = k or self.config.iwae_k
        log_w = self._log_weights(x, k)  # (K, B)
        return torch.logsumexp(log_w, dim=0) - math.log(k)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        mean: bool | None = None,
        **options: Any,
    ) -> Samples:
        """Decode ``z ~ N(0, I)``; ``mean`` returns E[x | z] (default for images) instead of
        a draw from p(x | z) (default for vectors)."""
        check_map_sample_options("vae", options)
        t0 = time.perf_counter()
        mean = self.image if mean is None else mean
        device = self.standardize.shift.device
        z = torch.randn(1, n, self.latent_dim, generator=generator).to(device)  # (1, n, d_z)
        out = self.decoder(z[0]).reshape(n, -1, self.dim)  # (n, out_per_dim, D)
        if self.config.decoder == "bernoulli":
            p = torch.sigmoid(out[:, 0])
            if not mean:
                p = torch.bernoulli(p, generator=generator) if device.type == "cpu" else p.round()
            y = 2 * p - 1
        else:
            y = out[:, 0]
            if not mean:
                scale = out[:, 1].clamp_min(self.config.min_log_scale).exp()
                y = y + scale * torch.randn(y.shape, generator=generator).to(device)
        x = self.standardize.inverse(y.reshape(n, *self.event_shape))
        if self.image:
            x = x.clamp(-1, 1)
        return Samples(x, nfe=1, seconds=time.perf_counter() - t0)
