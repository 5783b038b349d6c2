"""The forward SDEs of Song et al. 2021 (score_sde): VP, sub-VP and VE. An SDE only knows noise.

    dx = f(x, t) dt + g(t) dw,      t ∈ [0, T],   x_t | x₀ ~ N(α_t x₀, σ_t² I).

Notation (code name -> paper name): ``drift`` -> f(x, t), ``diffusion`` -> g(t),
``marginal(t)`` -> (α_t, σ_t) of the perturbation kernel p_{0t}, ``beta_min/beta_max`` ->
β̄_min/β̄_max, ``sigma_min/sigma_max`` -> σ_min/σ_max, ``eps`` -> ε (smallest time used),
``sigma_hat`` -> σ̂ = σ_t/α_t (EDM coordinates, see `parameterization`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genmodels.diffusion.noise import NoiseProcess
from genmodels.diffusion.parameterization import append_dims
from genmodels.errors import InvalidInputError

__all__ = ["SDE", "VESDE", "VPSDE", "NCSNLevels", "SubVPSDE"]


class SDE(NoiseProcess):
    """A linear forward SDE with a Gaussian perturbation kernel and a Gaussian prior at T.

    Subclasses give `marginal`, `drift`, `diffusion`, `prior_std` and `sigma_hat_to_t`; the
    `NoiseProcess` view (σ̂ range, grids) follows on [ε, T].
    """

    T: float = 1.0
    eps: float = 1e-3

    def marginal(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """(α_t, σ_t) with x_t | x₀ ~ N(α_t x₀, σ_t² I); ``t`` of shape ``[B]``."""
        raise NotImplementedError  # abstractmethod

    def drift(self, x: Tensor, t: Tensor) -> Tensor:
        """f(x, t), same shape as ``x``."""
        raise NotImplementedError  # abstractmethod

    def diffusion(self, t: Tensor) -> Tensor:
        """g(t), shape ``[B]``."""
        raise NotImplementedError  # abstractmethod

    def sigma_hat_to_t(self, sigma_hat: Tensor) -> Tensor:
        """The time t at which σ_t/α_t = σ̂ (inverse of `sigma_hat`)."""
        raise NotImplementedError  # abstractmethod

    @property
    def prior_std(self) -> float:
        """Standard deviation of the prior p_T = N(0, prior_std² I)."""
        return 1.0

    def sigma_hat(self, t: Tensor) -> Tensor:
        """σ̂_t = σ_t / α_t, the noise level in EDM coordinates."""
        alpha, sigma = self.marginal(t)
        return sigma / alpha

    def times(self, steps: int) -> Tensor:
        """``steps`` times uniform from T down to ε (the reverse-SDE samplers' grid), float64."""
        if steps < 1:
            raise InvalidInputError(f"steps must be ≥ 1, got {steps}")
        return torch.linspace(self.T, self.eps, steps, dtype=torch.float64)

    # ---- the NoiseProcess view ------------------------------------------------------------
    @property
    def sigma_hat_min(self) -> float:
        return float(self.sigma_hat(torch.tensor(self.eps, dtype=torch.float64)))

    @property
    def sigma_hat_max(self) -> float:
        return float(self.sigma_hat(torch.tensor(self.T, dtype=torch.float64)))

    def alpha_of_sigma_hat(self, sigma_hat: float) -> float:
        if float(sigma_hat) <= 0:
            return 1.0
        t = self.sigma_hat_to_t(torch.as_tensor(float(sigma_hat), dtype=torch.float64))
        return float(self.marginal(t)[0])

    def prior_log_prob(self, z: Tensor) -> Tensor:
        """log N(z; 0, prior_std² I), summed over the event, shape ``[B]``."""
        d = z[0].numel()
        s = self.prior_std
        return -0.5 * (z / s).flatten(1).square().sum(1) - d * math.log(s * math.sqrt(2 * math.pi))

    def discretize(self, x: Tensor, t: Tensor, dt: float) -> tuple[Tensor, Tensor]:
        """One forward step x_{t+Δt} = x_t + f_t + G_t z: returns (f_t, G_t) (Euler by default).

        The reverse-diffusion predictor (Song et al. 2021, eq. 46) runs this backwards.
        """
        return self.drift(x, t) * dt, self.diffusion(t) * math.sqrt(dt)

    def probability_flow_drift(self, x: Tensor, t: Tensor, score: Tensor) -> Tensor:
        """dx/dt = f(x, t) − ½ g(t)² ∇ log p_t(x)  (Song et al. 2021, eq. 13)."""
        g = append_dims(self.diffusion(t), x.ndim)
        return self.drift(x, t) - 0.5 * g * g * score


class VPSDE(SDE):
    """dx = −½ β(t) x dt + √β(t) dw, β(t) = β̄_min + t(β̄_max − β̄_min): DDPM in continuous time.

    Defaults are score_sde's (β̄_min = 0.1, β̄_max = 20, ε = 1e-3).

    Example:
        >>> a, s = VPSDE().marginal(torch.tensor([1.0]))
        >>> round(float(a.square() + s.square()), 6)
        1.0
    """

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, eps: float = 1e-3) -> None:
        self.beta_min, self.beta_max, self.eps = beta_min, beta_max, eps

    def beta(self, t: Tensor) -> Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def integral_beta(self, t: Tensor) -> Tensor:
        """B(t) = ∫₀ᵗ β(s) ds = β̄_min t + ½ (β̄_max − β̄_min) t²; α_t = exp(−½ B(t))."""
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t

    def marginal(self, t: Tensor) -> tuple[Tensor, Tensor]:
        alpha = torch.exp(-0.5 * self.integral_beta(t))
        return alpha, (-torch.expm1(-self.integral_beta(t))).sqrt()

    def drift(self, x: Tensor, t: Tensor) -> Tensor:
        return -0.5 * append_dims(self.beta(t), x.ndim) * x

    def diffusion(self, t: Tensor) -> Tensor:
        return self.beta(t).sqrt()

    def _integral_beta_to_t(self, B: Tensor) -> Tensor:
        """Solve B(t) = B for t (the positive root of the quadratic)."""
        a = self.beta_max - self.beta_min
        return (B * 2) / (self.beta_min + (self.beta_min**2 + 2 * a * B).sqrt())

    def sigma_hat_to_t(self, sigma_hat: Tensor) -> Tensor:
        # σ̂² = 1/α² − 1 = e^{B} − 1
        return self._integral_beta_to_t(torch.log1p(sigma_hat.square()))

    def discretize(self, x: Tensor, t: Tensor, dt: float) -> tuple[Tensor, Tensor]:
        # exact one-step kernel from t − Δt to t: x_t = √a x + √(1 − a) z, a = α_t²/α_{t−Δt}²
        # (DDPM's β_i = 1 − a; score_sde's VPSDE.discretize with β_i = β(t)Δt to first order)
        a = torch.exp(-(self.integral_beta(t) - self.integral_beta(t - dt)))
        return (append_dims(a.sqrt(), x.ndim) - 1) * x, (1 - a).sqrt()


class SubVPSDE(VPSDE):
    """dx = −½ β(t) x dt + √(β(t)(1 − e^{−2B(t)})) dw: σ_t = 1 − α_t², below VP's (eq. 34)."""

    def marginal(self, t: Tensor) -> tuple[Tensor, Tensor]:
        B = self.integral_beta(t)
        return torch.exp(-0.5 * B), -torch.expm1(-B)

    def diffusion(self, t: Tensor) -> Tensor:
        return (self.beta(t) * -torch.expm1(-2 * self.integral_beta(t))).sqrt()

    def sigma_hat_to_t(self, sigma_hat: Tensor) -> Tensor:
        # σ̂ = (1 − α²)/α  ⇒  α = (√(σ̂² + 4) − σ̂)/2,  B = −2 log α
        alpha = 2 / ((sigma_hat.square() + 4).sqrt() + sigma_hat)
        return self._integral_beta_to_t(-2 * alpha.log())

    def discretize(self, x: Tensor, t: Tensor, dt: float) -> tuple[Tensor, Tensor]:
        return SDE.discretize(self, x, t, dt)


class VESDE(SDE):
    """dx = √(dσ²(t)/dt) dw with σ(t) = σ_min (σ_max/σ_min)^t: NCSN in continuous time.

    score_sde defaults σ_min = 0.01, σ_max = 50 (σ_max should exceed the largest distance
    between data points, Song & Ermon 2020, technique 1); ε = 1e-5.
    """

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0, eps: float = 1e-5) -> None:
        self.sigma_min, self.sigma_max, self.eps = sigma_min, sigma_max, eps
        self._log_ratio = math.log(sigma_max / sigma_min)

    def sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min * torch.exp(t * self._log_ratio)

    def marginal(self, t: Tensor) -> tuple[Tensor, Tensor]:
        return torch.ones_like(t), self.sigma(t)

    def drift(self, x: Tensor, t: Tensor) -> Tensor:
        return torch.zeros_like(x)

    def diffusion(self, t: Tensor) -> Tensor:
        return self.sigma(t) * math.sqrt(2 * self._log_ratio)

    def sigma_hat_to_t(self, sigma_hat: Tensor) -> Tensor:
        return torch.log(sigma_hat / self.sigma_min) / self._log_ratio

    @property
    def prior_std(self) -> float:
        return self.sigma_max

    @property
    def prior_std_hat(self) -> float:
        """x̂ = x for VE: the prior N(0, σ_max² I) itself."""
        return self.prior_std

    def discretize(self, x: Tensor, t: Tensor, dt: float) -> tuple[Tensor, Tensor]:
        # SMLD's kernel: G_i = √(σ_i² − σ_{i−1}²)  (score_sde's VESDE.discretize)
        return torch.zeros_like(x), (self.sigma(t).square() - self.sigma(t - dt).square()).sqrt()


class NCSNLevels(VESDE):
    """The VE SDE restricted to L levels σ_1 = σ_max > ... > σ_L = σ_min (Song & Ermon 2019).

    Level i ∈ 0..L−1 sits at time t_i = 1 − i/(L − 1); its ``"langevin"`` grid is the training
    levels themselves (``steps`` other than L re-grids the same range).

    Example:
        >>> NCSNLevels(0.01, 1.0, levels=3).sigmas(3, "langevin").tolist()
        [1.0, 0.10000000149011612, 0.009999999776482582]
    """

    def __init__(
        self, sigma_min: float = 0.01, sigma_max: float = 50.0, *, levels: int = 10
    ) -> None:
        super().__init__(sigma_min, sigma_max)
        if levels < 1:
            raise InvalidInputError(f"levels must be ≥ 1, got {levels}")
        self.langevin_levels = levels

    def level_times(self, i: Tensor) -> Tensor:
        """t_i = 1 − i/(L − 1) of level indices ``i`` (t = 1 for L = 1)."""
        L = self.langevin_levels
        return (1 - i / (L - 1)) if L > 1 else torch.ones_like(i)

    def sigmas(self, steps: int, grid: str = "karras", *, sigma_min: float | None = None) -> Tensor:
        if grid != "langevin":
            return super().sigmas(steps, grid, sigma_min=sigma_min)
        return torch.logspace(math.log10(self.sigma_max), math.log10(self.sigma_min), steps)
