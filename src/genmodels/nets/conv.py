"""Small convolutional encoder, decoder and discriminator for square images (8x8 to 64x64).

Resolution halves (encoder) or doubles (decoder) per stage between the image and a 4x4
feature map, so an 8x8 image has one stage and a 32x32 image three.
"""

from __future__ import annotations

import math

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from genmodels.errors import InvalidInputError

__all__ = ["ConvDecoder", "ConvEncoder", "conv_discriminator"]


def _stages(event_shape: tuple[int, ...]) -> int:
    if len(event_shape) != 3 or event_shape[1] != event_shape[2]:
        raise InvalidInputError(f"conv nets need square images [C, H, H], got {event_shape}")
    h = event_shape[1]
    stages = math.log2(h) - 2
    if h < 4 or stages != int(stages):
        raise InvalidInputError(f"conv nets need a power-of-two image size >= 4, got {h}")
    return int(stages)


class ConvEncoder(nn.Module):
    """Image ``[B, C, H, H]`` → vector ``[B, out_features]``.

    Args:
        event_shape: ``(C, H, H)`` with ``H`` a power of two ≥ 4.
        out_features: output width.
        channels: feature channels (doubling at each downsampling stage).
        spectral_norm: spectral-normalise every layer (for discriminators).

    Example:
        >>> ConvEncoder((1, 8, 8), 10)(torch.zeros(3, 1, 8, 8)).shape
        torch.Size([3, 10])
    """

    def __init__(
        self,
        event_shape: tuple[int, ...],
        out_features: int,
        channels: int = 32,
        *,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        sn = _spectral_norm if spectral_norm else (lambda m: m)
        stages = _stages(event_shape)
        c = channels
        layers: list[nn.Module] = [sn(nn.Conv2d(event_shape[0], c, 3, padding=1)), nn.SiLU()]
        for _ in range(stages):
            layers += [sn(nn.Conv2d(c, 2 * c, 4, stride=2, padding=1)), nn.SiLU()]
            c *= 2
        layers += [sn(nn.Conv2d(c, c, 3, padding=1)), nn.SiLU(), nn.Flatten()]
        layers.append(sn(nn.Linear(c * 4 * 4, out_features)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """Vector ``[B, in_features]`` → image ``[B, out_channels, H, H]`` (no output activation).

    Args:
        in_features: input width (latent dimension).
        event_shape: ``(C, H, H)`` of the image the output is shaped like.
        channels: feature channels at full resolution (doubling per stage towards 4x4).
        out_channels: output channels; defaults to ``C`` (use ``2 * C`` for mean and scale).

    Example:
        >>> ConvDecoder(16, (1, 8, 8))(torch.zeros(3, 16)).shape
        torch.Size([3, 1, 8, 8])
    """

    def __init__(
        self,
        in_features: int,
        event_shape: tuple[int, ...],
        channels: int = 32,
        out_channels: int | None = None,
    ) -> None:
        super().__init__()
        stages = _stages(event_shape)
        c = channels * 2**stages
        self.c0 = c
        self.project = nn.Sequential(nn.Linear(in_features, c * 4 * 4), nn.SiLU())
        layers: list[nn.Module] = [nn.Conv2d(c, c, 3, padding=1), nn.SiLU()]
        for _ in range(stages):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, stride=2, padding=1), nn.SiLU()]
            c //= 2
        layers.append(nn.Conv2d(c, out_channels or event_shape[0], 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        h = self.project(z).view(z.shape[0], self.c0, 4, 4)  # (B, C0, 4, 4)
        return self.net(h)


def conv_discriminator(
    event_shape: tuple[int, ...], channels: int = 32, *, spectral_norm: bool = True
) -> ConvEncoder:
    """A critic ``[B, C, H, H] -> [B, 1]``: a spectral-normalised `ConvEncoder` by default."""
    return ConvEncoder(event_shape, 1, channels, spectral_norm=spectral_norm)
