"""DDPM's discrete noise schedule (linear, cosine β's). A schedule only knows noise levels.

Notation (code name -> paper name): ``betas[t]`` -> β_{t+1}, ``alphas_cumprod[t]`` -> ᾱ_{t+1}
= Π_{s≤t+1}(1 − β_s) (Ho et al. 2020 index from 1, the arrays here from 0 as in diffusers),
``alpha(t)`` -> √ᾱ_t, ``sigma(t)`` -> √(1 − ᾱ_t), ``sigma_hat(t)`` -> σ̂_t = √((1 − ᾱ_t)/ᾱ_t),
the noise level in EDM coordinates x̂ = x_t/√ᾱ_t = x₀ + σ̂_t ε.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from genmodels.diffusion.grids import geometric_sigmas, karras_sigmas
from genmodels.diffusion.noise import NoiseProcess
from genmodels.errors import InvalidInputError

__all__ = ["SPACINGS", "DiscreteSchedule", "Spacing", "geometric_sigmas", "karras_sigmas"]

Spacing = Literal["leading", "trailing", "linspace"]
SPACINGS: tuple[Spacing, ...] = ("leading", "trailing", "linspace")


class DiscreteSchedule(NoiseProcess):
    """The discrete forward process q(x_t | x₀) = N(√ᾱ_t x₀, (1 − ᾱ_t) I) of DDPM.

    As a `NoiseProcess` its grids are σ̂ grids for the ODE solvers; the discrete samplers
    visit `timesteps` instead, spaced by ``spacing`` unless told otherwise (`grid_for`).

    Args:
        betas: β_1..β_T, shape ``[T]`` (kept in float64; cast to the data's dtype on use).
        spacing: the timestep spacing the discrete samplers use by default.

    Example:
        >>> s = DiscreteSchedule.linear(1000)
        >>> round(float(s.alphas_cumprod[-1]), 6)
        4e-05
        >>> s.timesteps(4).tolist()
        [750, 500, 250, 0]
    """

    def __init__(self, betas: Tensor, spacing: Spacing = "leading") -> None:
        if spacing not in SPACINGS:
            raise InvalidInputError(f"unknown timestep spacing {spacing!r} ({', '.join(SPACINGS)})")
        self.spacing: Spacing = spacing
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.ndim != 1 or not bool(((betas > 0) & (betas < 1)).all()):
            raise InvalidInputError("betas must be a 1-D tensor with values in (0, 1)")
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.num_timesteps = int(betas.numel())
        # σ̂_t, increasing in t: the table that maps a continuous EDM σ̂ back to a timestep
        self.sigmas_hat = ((1 - self.alphas_cumprod) / self.alphas_cumprod).sqrt()

    @classmethod
    def linear(
        cls,
        num_timesteps: int = 1000,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        *,
        spacing: Spacing = "leading",
    ) -> DiscreteSchedule:
        """β linear from 1e-4 to 0.02 over T = 1000 steps (Ho et al. 2020, §4)."""
        betas = torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)
        return cls(betas, spacing)

    @classmethod
    def cosine(
        cls,
        num_timesteps: int = 1000,
        s: float = 0.008,
        max_beta: float = 0.999,
        *,
        spacing: Spacing = "leading",
    ) -> DiscreteSchedule:
        """ᾱ_t = f(t)/f(0), f(t) = cos²(π/2 · (t/T + s)/(1 + s)) (Nichol & Dhariwal, eq. 17)."""
        t = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
        f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=max_beta)
        return cls(betas, spacing)

    def alpha_sigma(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """(√ᾱ_t, √(1 − ᾱ_t)) at integer timesteps ``t`` (−1 means "no noise": (1, 0))."""
        t = torch.as_tensor(t)
        ac = torch.cat([self.alphas_cumprod.new_ones(1), self.alphas_cumprod])[t.long() + 1]
        return ac.sqrt(), (1 - ac).sqrt()

    def timesteps(self, steps: int, spacing: Spacing | None = None) -> Tensor:
        """``steps`` decreasing integer timesteps to visit when sampling (long tensor).

        ``leading`` is diffusers' default (0, k, 2k, ... reversed, k = T // steps),
        ``trailing`` ends at T − 1 (Lin et al. 2024, Table 2), ``linspace`` spans [0, T − 1];
        None: the schedule's own ``spacing``.
        """
        spacing = spacing or self.spacing
        T = self.num_timesteps
        if not 1 <= steps <= T:
            raise InvalidInputError(f"steps must be in [1, {T}], got {steps}")
        if spacing == "leading":
            t = torch.arange(steps) * (T // steps)
        elif spacing == "trailing":
            t = (torch.arange(T, 0, -T / steps).round() - 1).long().flip(0)
        elif spacing == "linspace":
            t = torch.linspace(0, T - 1, steps).round().long()
        else:
            raise InvalidInputError(f"unknown timestep spacing {spacing!r}")
        return t.flip(0).long()

    def sigma_hat_to_t(self, sigma_hat: Tensor) -> Tensor:
        """Continuous timestep whose σ̂ is ``sigma_hat``: linear interpolation in log σ̂.

        Lets ODE solvers query a discrete-time ε-network at any noise level (its time
        embedding accepts fractional t); exact at the table's own levels.
        """
        log_table = self.sigmas_hat.log().to(sigma_hat)
        log_s = sigma_hat.log().clamp(log_table[0], log_table[-1])
        hi = torch.searchsorted(log_table, log_s.contiguous()).clamp(1, self.num_timesteps - 1)
        lo = hi - 1
        w = (log_s - log_table[lo]) / (log_table[hi] - log_table[lo])
        return lo.to(sigma_hat) + w

    # ---- the NoiseProcess view ------------------------------------------------------------
    @property
    def sigma_hat_min(self) -> float:
        return float(self.sigmas_hat[0])

    @property
    def sigma_hat_max(self) -> float:
        return float(self.sigmas_hat[-1])

    def alpha_of_sigma_hat(self, sigma_hat: float) -> float:
        """√ᾱ = 1/√(1 + σ̂²)."""
        return 1.0 / math.sqrt(1.0 + float(sigma_hat) ** 2)

    def grid_for(self, preferred: str | None) -> str:
        """A solver's preferred σ̂ grid; for the discrete samplers and the ODE solvers that
        prefer the process's own grid (None) the schedule's ``spacing``."""
        return preferred or self.spacing

    def sigmas(self, steps: int, grid: str = "karras", *, sigma_min: float | None = None) -> Tensor:
        """A `NoiseProcess` σ̂ grid, or (``grid`` a timestep spacing: ``"leading"``,
        ``"trailing"``, ``"linspace"``) the σ̂ of the timesteps the discrete samplers visit,
        then 0: on it the Euler step is DDIM's and Euler ancestral's is DDPM's, step for step.

        A timestep grid is the schedule's own levels: it ends at its last timestep's σ̂ (the
        table's σ̂_min for leading and linspace), and a solver's ``sigma_min`` does not move it.
        (`grids` lists the σ̂ grids every process offers; these come on top.)

        Example:
            >>> s = DiscreteSchedule.linear(1000)
            >>> [round(v, 2) for v in s.sigmas(3, "leading").tolist()]
            [9.49, 1.46, 0.01, 0.0]
        """
        if grid not in SPACINGS:
            return super().sigmas(steps, grid, sigma_min=sigma_min)
        levels = self.sigmas_hat[self.timesteps(steps, grid)]
        return torch.cat([levels, levels.new_zeros(1)]).float()
