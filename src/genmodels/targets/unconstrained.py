"""A target seen in unconstrained space: what the chains and the hybrids' flows run on.

For a target whose `params` declare constrained blocks (τ > 0, a probability, a simplex),
`unconstrained(target)` is the density of z with x = T(z) (``biject_to`` per block)::

    log p_z(z) = log p_x(T(z)) + log |det dT/dz|

so every kernel keeps its own correctness (it samples p_z exactly as it samples any
density) and the draws are mapped back with `ParamSpace.constrain`. A target whose blocks
are all real is returned as it is.

Example:
    >>> from genmodels.targets import get_target
    >>> view = unconstrained(get_target("eight_schools"))
    >>> view.event_shape, view.log_prob(torch.zeros(2, 10)).shape
    ((10,), torch.Size([2]))
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from genmodels.targets.base import Target, TargetKind
from genmodels.targets.constraints import ParamSpace

__all__ = ["UnconstrainedTarget", "unconstrained"]


class UnconstrainedTarget(Target):
    """The density of a constrained target in unconstrained coordinates (Jacobian included).

    Attributes:
        base: the constrained target.
        space: its `ParamSpace` (``space.constrain`` maps draws back).
    """

    kind: ClassVar[TargetKind] = "posterior"

    def __init__(self, base: Target, space: ParamSpace | None = None) -> None:
        self.base = base
        self.space = space or base.param_space()
        self.name = base.name
        self.normalized = base.normalized
        self.event_shape = (self.space.unconstrained_dim,)

    @property
    def has_samples(self) -> bool:
        return self.base.has_samples

    @property
    def has_log_prob(self) -> bool:
        return self.base.has_log_prob

    def log_prob(self, z: Tensor) -> Tensor:
        x, log_det = self.space.constrain_with_log_det(z)
        return self.base.log_prob(x) + log_det

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """The base target's exact draws, in unconstrained coordinates."""
        return self.space.unconstrain(self.base.sample(n, generator).reshape(n, -1))

    def param_names(self) -> list[str]:
        return [f"z[{i}]" for i in range(self.space.unconstrained_dim)]


def unconstrained(target: Target) -> Target:
    """``target`` in unconstrained coordinates: an `UnconstrainedTarget`, or ``target``
    itself when all its blocks are real (no transform, no Jacobian)."""
    if isinstance(target, UnconstrainedTarget):
        return target
    space = target.param_space()
    return target if space.is_identity else UnconstrainedTarget(target, space)
