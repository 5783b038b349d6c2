"""Targets with a known normaliser: where an estimate of log Z can be scored against the truth.

The samplers of a density (`genmodels.density`: SMC, AIS, importance-corrected maps, diffusion
samplers trained from the density) see only an unnormalised log p̃ and estimate
log Z = log ∫ p̃. These targets state log Z exactly (`Target.log_z`) and sample exactly, so
that both the estimate and the samples can be judged. They are the standard benchmarks of
that literature:

- ``gmm40_2d`` and ``gmm40_50d``: 40 equally weighted unit Gaussians with means spread
  uniformly over [−40, 40]^d (Midgley et al. 2023, "Flow Annealed Importance Sampling
  Bootstrap"; Blessing et al. 2024, "Beyond ELBOs");
- ``manywell_32d``: 16 independent copies of the 2-D double well of Wu et al. 2020 /
  Midgley et al. 2023 (2^16 modes);
- ``funnel`` (in `genmodels.targets.posteriors`) is normalised, so its log Z is 0.

Their log-densities are deliberately *unnormalised* by the known constant, so that a
method that ignored the normaliser would be caught.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from genmodels.targets import posteriors  # noqa: F401  (funnel first: listings keep its family together)
from genmodels.targets.base import TARGETS, Target, draw_device
from genmodels.targets.mixture import GaussianMixture

__all__ = ["ManyWell", "UnnormalisedGMM", "double_well_log_z"]

_LOG_2PI = math.log(2 * math.pi)

GMM40_SEED = 0
"""The seed of the CPU generator that draws the 40 means (`gmm40_means`)."""


def gmm40_means(dim: int, n_modes: int = 40, box: float = 40.0, seed: int = GMM40_SEED) -> Tensor:
    """``[n_modes, dim]`` means uniform on [−box, box]^dim, drawn by a CPU generator seeded with
    ``seed``: the same means on every machine.

    The published benchmarks draw them the same way but with their own generators (JAX's
    PRNG in Blessing et al.), so the instance differs from theirs; the distribution of
    instances is the same.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.device("cpu"):
        u = torch.rand(n_modes, dim, generator=generator, dtype=torch.float64)
    return ((2 * u - 1) * box).float()


class UnnormalisedGMM(GaussianMixture):
    """p̃(x) = Σₖ exp(−½‖x − μₖ‖²): K equally weighted N(μₖ, I), without their normaliser.

    log Z = log K + (d/2) log 2π exactly (each term integrates to (2π)^{d/2}). The sampler,
    the closed-form score and the modes (one per component, with cores, for
    `genmodels.metrics.modes_covered` and `mode_weight_tv`) are `GaussianMixture`'s.

    Args:
        means: ``[K, d]`` component means.
    """

    normalized = False
    spread = 20.0  # about the std of the means' box [-40, 40] (80 / √12)

    def __init__(self, means: Tensor) -> None:
        super().__init__(means, 1.0)
        k, d = self.means.shape
        self._log_z = math.log(k) + 0.5 * d * _LOG_2PI

    @property
    def log_z(self) -> float:
        """log K + (d/2) log 2π."""
        return self._log_z

    def log_prob(self, x: Tensor) -> Tensor:
        return super().log_prob(x) + self._log_z


@TARGETS.register("gmm40_2d")
def gmm40_2d() -> UnnormalisedGMM:
    """40 equal unit Gaussians, means uniform on [−40, 40]² (seed `GMM40_SEED`), unnormalised:
    log Z = log 40 + log 2π. The GMM of Midgley et al. 2023 (FAB, §4.1) and Blessing et al.
    2024 ("Beyond ELBOs", GMM40), whose components are unit-scale as here (FAB's own code
    uses scale softplus(1) ≈ 1.31)."""
    return UnnormalisedGMM(gmm40_means(2))


@TARGETS.register("gmm40_50d")
def gmm40_50d() -> UnnormalisedGMM:
    """`gmm40_2d` in 50 dimensions (means uniform on [−40, 40]⁵⁰, seed `GMM40_SEED`):
    log Z = log 40 + 25 log 2π. Blessing et al. 2024's 50-D GMM40. A density for the chains
    (kind ``posterior``) with an exact sampler."""
    target = UnnormalisedGMM(gmm40_means(50))
    target.kind = "posterior"  # type: ignore[misc]
    return target


# The double well of Wu et al. (2020) as used by Midgley et al. (2023):
# log p̃(x₁, x₂) = −x₁⁴ + 6x₁² + ½x₁ − ½x₂² (energy a·x₁ + b·x₁² + c·x₁⁴ + ½x₂² with
# a = −½, b = −6, c = 1). x₁ has two wells, near −1.71 (shallow) and +1.75 (deep).
_WELL_LIMIT = 6.0  # −x⁴ + 6x² + ½x < −190 beyond |x| = 6: no mass is lost past it
_WELL_GRID = 400_001  # points of the quadrature and inverse-CDF grid on [−6, 6]


def _well_log_density(x: np.ndarray | Tensor) -> np.ndarray | Tensor:
    """The x₁ part of the double well's log p̃: −x⁴ + 6x² + ½x."""
    return -(x**4) + 6 * x**2 + 0.5 * x


def _well_table() -> tuple[np.ndarray, np.ndarray, float]:
    """The grid on [−6, 6], the CDF of exp(−x⁴ + 6x² + ½x) on it (trapezoid rule, in float64)
    and the log of the 1-D integral."""
    grid = np.linspace(-_WELL_LIMIT, _WELL_LIMIT, _WELL_GRID)
    log_f = _well_log_density(grid)
    peak = log_f.max()
    f = np.exp(log_f - peak)
    h = grid[1] - grid[0]
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * h * (f[1:] + f[:-1]))])
    log_integral = float(peak + np.log(cdf[-1]))
    return grid, cdf / cdf[-1], log_integral


def double_well_log_z() -> float:
    """log ∫∫ exp(−x₁⁴ + 6x₁² + ½x₁ − ½x₂²) dx₁ dx₂: the 1-D integral by the trapezoid rule
    on 400 001 points of [−6, 6] (spectrally accurate for this smooth, fast-decaying integrand:
    far below 1e−6) plus the Gaussian part ½ log 2π."""
    return _well_table()[2] + 0.5 * _LOG_2PI


@TARGETS.register("manywell_32d")
class ManyWell(Target):
    """Many-well: ``wells`` independent 2-D double wells (Midgley et al. 2023, FAB §4.2, after
    the double well of Wu et al. 2020), 32-D by default; unnormalised.

    log p̃(x) = Σᵢ (−x₂ᵢ⁴ + 6x₂ᵢ² + ½x₂ᵢ − ½x₂ᵢ₊₁²), coordinates paired as (x₀, x₁), (x₂, x₃),
    ...; the even coordinates are double wells, the odd ones standard normals. log Z =
    wells · `double_well_log_z` (the 1-D integral by quadrature plus ½ log 2π).

    Exact samples: each double-well coordinate by inverse CDF on the quadrature grid
    (piecewise-linear CDF on 400 001 points: its error in distribution is far below what any
    sample can see), the others N(0, 1).

    Modes: 2^wells (the sign of each double-well coordinate). There is no `ModeStructure`:
    with 65 536 modes and samples of thousands, each mode gets 0 or 1 points, so mode counts
    and their total variation would measure the sample size, not the sampler.
    `well_signs` and `deep_well_share` give the per-well statistic that is informative:
    the share of each double-well coordinate in its deep (positive) well.
    """

    kind: ClassVar[str] = "posterior"
    normalized = False

    def __init__(self, wells: int = 16) -> None:
        self.wells = wells
        self.event_shape = (2 * wells,)
        grid, cdf, log_integral = _well_table()
        self._grid = torch.as_tensor(grid)
        self._cdf = torch.as_tensor(cdf)
        self._log_z = wells * (log_integral + 0.5 * _LOG_2PI)
        self.deep_well_share = float(np.interp(0.0, grid, 1.0 - cdf))  # exact P(x₂ᵢ > 0)

    @property
    def log_z(self) -> float:
        """wells · (log ∫ exp(−x⁴ + 6x² + ½x) dx + ½ log 2π)."""
        return self._log_z

    def log_prob(self, x: Tensor) -> Tensor:
        well, gauss = x[..., 0::2], x[..., 1::2]
        return (_well_log_density(well) - 0.5 * gauss**2).sum(-1)

    def score(self, x: Tensor) -> Tensor:
        out = -x.clone()
        well = x[..., 0::2]
        out[..., 0::2] = -4 * well**3 + 12 * well + 0.5
        return out

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        device = draw_device(generator)
        # the tables are float64 on the CPU; moved to the generator's device for the lookup
        grid, cdf = self._grid.to(device), self._cdf.to(device)
        u = torch.rand(n, self.wells, generator=generator, device=device, dtype=torch.float64)
        hi = torch.searchsorted(cdf, u).clamp(1, len(cdf) - 1)
        c_lo, c_hi = cdf[hi - 1], cdf[hi]
        frac = ((u - c_lo) / (c_hi - c_lo).clamp_min(1e-300)).clamp(0, 1)
        well = grid[hi - 1] + frac * (grid[hi] - grid[hi - 1])
        gauss = torch.randn(n, self.wells, generator=generator, device=device)
        return torch.stack([well.float(), gauss], -1).reshape(n, 2 * self.wells)

    def well_signs(self, x: Tensor) -> Tensor:
        """``[n, wells]`` bool: which double-well coordinates lie in the deep (positive) well;
        a point's mode is this pattern of signs."""
        return x[..., 0::2] > 0
