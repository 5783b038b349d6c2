"""Plain fully connected networks for vector data (GAN/VAE nets on 2-D toys and posteriors)."""

from __future__ import annotations

import itertools

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

__all__ = ["dense_net"]


def dense_net(
    in_features: int,
    out_features: int,
    hidden: int = 128,
    depth: int = 3,
    *,
    activation: type[nn.Module] = nn.SiLU,
    spectral_norm: bool = False,
) -> nn.Sequential:
    """A multilayer perceptron ``in -> hidden x depth -> out``.

    Args:
        in_features: input width.
        out_features: output width.
        hidden: width of each hidden layer.
        depth: number of hidden layers.
        activation: activation class between layers.
        spectral_norm: wrap every linear layer in spectral normalisation (Miyato et al. 2018),
            for Lipschitz-constrained discriminators.

    Returns:
        an `nn.Sequential` mapping ``[B, in_features] -> [B, out_features]``.

    Example:
        >>> import torch
        >>> dense_net(2, 1, hidden=16, depth=2)(torch.zeros(5, 2)).shape
        torch.Size([5, 1])
    """

    def linear(i: int, o: int) -> nn.Module:
        layer = nn.Linear(i, o)
        return _spectral_norm(layer) if spectral_norm else layer

    widths = [in_features] + [hidden] * depth
    layers: list[nn.Module] = []
    for i, o in itertools.pairwise(widths):
        layers += [linear(i, o), activation()]
    layers.append(linear(widths[-1], out_features))
    return nn.Sequential(*layers)
