"""Densities for the chains: Neal's funnel, an ill-conditioned Gaussian, Bayesian posteriors.

Funnel and Gaussian are normalised and have exact samplers and moments (so chains can be
checked against the truth); the Bayesian posteriors are unnormalised densities only.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor
from torch.distributions import constraints

from genmodels.targets.base import TARGETS, Target, draw_device
from genmodels.targets.constraints import ParamBlock

__all__ = [
    "EightSchools",
    "Funnel",
    "IllConditionedGaussian",
    "LogisticRegressionPosterior",
]

_LOG_2PI = math.log(2 * math.pi)


def _normal_log_prob(x: Tensor, loc: Tensor | float, scale: Tensor | float) -> Tensor:
    scale = torch.as_tensor(scale, dtype=x.dtype, device=x.device)
    return -0.5 * ((x - loc) / scale) ** 2 - scale.log() - 0.5 * _LOG_2PI


@TARGETS.register("funnel")
class Funnel(Target):
    """Neal's funnel (Neal 2003): v ~ N(0, 3²), xᵢ | v ~ N(0, eᵛ), i = 1..d−1.

    Coordinates are ``(v, x₁, ..., x_{d−1})``. The neck (v ≪ 0) has curvature that a fixed
    step size cannot follow: HMC/NUTS diverge there, which makes it a test of diagnostics.
    Exact moments: E v = 0, Var v = 9, E xᵢ = 0, Var xᵢ = E eᵛ = e^{9/2}.
    """

    kind: ClassVar[str] = "posterior"
    normalized = True
    # v's std: a reference N(0, 3² I) covers v, and its x-scale reaches into the mouth
    # (x | v ~ N(0, eᵛ)) early on a tempered path; a unit reference leaves the mouth to appear
    # only at β ≈ 1, too late for the moves to carry particles there.
    spread = 3.0

    def __init__(self, dim: int = 10) -> None:
        self.event_shape = (dim,)
        self.params = (ParamBlock("v"), ParamBlock("x", (dim - 1,)))
        self.mean = torch.zeros(dim)
        self.variance = torch.cat([torch.tensor([9.0]), torch.full((dim - 1,), math.exp(4.5))])

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        device = draw_device(generator)
        v = 3.0 * torch.randn(n, 1, generator=generator, device=device)
        x = torch.randn(n, self.dim - 1, generator=generator, device=device) * (v / 2).exp()
        return torch.cat([v, x], -1)

    def log_prob(self, x: Tensor) -> Tensor:
        v, rest = x[..., 0], x[..., 1:]
        return _normal_log_prob(v, 0.0, 3.0) + _normal_log_prob(
            rest, 0.0, (v / 2).exp()[..., None]
        ).sum(-1)


@TARGETS.register("gaussian_100d_illcond")
class IllConditionedGaussian(Target):
    """N(0, Σ) in 100-d with Σ = Q diag(λ) Qᵀ, λ log-spaced on [10⁻², 10¹] (condition 1000).

    Q is a fixed-seed random rotation, so no coordinate-wise mass matrix can undo the
    conditioning: a test of how step size and adaptation cope.
    """

    kind: ClassVar[str] = "posterior"
    normalized = True

    def __init__(self, dim: int = 100, condition: float = 1000.0, seed: int = 0) -> None:
        self.event_shape = (dim,)
        # Computed on the CPU, so the target is the same on every machine, then kept on the
        # default device like every other target's constants.
        with torch.device("cpu"):
            g = torch.Generator().manual_seed(seed)
            q, r = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
            q = q * torch.sign(torch.diagonal(r))  # Haar-distributed rotation
            eigenvalues = torch.logspace(-2, -2 + math.log10(condition), dim, dtype=torch.float64)
            cov = (q * eigenvalues) @ q.T
            precision = (q / eigenvalues) @ q.T
            chol = torch.linalg.cholesky(cov)
        device = torch.get_default_device()
        self.eigenvalues = eigenvalues.to(device)
        self.mean = torch.zeros(dim)
        self.covariance = cov.float().to(device)
        self.variance = torch.diagonal(cov).float().to(device)
        self._precision = precision.float().to(device)
        self._chol = chol.float().to(device)
        self._log_det = float(eigenvalues.log().sum())

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        device = draw_device(generator)
        return (
            torch.randn(n, self.dim, generator=generator, device=device) @ self._chol.to(device).T
        )

    def log_prob(self, x: Tensor) -> Tensor:
        maha = ((x @ self._precision.to(x)) * x).sum(-1)
        return -0.5 * (maha + self._log_det + self.dim * _LOG_2PI)

    def score(self, x: Tensor) -> Tensor:
        return -x @ self._precision.to(x)


@TARGETS.register("logreg_breast_cancer")
class LogisticRegressionPosterior(Target):
    """Bayesian logistic regression on scikit-learn's bundled breast-cancer data.

    569 patients, 30 standardised features plus an intercept; priors N(0, 1) on all 31
    coefficients; yᵢ ~ Bernoulli(σ(β₀ + xᵢᵀβ)). Unnormalised log posterior. Blocks:
    ``intercept`` and ``beta[30]`` (dimension ``feature``, labelled by the feature names).
    """

    kind: ClassVar[str] = "posterior"
    normalized = False

    def __init__(self) -> None:
        from sklearn.datasets import load_breast_cancer

        data = load_breast_cancer()
        x = np.asarray(data.data, dtype=np.float64)
        x = (x - x.mean(0)) / x.std(0)
        self.features = torch.as_tensor(np.c_[np.ones(len(x)), x], dtype=torch.float32)
        self.labels = torch.as_tensor(data.target, dtype=torch.float32)
        self.event_shape = (self.features.shape[1],)
        features = [str(n).replace(" ", "_") for n in data.feature_names]
        self.params = (
            ParamBlock("intercept"),
            ParamBlock("beta", (len(features),), dims=("feature",), coords={"feature": features}),
        )

    def log_prob(self, beta: Tensor) -> Tensor:
        logits = beta @ self.features.to(beta).T  # [*batch, N]
        y = self.labels.to(beta)
        log_lik = (y * logits - torch.nn.functional.softplus(logits)).sum(-1)
        return log_lik - 0.5 * (beta**2).sum(-1)


# Rubin (1981): estimated effects and standard errors of coaching in eight schools.
_SCHOOLS_Y = (28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0)
_SCHOOLS_SIGMA = (15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0)
_SCHOOLS = (
    "Choate",
    "Deerfield",
    "Phillips Andover",
    "Phillips Exeter",
    "Hotchkiss",
    "Lawrenceville",
    "St. Paul's",
    "Mt. Hermon",
)


class EightSchools(Target):
    """The eight-schools hierarchical model: blocks ``mu``, ``tau`` (positive), ``theta[8]``.

    μ ~ N(0, 5²), τ ~ HalfCauchy(5), θⱼ ~ N(μ, τ²), yⱼ ~ N(θⱼ, σⱼ²).
    Centered: coordinates (μ, τ, θ₁..θ₈); its funnel between τ and θ makes samplers
    diverge. Non-centered: θⱼ = μ + τ θ̃ⱼ with θ̃ⱼ ~ N(0, 1), coordinates (μ, τ, θ̃₁..θ̃₈),
    block ``theta_tilde``. `log_prob` is the density of these constrained values; the chains
    run on (μ, log τ, θ) with the Jacobian τ of τ = exp(log τ) added
    (`genmodels.targets.unconstrained`). Unnormalised.
    """

    kind: ClassVar[str] = "posterior"
    normalized = False
    event_shape = (10,)

    def __init__(self, centered: bool = True) -> None:
        self.centered = centered
        self.y = torch.tensor(_SCHOOLS_Y)
        self.sigma = torch.tensor(_SCHOOLS_SIGMA)
        school = {"school": list(_SCHOOLS)}
        self.params = (
            ParamBlock("mu"),
            ParamBlock("tau", support=constraints.positive),
            ParamBlock(
                "theta" if centered else "theta_tilde", (8,), dims=("school",), coords=school
            ),
        )

    def log_prob(self, x: Tensor) -> Tensor:
        mu, tau, z = x[..., 0], x[..., 1], x[..., 2:]
        # HalfCauchy(5) density of τ > 0 (-inf outside the support)
        log_p = _normal_log_prob(mu, 0.0, 5.0)
        log_p = log_p + math.log(2 / (math.pi * 5)) - torch.log1p((tau / 5) ** 2)
        log_p = torch.where(tau > 0, log_p, -math.inf)
        if self.centered:
            theta = z
            log_p = log_p + _normal_log_prob(theta, mu[..., None], tau[..., None]).sum(-1)
        else:
            theta = mu[..., None] + tau[..., None] * z
            log_p = log_p + _normal_log_prob(z, 0.0, 1.0).sum(-1)
        return log_p + _normal_log_prob(self.y.to(x), theta, self.sigma.to(x)).sum(-1)


TARGETS.add("eight_schools", EightSchools)
TARGETS.add("eight_schools_noncentered", lambda: EightSchools(centered=False))
