"""The 2-D toy targets. Each has an exact sampler AND an exact, normalised density.

Names and shapes follow the toy sets popularised by FFJORD and score-SDE papers; where the
usual construction has no closed-form density (moons, swiss roll, spirals, pinwheel), the
target is defined as a mixture of small Gaussians along the curve (`GaussianMixture`), so
sampler and density describe exactly the same distribution.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from genmodels.targets.base import TARGETS, ModeStructure, Target, draw_device
from genmodels.targets.mixture import GaussianMixture

__all__ = ["Banana", "Checkerboard", "Rings"]

_LOG_2PI = math.log(2 * math.pi)


def _on_circle(k: int, radius: float, offset: float = 0.0) -> Tensor:
    angle = offset + 2 * math.pi * torch.arange(k) / k
    return radius * torch.stack([angle.cos(), angle.sin()], -1)


@TARGETS.register("eight_gaussians")
def eight_gaussians() -> GaussianMixture:
    """Eight equal Gaussians on a circle of radius 2√2, σ = 0.5/√2 (FFJORD's layout)."""
    return GaussianMixture(_on_circle(8, 2 * math.sqrt(2)), 0.5 / math.sqrt(2))


@TARGETS.register("mixture_80_20")
def mixture_80_20() -> GaussianMixture:
    """0.8 N((5,5), I) + 0.2 N((−5,−5), I): far apart, so Langevin cannot learn the weights.

    The setting of Song & Ermon (2019, §3.2), used by the `langevin-weights` demo.
    """
    return GaussianMixture(torch.tensor([[5.0, 5.0], [-5.0, -5.0]]), 1.0, [0.8, 0.2])


def _two_moons_centres(per_moon: int) -> tuple[Tensor, Tensor]:
    t = torch.linspace(0, math.pi, per_moon)
    upper = torch.stack([t.cos(), t.sin()], -1)
    lower = torch.stack([1 - t.cos(), 0.5 - t.sin()], -1)
    centres = torch.cat([upper, lower]) - torch.tensor([0.5, 0.25])
    return 2.0 * centres, torch.arange(2).repeat_interleave(per_moon)


@TARGETS.register("two_moons")
def two_moons() -> GaussianMixture:
    """scikit-learn's two half-circles (scaled ×2, centred), as 2×100 Gaussians of σ = 0.15."""
    centres, groups = _two_moons_centres(100)
    return GaussianMixture(centres, 0.15, groups=groups)


@TARGETS.register("swiss_roll")
def swiss_roll() -> GaussianMixture:
    """The 2-D swiss roll t(cos t, sin t)/3, t ∈ [1.5π, 4.5π] uniform, as 300 Gaussians."""
    t = torch.linspace(1.5 * math.pi, 4.5 * math.pi, 300)
    centres = t[:, None] * torch.stack([t.cos(), t.sin()], -1) / 3.0
    return GaussianMixture(centres, 0.2, groups=False)


@TARGETS.register("two_spirals")
def two_spirals() -> GaussianMixture:
    """Two interleaved Archimedean spirals r = θ/π (θ ∈ [π/2, 3π]), 2×150 Gaussians."""
    theta = torch.linspace(0.5 * math.pi, 3 * math.pi, 150)
    arm = (theta / math.pi)[:, None] * torch.stack([theta.cos(), theta.sin()], -1)
    # uniform in arc length: weight ∝ ds/dθ = √(r² + (dr/dθ)²) for r = θ/π
    w = ((theta / math.pi) ** 2 + 1 / math.pi**2).sqrt()
    return GaussianMixture(
        torch.cat([arm, -arm]), 0.12, torch.cat([w, w]), torch.arange(2).repeat_interleave(150)
    )


@TARGETS.register("pinwheel")
def pinwheel() -> GaussianMixture:
    """Five curved arms, each 60 Gaussians widening outwards (after Johnson et al. 2016)."""
    arms, per_arm = 5, 60
    r = torch.linspace(0.4, 3.0, per_arm)
    angle = 2 * math.pi * torch.arange(arms)[:, None] / arms + 0.6 * r  # [arms, per_arm]
    centres = (r * torch.stack([angle.cos(), angle.sin()], -1).permute(2, 0, 1)).permute(1, 2, 0)
    stds = (0.06 + 0.05 * r).repeat(arms)
    return GaussianMixture(
        centres.reshape(-1, 2), stds, groups=torch.arange(arms).repeat_interleave(per_arm)
    )


@TARGETS.register("checkerboard")
class Checkerboard(Target):
    """Uniform on the 8 dark squares (side 2) of a 4×4 board on [−4, 4]²; density 1/32 there."""

    kind: ClassVar[str] = "toy2d"
    event_shape = (2,)
    normalized = True

    def __init__(self) -> None:
        corners = [(i, j) for i in range(4) for j in range(4) if (i + j) % 2 == 0]
        self.corners = 2.0 * torch.tensor(corners, dtype=torch.float32) - 4.0  # [8, 2]
        self.modes = ModeStructure(torch.full((8,), 1 / 8), self.corners + 1.0, self.assign_modes)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        device = draw_device(generator)
        k = torch.randint(0, 8, (n,), generator=generator, device=device)
        return self.corners.to(device)[k] + 2.0 * torch.rand(
            n, 2, generator=generator, device=device
        )

    def log_prob(self, x: Tensor) -> Tensor:
        cell = torch.floor((x + 4.0) / 2.0)  # board cell (i, j) of each point
        inside = ((cell >= 0) & (cell <= 3)).all(-1) & (cell.sum(-1) % 2 == 0)
        return torch.where(inside, x.new_tensor(-math.log(32.0)), x.new_tensor(-math.inf))

    def assign_modes(self, x: Tensor) -> Tensor:
        return torch.cdist(x.float(), self.corners.to(x.device) + 1.0).argmin(-1)


@TARGETS.register("rings")
class Rings(Target):
    """Four concentric rings: uniform angle, radius ~ N(rₖ, s²) truncated to r > 0.

    Weights ∝ rₖ (uniform along the rings). With polar Jacobian 1/r:
    p(x) = Σₖ wₖ N(|x|; rₖ, s²) / (Φ(rₖ/s) · 2π|x|).
    """

    kind: ClassVar[str] = "toy2d"
    event_shape = (2,)
    normalized = True
    radii = (0.75, 1.5, 2.25, 3.0)
    s = 0.1

    def __init__(self) -> None:
        self.r = torch.tensor(self.radii)
        self.weights = self.r / self.r.sum()
        # log Φ(rₖ/s): normaliser of the truncation at r = 0
        self._log_phi = torch.special.log_ndtr(self.r / self.s)
        self.modes = ModeStructure(self.weights, _on_circle(1, 1.0) * self.r[:, None], self.assign)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        device = draw_device(generator)
        r = self.r.to(device)
        k = torch.multinomial(self.weights.to(device), n, replacement=True, generator=generator)
        radius = r[k] + self.s * torch.randn(n, generator=generator, device=device)
        while bool((bad := radius <= 0).any()):  # exact truncation by rejection (rare)
            redraw = torch.randn(int(bad.sum()), generator=generator, device=device)
            radius[bad] = r[k[bad]] + self.s * redraw
        angle = 2 * math.pi * torch.rand(n, generator=generator, device=device)
        return radius[:, None] * torch.stack([angle.cos(), angle.sin()], -1)

    def log_prob(self, x: Tensor) -> Tensor:
        radius = x.norm(dim=-1).clamp_min(1e-12)[..., None]  # [*batch, 1]
        r, w, log_phi = self.r.to(x), self.weights.to(x), self._log_phi.to(x)
        log_radial = -0.5 * ((radius - r) / self.s) ** 2 - math.log(self.s) - 0.5 * _LOG_2PI
        log_p = torch.logsumexp(w.log() + log_radial - log_phi, -1)
        return log_p - torch.log(2 * math.pi * radius[..., 0])

    def assign(self, x: Tensor) -> Tensor:
        return (x.float().norm(dim=-1, keepdim=True) - self.r.to(x.device)).abs().argmin(-1)


@TARGETS.register("banana")
class Banana(Target):
    """A bent Gaussian: x₁ = 2z₁, x₂ = z₂/2 + (x₁² − 4)/4 with z ~ N(0, I) (unit Jacobian)."""

    kind: ClassVar[str] = "toy2d"
    event_shape = (2,)
    normalized = True

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn(n, 2, generator=generator, device=draw_device(generator))
        x1 = 2 * z[:, 0]
        return torch.stack([x1, 0.5 * z[:, 1] + 0.25 * (x1**2 - 4)], -1)

    def log_prob(self, x: Tensor) -> Tensor:
        z1 = x[..., 0] / 2
        z2 = 2 * (x[..., 1] - 0.25 * (x[..., 0] ** 2 - 4))
        # p(x) = N(z) |det ∂z/∂x| with |det| = (1/2)·2 = 1
        return -0.5 * (z1**2 + z2**2) - _LOG_2PI
