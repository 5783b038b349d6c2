"""Every kernel recovers the mean and covariance of a correlated Gaussian within a few MCSE."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genmodels.mcmc import sample_chains
from genmodels.metrics.chains import chain_summary

D = 3
MU = torch.tensor([1.0, -1.0, 0.5])
SCALES = torch.tensor([0.5, 1.0, 2.0])
CORR = torch.tensor([[1.0, 0.5, 0.3], [0.5, 1.0, -0.4], [0.3, -0.4, 1.0]])
COV = SCALES[:, None] * CORR * SCALES[None, :]
PRECISION = torch.linalg.inv(COV)


def log_prob(x: torch.Tensor) -> torch.Tensor:
    z = x - MU
    return -0.5 * ((z @ PRECISION) * z).sum(-1)


def _moment_z_scores(x: torch.Tensor) -> np.ndarray:
    """(estimate - truth) / MCSE for every mean and every covariance entry.

    The covariance entry (i, j) is the mean of (xᵢ - μᵢ)(xⱼ - μⱼ), whose MCSE ArviZ gets
    from that product's own effective sample size.
    """
    z = x - MU  # [chains, draws, d]
    products = (z[..., :, None] * z[..., None, :]).reshape(*z.shape[:2], D * D)
    stats = torch.cat([x, products], dim=-1)  # [chains, draws, d + d²]
    truth = torch.cat([MU, COV.reshape(-1)]).cpu().numpy()
    summary = chain_summary(stats)
    est = np.array([p["mean"] for p in summary["params"].values()])
    mcse = np.array([p["mcse_mean"] for p in summary["params"].values()])
    return (est - truth) / mcse


@pytest.mark.parametrize(
    "sampler", ["rwmh", "mala", "hmc", "chees", pytest.param("nuts", marks=pytest.mark.slow)]
)
def test_kernel_recovers_gaussian_moments(sampler: str) -> None:
    draws = {"rwmh": 3000, "mala": 1500}.get(sampler, 250)
    options = {"num_steps": 6} if sampler == "hmc" else None
    s = sample_chains(
        log_prob,
        sampler,
        event_shape=(D,),
        chains=4,
        draws=draws,
        warmup=200,
        kernel_options=options,
        seed=1,
        progress=False,
    )
    assert s.x.shape == (4, draws, D)
    z = _moment_z_scores(s.x)
    # 12 statistics: a correct sampler gives |z| < 4.5 for all with probability > 0.999.
    assert np.abs(z).max() < 4.5, z
    assert s.nfe > 0 and s.seconds > 0


def _ula_stationary_cov(eps: float, inv_mass: torch.Tensor) -> torch.Tensor:
    """Exact stationary covariance of ULA on N(μ, Σ): x' = A x + b + ε M^{-1/2} ξ.

    A = I - (ε²/2) M⁻¹ Σ⁻¹, so S solves the discrete Lyapunov equation S = A S Aᵀ + ε² M⁻¹.
    """
    a = torch.eye(D, dtype=torch.float64) - 0.5 * eps**2 * inv_mass[:, None] * PRECISION.double()
    q = eps**2 * torch.diag(inv_mass)
    # vec(S) = (I - A ⊗ A)⁻¹ vec(Q)
    s = torch.linalg.solve(torch.eye(D * D, dtype=torch.float64) - torch.kron(a, a), q.reshape(-1))
    return s.reshape(D, D)


def test_ula_matches_its_known_biased_stationary_law() -> None:
    # A fixed, fairly large step and identity mass, so the O(ε²) bias is big enough to see.
    eps = 0.5
    s = sample_chains(
        log_prob,
        "ula",
        init=MU,
        chains=8,
        draws=1500,
        warmup=0,
        step_size=eps,
        seed=2,
        progress=False,
    )
    z = s.x - MU
    products = (z[..., :, None] * z[..., None, :]).reshape(8, -1, D * D)
    summary = chain_summary(torch.cat([s.x, products], -1))
    est = np.array([p["mean"] for p in summary["params"].values()])
    mcse = np.array([p["mcse_mean"] for p in summary["params"].values()])
    # ULA's mean is unbiased on a Gaussian; its covariance is inflated, by a known amount.
    expected = _ula_stationary_cov(eps, torch.ones(D, dtype=torch.float64))
    truth = np.concatenate([MU.numpy(), expected.reshape(-1).numpy()])
    assert np.abs((est - truth) / mcse).max() < 4.5
    # the bias is real: the target covariance itself is rejected
    assert np.abs((est[D:] - COV.reshape(-1).numpy()) / mcse[D:]).max() > 4.5
