"""`manifold`: digits live on a low-dimensional manifold inside their 64 ambient dimensions.

Two nearest-neighbour estimators of intrinsic dimension, both checked first on data of known
dimension (a d-dimensional Gaussian linearly embedded in 64-D plus a curved 2-D surface):

- TwoNN (Facco et al. 2017): with r₁ < r₂ the first two neighbour distances, μ = r₂/r₁ is
  Pareto(d) distributed, so −log(1 − F(μ)) = d·log μ; d is the slope through the origin
  (or the MLE d̂ = (N − 1)/Σ log μᵢ).
- Levina–Bickel MLE (Levina & Bickel 2005) with the MacKay–Ghahramani correction (average
  the inverse local estimates): m̂ₖ(x) = [(1/(k−1)) Σ_{j<k} log(T_k(x)/T_j(x))]⁻¹.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from genmodels.demos._plot import pyplot
from genmodels.demos.base import register_demo, save_figure, write_result
from genmodels.errors import InvalidInputError
from genmodels.targets import get_target

__all__ = ["levina_bickel_mle", "neighbour_distances", "two_nn"]


def neighbour_distances(x: Tensor, k: int) -> Tensor:
    """Distances to the ``k`` nearest *distinct* neighbours, ``[n, k]`` (duplicates dropped).

    Args:
        x: points ``[n, *event]`` (flattened to ``[n, D]``).
        k: number of neighbours.
    """
    x = x.reshape(len(x), -1).double()  # [n, D]
    x = torch.unique(x, dim=0)  # duplicates give r₁ = 0 and break both estimators
    if len(x) <= k:
        raise InvalidInputError(f"need more than k={k} distinct points, got {len(x)}")
    dist = torch.cdist(x, x)  # [n, n]
    dist.fill_diagonal_(math.inf)
    return dist.topk(k, dim=1, largest=False).values  # [n, k], ascending


def two_nn(x: Tensor, discard_fraction: float = 0.1) -> tuple[float, Tensor, Tensor]:
    """TwoNN intrinsic dimension (Facco et al. 2017), the regression-through-origin fit.

    Args:
        x: points ``[n, *event]``.
        discard_fraction: largest ratios μ dropped before the fit (their tail is noisy).

    Returns:
        ``(d, log_mu, y)``: the estimate, and the points ``(log μ, −log(1 − F))`` of the fit.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> z = torch.randn(2000, 3, generator=g) @ torch.randn(3, 20, generator=g)
        >>> round(two_nn(z)[0])
        3
    """
    r = neighbour_distances(x, 2)
    mu = (r[:, 1] / r[:, 0]).sort().values  # [n]
    n = len(mu)
    keep = int(n * (1 - discard_fraction))
    empirical_f = torch.arange(1, n + 1, dtype=mu.dtype) / n
    log_mu, y = mu.log()[:keep], -torch.log1p(-empirical_f[:keep])
    d = float((log_mu * y).sum() / (log_mu * log_mu).sum())
    return d, log_mu, y


def levina_bickel_mle(x: Tensor, k: int = 10) -> float:
    """Levina–Bickel MLE of intrinsic dimension with k neighbours (MacKay–Ghahramani average).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> z = torch.randn(2000, 4, generator=g) @ torch.randn(4, 30, generator=g)
        >>> round(levina_bickel_mle(z, k=20))
        4
    """
    t = neighbour_distances(x, k)  # [n, k]
    # (1/(k−1)) Σ_{j<k} log(T_k / T_j), one per point; average its inverse via the mean
    inv_m = (t[:, -1:].log() - t[:, :-1].log()).mean(1)  # [n]
    return float(1.0 / inv_m.mean())


def _swiss_surface(n: int, ambient: int, generator: torch.Generator) -> Tensor:
    """A curved 2-D surface (a rolled sheet) isometrically placed in ``ambient`` dimensions."""
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator))
    h = 10 * torch.rand(n, generator=generator)
    sheet = torch.stack([t * t.cos(), h, t * t.sin()], -1)  # [n, 3]
    rotation, _ = torch.linalg.qr(torch.randn(ambient, 3, generator=generator))  # [D, 3]
    return sheet @ rotation.T


@register_demo(
    "manifold",
    "digits have 64 pixels but an intrinsic dimension of about 7-9 (TwoNN, Levina-Bickel MLE)",
)
def run(out_dir: Path, *, seed: int = 0, quick: bool = False) -> dict:
    """Estimate the intrinsic dimension of `digits` and of controls of known dimension."""
    out_dir = Path(out_dir)
    g = torch.Generator().manual_seed(seed)
    digits = get_target("digits")
    x = torch.cat([digits.train_x, digits.test_x])  # [1797, 1, 8, 8]
    if quick:
        x = x[torch.randperm(len(x), generator=g)[:600]]
    ambient = x[0].numel()
    n_ctrl = 600 if quick else 1500
    k = 10
    controls = {
        "gaussian_5d_in_64d": torch.randn(n_ctrl, 5, generator=g)
        @ torch.randn(5, ambient, generator=g),
        "curved_2d_in_64d": _swiss_surface(n_ctrl, ambient, g),
    }
    true_dims = {"gaussian_5d_in_64d": 5, "curved_2d_in_64d": 2}
    d_twonn, log_mu, y = two_nn(x)
    result: dict = {
        "ambient_dim": ambient,
        "n_points": len(x),
        "twonn_dim": round(d_twonn, 2),
        "mle_dim": round(levina_bickel_mle(x, k), 2),
        "mle_k": k,
        "mle_dim_by_k": {kk: round(levina_bickel_mle(x, kk), 2) for kk in (5, 10, 20)},
        "controls": {
            name: {
                "true_dim": true_dims[name],
                "twonn_dim": round(two_nn(z)[0], 2),
                "mle_dim": round(levina_bickel_mle(z, k), 2),
            }
            for name, z in controls.items()
        },
    }
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].scatter(log_mu, y, s=3, alpha=0.5, label="digits")
    grid = torch.linspace(0, float(log_mu.max()), 50)
    axes[0].plot(grid, d_twonn * grid, "r-", label=f"slope d = {d_twonn:.1f}")
    axes[0].set(xlabel="log μ = log(r₂/r₁)", ylabel="−log(1 − F(μ))", title="TwoNN fit (digits)")
    axes[0].legend()
    names = ["digits", *controls]
    est = [result["twonn_dim"]] + [result["controls"][n]["twonn_dim"] for n in controls]
    mle = [result["mle_dim"]] + [result["controls"][n]["mle_dim"] for n in controls]
    pos = torch.arange(len(names)).float()
    axes[1].bar(pos - 0.2, est, 0.4, label="TwoNN")
    axes[1].bar(pos + 0.2, mle, 0.4, label=f"MLE (k={k})")
    axes[1].axhline(ambient, color="k", ls="--", label=f"ambient = {ambient}")
    axes[1].set_xticks(pos, names, fontsize=8)
    axes[1].set(ylabel="dimension", yscale="log", title="intrinsic vs ambient dimension")
    axes[1].legend(fontsize=8)
    save_figure(fig, out_dir / "manifold.png")
    result["figure"] = "manifold.png"
    return write_result(out_dir, result)
