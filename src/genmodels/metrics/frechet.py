"""The Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017).

Shared by the offline image metrics (`genmodels.metrics.image`, a small classifier's features)
and Inception FID (`genmodels.metrics.inception`), which otherwise know nothing of each other.

Notation (code → paper): ``mu``, ``sigma`` → μ, Σ of the features.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genmodels.errors import InvalidInputError

__all__ = ["frechet_distance"]


def _gaussian_fit(phi: Tensor) -> tuple[Tensor, Tensor]:
    phi = phi.to(torch.float64)
    mu = phi.mean(0)
    centred = phi - mu
    sigma = centred.T @ centred / (phi.shape[0] - 1)  # (d, d) unbiased covariance
    return mu, sigma


def _sqrtm_psd(a: Tensor) -> Tensor:
    eigvals, eigvecs = torch.linalg.eigh(a)
    return (eigvecs * eigvals.clamp_min(0).sqrt()) @ eigvecs.T


def _trace_sqrt_product(phi_a: Tensor, phi_b: Tensor) -> Tensor:
    """Tr (Σ_a Σ_b)^{1/2} of the two feature sets' covariances.

    With few points in many dimensions (Inception's 2048) the d × d eigenproblems are the
    whole cost, so then the [n, m] route is taken: with centred A [n, d], B [m, d] and
    Σ_a = AᵀA / (n − 1), the nonzero eigenvalues of Σ_a Σ_b are the squared singular values
    of A Bᵀ / √((n − 1)(m − 1)), so the trace is its nuclear norm. Otherwise Σ √λ of the
    symmetric PSD matrix Σ_a^{1/2} Σ_b Σ_a^{1/2} (same eigenvalues as Σ_a Σ_b, stable).
    """
    n, m, d = phi_a.shape[0], phi_b.shape[0], phi_a.shape[1]
    if min(n, m) < d:
        a = phi_a.to(torch.float64) - phi_a.to(torch.float64).mean(0)  # (n, d) centred
        b = phi_b.to(torch.float64) - phi_b.to(torch.float64).mean(0)  # (m, d)
        return torch.linalg.svdvals(a @ b.T).sum() / math.sqrt((n - 1) * (m - 1))
    _, sigma_a = _gaussian_fit(phi_a)
    _, sigma_b = _gaussian_fit(phi_b)
    root_a = _sqrtm_psd(sigma_a)
    return torch.linalg.eigvalsh(root_a @ sigma_b @ root_a).clamp_min(0).sqrt().sum()


def frechet_distance(phi_a: Tensor, phi_b: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets ``[n, d]``, ``[m, d]``.

    ‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^{1/2}) (Heusel et al. 2017; the cross term as
    in `_trace_sqrt_product`).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> a = torch.randn(4000, 3, generator=g)
        >>> round(frechet_distance(a, a + torch.tensor([2.0, 0.0, 0.0])), 2)
        4.0
    """
    if phi_a.shape[0] < 2 or phi_b.shape[0] < 2:
        raise InvalidInputError("the Fréchet distance needs at least two points per set")
    mu_a, sigma_a = _gaussian_fit(phi_a)
    mu_b, sigma_b = _gaussian_fit(phi_b)
    cross = _trace_sqrt_product(phi_a, phi_b)
    fd = (mu_a - mu_b).square().sum() + sigma_a.trace() + sigma_b.trace() - 2 * cross
    return max(float(fd), 0.0)
