"""Closed-form ε-networks for Gaussian-mixture data, shared by the diffusion tests.

For x₀ ~ Σₖ wₖ N(μₖ, sₖ² I) and x_t = α x₀ + σ ε, p_t = Σₖ wₖ N(α μₖ, (α² sₖ² + σ²) I), so the
optimal ε-network ε*(x_t) = −σ ∇ log p_t(x_t) is known exactly: the "perfectly trained" model.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class Mixture:
    def __init__(self, means: list[list[float]], stds: list[float], weights: list[float]) -> None:
        self.means = torch.tensor(means, dtype=torch.float32)  # [K, d]
        self.stds = torch.tensor(stds, dtype=torch.float32)  # [K]
        self.weights = torch.tensor(weights, dtype=torch.float32) / sum(weights)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        return self.means[k] + self.stds[k, None] * torch.randn(
            n, self.means.shape[1], generator=generator
        )

    def _log_joint(self, x: Tensor, alpha: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        a, s = alpha.reshape(-1, 1), sigma.reshape(-1, 1)  # [B, 1]
        var = a**2 * self.stds**2 + s**2  # [B, K]
        mu = a[:, :, None] * self.means  # [B, K, d]
        d = x.shape[1]
        sq = (x[:, None, :] - mu).square().sum(-1)  # [B, K]
        log_joint = self.weights.log() - 0.5 * sq / var - 0.5 * d * torch.log(2 * math.pi * var)
        return log_joint, mu, var

    def log_prob(
        self, x: Tensor, alpha: Tensor | float = 1.0, sigma: Tensor | float = 0.0
    ) -> Tensor:
        alpha = torch.as_tensor(alpha, dtype=x.dtype).expand(x.shape[0])
        sigma = torch.as_tensor(sigma, dtype=x.dtype).expand(x.shape[0])
        return torch.logsumexp(self._log_joint(x, alpha, sigma)[0], -1)

    def eps(self, x: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
        """ε*(x_t) = −σ ∇ log p_t(x_t) for per-example (α, σ) ``[B]``."""
        log_joint, mu, var = self._log_joint(x, alpha, sigma)
        r = torch.softmax(log_joint, -1)  # [B, K]
        score = (r[:, :, None] * (mu - x[:, None, :]) / var[:, :, None]).sum(1)
        return -sigma.reshape(-1, 1) * score

    def assign(self, x: Tensor) -> Tensor:
        return self._log_joint(x, x.new_ones(x.shape[0]), x.new_zeros(x.shape[0]))[0].argmax(-1)


def mmd(x: Tensor, y: Tensor, bandwidths: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)) -> float:
    """Biased MMD² with a sum of RBF kernels (Gretton et al. 2012)."""

    def k(a: Tensor, b: Tensor) -> Tensor:
        d2 = torch.cdist(a, b).square()
        return sum(torch.exp(d2 * (-0.5 / (h * h))) for h in bandwidths)

    return float(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())
