"""Isotropic Gaussian mixtures: the exact density and sampler behind most 2-D toys.

Curve-shaped toys (moons, spirals, pinwheel, swiss roll) are defined as mixtures of many
small Gaussians along the curve, so that they have a closed-form density *and* an exact
sampler; components can be grouped into modes (one group per moon, arm, spiral).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from genmodels.targets.base import ModeStructure, Target, draw_device

__all__ = ["GaussianMixture"]


class GaussianMixture(Target):
    """p(x) = Σₖ wₖ N(x; μₖ, σₖ² I).

    Args:
        means: component means μ, shape ``[K, d]``.
        stds: component standard deviations σ, shape ``[K]`` (or a float for all).
        weights: mixture weights w, shape ``[K]`` (normalised here); uniform if omitted.
        groups: mode index of each component, shape ``[K]``; the modes are the groups.
            ``None``: every component is its own mode. Pass ``groups=False`` for a target
            without meaningful modes (a single connected curve).

    Example:
        >>> gm = GaussianMixture(torch.tensor([[-2.0, 0.0], [2.0, 0.0]]), 0.5, [0.8, 0.2])
        >>> x = gm.sample(1000, torch.Generator().manual_seed(0))
        >>> gm.modes.assign(x).bincount().tolist()[0] > 700
        True
    """

    kind: ClassVar[str] = "toy2d"
    normalized = True

    def __init__(
        self,
        means: Tensor,
        stds: Tensor | float,
        weights: Tensor | list[float] | None = None,
        groups: Tensor | bool | None = None,
    ) -> None:
        means = torch.as_tensor(means, dtype=torch.float32)
        k, d = means.shape
        self.means = means
        self.stds = torch.as_tensor(stds, dtype=torch.float32).expand(k).clone()
        w = torch.ones(k) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        self.weights = w / w.sum()
        self.event_shape = (d,)
        self.kind = "toy2d" if d == 2 else "vector"  # type: ignore[misc]  (honest for any d)
        if groups is False:
            self.groups = None
            self.modes = None
        else:
            g = torch.arange(k) if groups is None else torch.as_tensor(groups, dtype=torch.long)
            self.groups = g
            n_groups = int(g.max()) + 1
            group_w = torch.zeros(n_groups).index_add_(0, g, self.weights)
            centres = torch.zeros(n_groups, d).index_add_(0, g, self.weights[:, None] * means)
            self.modes = ModeStructure(
                group_w,
                centres / group_w[:, None],
                self.assign_modes,
                self.in_core,
                self.core_shares,
            )
        self._core_shares: Tensor | None = None

    def _component_log_joint(self, x: Tensor) -> Tensor:
        """log wₖ + log N(x; μₖ, σₖ²I), shape ``[*batch, K]``."""
        means, stds = self.means.to(x), self.stds.to(x)
        d = x.shape[-1]
        # direct differences, not ‖x‖² + ‖μ‖² − 2xᵀμ: with means far from 0 (gmm40's box of
        # ±40) the expansion loses the small distance near a mode to float32 cancellation
        sq = torch.cdist(x.reshape(-1, d), means, compute_mode="donot_use_mm_for_euclid_dist")
        sq = sq.square().reshape(*x.shape[:-1], -1)
        log_norm = -0.5 * d * math.log(2 * math.pi) - d * stds.log()
        return self.weights.to(x).log() + log_norm - 0.5 * sq / stds.square()

    def log_prob(self, x: Tensor) -> Tensor:
        return torch.logsumexp(self._component_log_joint(x), dim=-1)

    def score(self, x: Tensor) -> Tensor:
        # ∇ log p(x) = Σₖ rₖ(x) (μₖ − x) / σₖ²,  rₖ = responsibilities
        r = torch.softmax(self._component_log_joint(x), dim=-1)  # [*batch, K]
        inv_var = self.stds.to(x).square().reciprocal()
        return (r * inv_var) @ self.means.to(x) - (r @ inv_var)[..., None] * x

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self._draw(n, generator)[0]

    def _draw(self, n: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Draws ``[n, d]`` and the index of the component of each, ``[n]``."""
        device = draw_device(generator)
        weights, means, stds = self.weights.to(device), self.means.to(device), self.stds.to(device)
        k = torch.multinomial(weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.event_shape[0], generator=generator, device=device)
        return means[k] + stds[k, None] * eps, k

    @property
    def num_classes(self) -> int:
        """The number of modes: `sample_labelled` labels each draw by its mode (0: no modes)."""
        return 0 if self.modes is None or self.groups is None else self.modes.k

    def sample_labelled(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Draws and the mode (group) of the component each came from, ``[n]`` long."""
        if self.groups is None:
            return super().sample_labelled(n, generator)
        x, k = self._draw(n, generator)
        return x, self.groups[k]

    def assign_modes(self, x: Tensor) -> Tensor:
        """Mode (group) of highest posterior probability for each point, shape ``[n]``."""
        log_joint = self._component_log_joint(x.float())
        if self.groups is None:
            return log_joint.argmax(-1)
        n_groups = self.modes.k if self.modes is not None else 1
        per_group = torch.stack(
            [torch.logsumexp(log_joint[..., self.groups == g], -1) for g in range(n_groups)], -1
        )
        return per_group.argmax(-1)

    def _nearest_in_mode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Each point's mode (as `assign_modes`) and its squared Mahalanobis distance
        ‖x − μⱼ‖²/σⱼ² to the most likely component j of that mode, both ``[n]``."""
        x = x.float()
        log_joint = self._component_log_joint(x)  # [n, K]
        groups = self.groups if self.groups is not None else torch.arange(len(self.means))
        mode = self.assign_modes(x)
        in_mode = groups.to(x.device)[None, :] == mode[:, None]  # [n, K]
        best = log_joint.masked_fill(~in_mode, -torch.inf).argmax(-1)  # [n]
        means, stds = self.means.to(x), self.stds.to(x)
        return mode, (x - means[best]).square().sum(-1) / stds[best].square()

    def in_core(self, x: Tensor) -> Tensor:
        """Whether each point ``[n, d]`` lies in the core of its mode: within the median
        radius of the χ_d distribution (half of a component's draws) of the mode's most likely
        component. A sample smeared between the modes lands there less often than exact draws."""
        d = self.event_shape[0]
        median_chi2 = d * (1 - 2 / (9 * d)) ** 3  # Wilson–Hilferty median of χ²_d
        return self._nearest_in_mode(x)[1] <= median_chi2

    def core_shares(self) -> Tensor:
        """``[K modes]``: the share of exact draws assigned to each mode that `in_core` marks
        (a fixed-seed Monte Carlo estimate on the CPU, computed once)."""
        if self._core_shares is None:
            assert self.modes is not None
            n = max(20_000, 500 * self.modes.k)
            x = self._draw(n, torch.Generator().manual_seed(2**31 - 2))[0]
            mode, core = self.assign_modes(x), self.in_core(x)
            counts = torch.bincount(mode, minlength=self.modes.k).clamp_min(1)
            self._core_shares = torch.bincount(mode[core], minlength=self.modes.k) / counts
        return self._core_shares

    def convolve(self, sigma: float) -> GaussianMixture:
        """The mixture convolved with N(0, σ²I): the exactly noised target p_σ = p * N(0, σ²).

        Its `score` is the exact noise-conditional score ∇ log p_σ, which annealed Langevin
        needs; the modes are unchanged.
        """
        out = GaussianMixture(
            self.means, (self.stds.square() + sigma**2).sqrt(), self.weights, groups=False
        )
        out.groups, out.modes, out.name = self.groups, self.modes, f"{self.name}*N(0,{sigma}²)"
        return out
