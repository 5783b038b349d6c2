"""`NoiseProcess`: the one interface to noise levels, grids and conversions.

Every forward process here — DDPM's discrete schedule, the VP/sub-VP/VE SDEs and the
flow-matching path — perturbs data along a Gaussian path x_t = α_t x₀ + σ_t ε. In EDM
coordinates (Karras et al. 2022, §2) x̂ = x_t/α_t = x₀ + σ̂ ε with σ̂ = σ_t/α_t, and a process is
described, for every solver, by:

- its σ̂ range: `sigma_hat_min` (the smallest time it is trained at) and `sigma_hat_max`;
- conversions: `sigma_hat_to_t` (the network's native time at a level) and
  `alpha_of_sigma_hat` (α at a level, to show x̂ as the native x_t = α x̂);
- the prior in x̂ coordinates: `prior_std_hat`, `start_std_hat`;
- grids: `sigmas(steps, grid)` builds a σ̂ grid by name; `grid_for(preferred)` says which
  grid a solver that prefers ``preferred`` runs on for this process.

Notation (code name -> paper name): ``sigma_hat`` -> σ̂ (EDM's σ), ``alpha`` -> α_t.

Example:
    >>> from genmodels.diffusion.schedules import DiscreteSchedule
    >>> s = DiscreteSchedule.linear(1000)
    >>> grid = s.sigmas(4, "karras")   # from min(σ̂_max, 80) to σ̂_min, then 0
    >>> round(float(grid[0]), 1), float(grid[-1])
    (80.0, 0.0)
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from genmodels.diffusion.grids import geometric_sigmas, karras_sigmas
from genmodels.errors import ConfigError, InvalidInputError

__all__ = ["EDM_SIGMA_MAX", "LANGEVIN_SIGMA_MAX", "FlowMatchingPath", "NoiseProcess"]

EDM_SIGMA_MAX = 80.0
"""Where the ODE solvers' σ̂ grid starts at most (Karras et al. 2022, Table 1, for VP and VE
alike): above it x̂ is pure noise, and the steps spent there are wasted (measured in
benchmarks/README.md)."""

LANGEVIN_SIGMA_MAX = 20.0
"""Where annealed Langevin's geometric levels start at most on a model without levels of its
own (NCSN has its own; Song & Ermon 2020, technique 1, ask for σ_1 about the data's diameter)."""


class NoiseProcess:
    """A Gaussian noise process seen in EDM coordinates (see the module docstring).

    Subclasses give `sigma_hat_min`, `sigma_hat_max`, `sigma_hat_to_t` and
    `alpha_of_sigma_hat`; the grids and the prior follow from them.

    Attributes:
        grids: names `sigmas` accepts.
        langevin_levels: the number of levels a process is restricted to (NCSN's L), the
            default of annealed Langevin on it; None: a continuum of levels.
    """

    grids: ClassVar[tuple[str, ...]] = ("karras", "logsnr", "langevin")
    langevin_levels: int | None = None

    @property
    def sigma_hat_min(self) -> float:
        """σ̂ at the smallest time the process is used at."""
        raise NotImplementedError  # abstractmethod

    @property
    def sigma_hat_max(self) -> float:
        """σ̂ at the largest time (the prior)."""
        raise NotImplementedError  # abstractmethod

    def sigma_hat_to_t(self, sigma_hat: Tensor) -> Tensor:
        """The native time t whose σ_t/α_t is ``sigma_hat`` (what the network is fed)."""
        raise NotImplementedError  # abstractmethod

    def alpha_of_sigma_hat(self, sigma_hat: float) -> float:
        """α at level σ̂, so that x_t = α x̂ (1 at σ̂ = 0)."""
        raise NotImplementedError  # abstractmethod

    @property
    def prior_std_hat(self) -> float:
        """Std of the prior in x̂ coordinates: x_T ~ N(0, I) ⇒ x̂_T ~ N(0, (σ̂_max² + 1) I)."""
        return math.sqrt(self.sigma_hat_max**2 + 1.0)

    def start_std_hat(self, sigma_hat: float) -> float:
        """Std of x̂ at the level ``sigma_hat`` a solve starts from: the prior's at σ̂_max, else
        √(σ̂² + 1) (data of about unit scale, as EDM assumes)."""
        if sigma_hat >= self.sigma_hat_max:
            return self.prior_std_hat
        return math.sqrt(sigma_hat**2 + 1.0)

    @property
    def ode_sigma_hat_max(self) -> float:
        """Where ODE grids start: min(σ̂_max, `EDM_SIGMA_MAX`)."""
        return min(self.sigma_hat_max, EDM_SIGMA_MAX)

    def ode_sigma_min(self, sigma_min: float | None = None) -> float:
        """Where ODE grids end before 0: ``sigma_min`` within [σ̂_min, σ_max], else σ̂_min."""
        if sigma_min is None:
            return self.sigma_hat_min
        return min(max(float(sigma_min), self.sigma_hat_min), self.ode_sigma_hat_max)

    def grid_for(self, preferred: str | None) -> str:
        """The grid a solver preferring ``preferred`` runs on here (None: the process's own).

        The process has the last word where it knows better (flow matching integrates on
        uniform t whatever the solver prefers); by default the solver's preference stands.
        """
        return preferred or "karras"

    def sigmas(self, steps: int, grid: str = "karras", *, sigma_min: float | None = None) -> Tensor:
        """A decreasing σ̂ grid of ``steps`` levels (ODE grids then end with 0).

        ``sigma_min``: the ODE grids' smallest nonzero level (a solver's rule, e.g.
        `grids.few_step_sigma_min`), kept within [σ̂_min, σ_max]; None: `sigma_hat_min`.

        ``"karras"``: EDM's ρ = 7 grid (dense near σ̂_min); ``"logsnr"``: uniform in
        log-SNR = −2 log σ̂, i.e. geometric in σ̂ (Lu et al. 2022, DPM-Solver++'s choice);
        ``"langevin"``: geometric from min(σ̂_max, `LANGEVIN_SIGMA_MAX`) to σ̂_min, no 0
        (annealed Langevin's levels, Song & Ermon 2019).

        Raises:
            InvalidInputError: a grid this process does not offer.
        """
        lo = self.ode_sigma_min(sigma_min)
        if grid == "karras":
            return karras_sigmas(steps, lo, self.ode_sigma_hat_max)
        if grid == "logsnr":
            return geometric_sigmas(steps, lo, self.ode_sigma_hat_max)
        if grid == "langevin":
            hi = min(self.sigma_hat_max, LANGEVIN_SIGMA_MAX)
            return torch.logspace(math.log10(hi), math.log10(self.sigma_hat_min), steps)
        raise InvalidInputError(
            f"unknown σ grid {grid!r} for {type(self).__name__} ({', '.join(self.grids)})"
        )


class FlowMatchingPath(NoiseProcess):
    """x_t = (1 − t) x₀ + (σ_min + (1 − σ_min) t) ε, t ∈ [t_min, t_max] (t = 1 is noise).

    ``sigma_min`` = 0 is rectified flow (Liu et al. 2023); Lipman et al. 2023 use a small one.

    Example:
        >>> path = FlowMatchingPath(0.0, 0.01, 0.999)
        >>> round(path.sigma_hat_max), path.grid_for("logsnr")
        (999, 'uniform')
    """

    grids: ClassVar[tuple[str, ...]] = ("uniform", "karras", "langevin")

    def __init__(self, sigma_min: float = 0.0, t_min: float = 0.01, t_max: float = 0.999) -> None:
        if not 0 <= sigma_min < 1:
            raise ConfigError(f"flow_matching needs 0 ≤ sigma_min < 1, got {sigma_min}")
        self.sigma_min, self.t_min, self.t_max = sigma_min, t_min, t_max

    def alpha_sigma(self, t: Tensor | float) -> tuple[Tensor | float, Tensor | float]:
        """(α_t, σ_t) = (1 − t, σ_min + (1 − σ_min) t)."""
        return 1 - t, self.sigma_min + (1 - self.sigma_min) * t

    def sigma_hat_to_t(self, sigma_hat: Tensor) -> Tensor:
        s = self.sigma_min
        return (sigma_hat - s) / (sigma_hat + 1 - s)  # solves σ_t/α_t = σ̂

    def alpha_of_sigma_hat(self, sigma_hat: float) -> float:
        return 1 - float(self.sigma_hat_to_t(float(sigma_hat))) if float(sigma_hat) > 0 else 1.0

    def _sigma_hat(self, t: float) -> float:
        alpha, sigma = self.alpha_sigma(t)
        return sigma / alpha

    @property
    def sigma_hat_min(self) -> float:
        return self._sigma_hat(self.t_min)

    @property
    def sigma_hat_max(self) -> float:
        return self._sigma_hat(self.t_max)

    @property
    def ode_sigma_hat_max(self) -> float:
        """Flow matching's grids span its whole range (no EDM cap)."""
        return self.sigma_hat_max

    def grid_for(self, preferred: str | None) -> str:
        """Every ODE solver integrates the flow-matching ODE on the uniform-in-t grid
        (annealed Langevin keeps its levels)."""
        return "langevin" if preferred == "langevin" else "uniform"

    def sigmas(
        self, steps: int, grid: str = "uniform", *, sigma_min: float | None = None
    ) -> Tensor:
        """Uniform in t from t_max to t_min (or to the t of ``sigma_min``), then 0 (default);
        or a `NoiseProcess` grid."""
        if grid == "logsnr":
            raise InvalidInputError(
                f"unknown σ grid {grid!r} for FlowMatchingPath ({', '.join(self.grids)})"
            )
        if grid != "uniform":
            return super().sigmas(steps, grid, sigma_min=sigma_min)
        t_lo = self.t_min
        if sigma_min is not None:
            t_lo = float(self.sigma_hat_to_t(torch.tensor(self.ode_sigma_min(sigma_min))))
        t = torch.linspace(self.t_max, t_lo, steps, dtype=torch.float64)
        alpha, sigma = self.alpha_sigma(t)
        return torch.cat([sigma / alpha, t.new_zeros(1)]).float()
