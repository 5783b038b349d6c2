"""Named, constrained parameter blocks: how a posterior says what its coordinates are.

A density on ``[n, d]`` knows nothing of names or supports; a posterior declares them as
`ParamBlock`s (name, shape, support as a `torch.distributions.constraints` constraint). A
`ParamSpace` lays the blocks out side by side in the flat vector the density takes, in
declaration order, and maps between that constrained vector and the unconstrained one the
chains run in, block by block through `torch.distributions.biject_to` (as Stan and NumPyro
do). The log-absolute-determinant of the Jacobian it returns is what turns a density of the
constrained values into the density of the unconstrained ones.

Notation: x -> constrained values (what the density and the user see), z -> unconstrained
values (what the kernels move), x = T(z) with T = ``biject_to(support)`` per block.

Example:
    >>> from torch.distributions import constraints
    >>> space = ParamSpace([ParamBlock("mu"), ParamBlock("tau", support=constraints.positive),
    ...                     ParamBlock("theta", (3,))])
    >>> space.names
    ['mu', 'tau', 'theta[0]', 'theta[1]', 'theta[2]']
    >>> x, log_det = space.constrain_with_log_det(torch.zeros(2, 5))
    >>> x[0].tolist(), log_det.tolist()      # tau = exp(0) = 1, log|dtau/dz| = z = 0
    ([0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.distributions import biject_to, constraints
from torch.distributions.constraints import Constraint
from torch.distributions.transforms import Transform

from genmodels.errors import InvalidInputError

__all__ = ["ParamBlock", "ParamSpace", "as_param_space"]


@dataclass(frozen=True)
class ParamBlock:
    """One named parameter of a posterior.

    Attributes:
        name: the variable's name in summaries and InferenceData (a Python identifier).
        shape: its shape, ``()`` for a scalar.
        support: a `torch.distributions.constraints` constraint (``constraints.real``,
            ``positive``, ``unit_interval``, ``interval(a, b)``, ``simplex``, ...): the chains
            run in unconstrained space through ``biject_to(support)``.
        dims: ArviZ dimension names, one per axis (default ``NAME_dim_0``, ...).
        coords: labels of those dimensions, ``{dim: labels}`` (default 0, 1, ...).

    Example:
        >>> ParamBlock("beta", (2,), coords={"beta_dim_0": ["age", "dose"]}).names
        ['beta[0]', 'beta[1]']
    """

    name: str
    shape: tuple[int, ...] = ()
    support: Constraint = constraints.real
    dims: tuple[str, ...] | None = None
    coords: dict[str, Sequence[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise InvalidInputError(f"a parameter block name must be an identifier: {self.name!r}")
        shape = (self.shape,) if isinstance(self.shape, int) else tuple(self.shape)
        if not all(isinstance(s, int) and s >= 1 for s in shape):
            raise InvalidInputError(f"block {self.name!r}: shape must be positive ints: {shape}")
        object.__setattr__(self, "shape", shape)
        if not isinstance(self.support, Constraint):
            raise InvalidInputError(
                f"block {self.name!r}: support must be a torch.distributions.constraints "
                f"constraint, got {type(self.support).__name__}"
            )
        if self.dims is not None and len(self.dims) != len(shape):
            raise InvalidInputError(f"block {self.name!r}: {len(self.dims)} dims for shape {shape}")
        _ = self.transform  # an unsupported constraint is refused here, not mid-run

    @property
    def size(self) -> int:
        """Number of constrained coordinates."""
        return math.prod(self.shape)

    @property
    def transform(self) -> Transform:
        """``biject_to(support)``: unconstrained -> constrained."""
        try:
            return biject_to(self.support)
        except NotImplementedError:
            raise InvalidInputError(
                f"block {self.name!r}: no bijection to support {self.support} is known "
                f"(torch.distributions.biject_to)"
            ) from None

    @property
    def unconstrained_shape(self) -> tuple[int, ...]:
        """Shape in unconstrained space (differs for e.g. a simplex: K-1 free values)."""
        return tuple(self.transform.inverse_shape(torch.Size(self.shape)))

    @property
    def dim_names(self) -> tuple[str, ...]:
        return self.dims or tuple(f"{self.name}_dim_{i}" for i in range(len(self.shape)))

    @property
    def names(self) -> list[str]:
        """Flat coordinate names: ``mu``, or ``theta[0]``, ... (``x[0,1]`` for 2-D)."""
        if not self.shape:
            return [self.name]
        index = torch.cartesian_prod(*[torch.arange(s) for s in self.shape]).reshape(self.size, -1)
        return [f"{self.name}[{','.join(map(str, i.tolist()))}]" for i in index]


def _sum_to_batch(log_det: Tensor | float, like: Tensor, batch: torch.Size) -> Tensor:
    """A transform's log|det J| summed over the block's own axes, shape ``batch``."""
    log_det = torch.as_tensor(log_det, dtype=like.dtype, device=like.device)
    if log_det.ndim <= len(batch):
        return log_det.expand(batch)
    return log_det.reshape(*batch, -1).sum(-1)


class ParamSpace:
    """Blocks laid out side by side in a flat vector; maps between the two spaces.

    Args:
        blocks: the blocks, in the order their values sit in the density's input.
    """

    def __init__(self, blocks: Sequence[ParamBlock]) -> None:
        self.blocks = tuple(blocks)
        if not self.blocks:
            raise InvalidInputError("a parameter space needs at least one block")
        names = [b.name for b in self.blocks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InvalidInputError(f"parameter block(s) named twice: {', '.join(duplicates)}")
        self._transforms = [b.transform for b in self.blocks]
        self.dim = sum(b.size for b in self.blocks)
        self.unconstrained_dim = sum(math.prod(b.unconstrained_shape) for b in self.blocks)
        # identity on every block: no transform, no Jacobian, chains see the density itself
        self.is_identity = all(b.support is constraints.real for b in self.blocks)

    @property
    def names(self) -> list[str]:
        return [n for b in self.blocks for n in b.names]

    def _pieces(self, v: Tensor, unconstrained: bool) -> list[Tensor]:
        """``v [..., d]`` cut into the blocks' values ``[..., *shape]``."""
        out, start = [], 0
        for b in self.blocks:
            shape = b.unconstrained_shape if unconstrained else b.shape
            size = math.prod(shape)
            out.append(v[..., start : start + size].reshape(*v.shape[:-1], *shape))
            start += size
        return out

    def split(self, x: Tensor) -> dict[str, Tensor]:
        """Constrained ``x [..., d]`` as ``{name: [..., *shape]}``."""
        return {b.name: p for b, p in zip(self.blocks, self._pieces(x, False), strict=True)}

    def constrain_with_log_det(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """``x = T(z)`` ``[..., d]`` and ``log |det dT/dz|`` ``[...]`` from ``z [..., d_u]``."""
        batch = z.shape[:-1]
        xs, log_det = [], z.new_zeros(batch)
        for t, z_b in zip(self._transforms, self._pieces(z, True), strict=True):
            x_b = t(z_b)
            log_det = log_det + _sum_to_batch(t.log_abs_det_jacobian(z_b, x_b), z, batch)
            xs.append(x_b.reshape(*batch, -1))
        return torch.cat(xs, -1), log_det

    def constrain(self, z: Tensor) -> Tensor:
        """Constrained values ``[..., d]`` of unconstrained ``z [..., d_u]``."""
        if self.is_identity:
            return z
        return self.constrain_with_log_det(z)[0]

    def unconstrain(self, x: Tensor) -> Tensor:
        """Unconstrained values ``[..., d_u]`` of constrained ``x [..., d]``.

        Raises:
            InvalidInputError: a value outside its block's support.
        """
        if self.is_identity:
            return x
        zs = []
        for b, t, x_b in zip(self.blocks, self._transforms, self._pieces(x, False), strict=True):
            if not bool(b.support.check(x_b).all()):
                raise InvalidInputError(f"a value of {b.name!r} is outside its support {b.support}")
            zs.append(t.inv(x_b).reshape(*x.shape[:-1], -1))
        return torch.cat(zs, -1)


def as_param_space(blocks: Sequence[ParamBlock] | ParamSpace | None, dim: int) -> ParamSpace:
    """The space of a ``dim``-dimensional density: its declared blocks, or one real block ``x``.

    Raises:
        InvalidInputError: blocks whose sizes do not add up to ``dim``.

    Example:
        >>> as_param_space(None, 3).names
        ['x[0]', 'x[1]', 'x[2]']
    """
    if blocks is None:
        return ParamSpace([ParamBlock("x", (dim,))])
    space = blocks if isinstance(blocks, ParamSpace) else ParamSpace(blocks)
    if space.dim != dim:
        sizes = ", ".join(f"{b.name}: {b.size}" for b in space.blocks)
        raise InvalidInputError(
            f"the parameter blocks hold {space.dim} values ({sizes}) but the density takes {dim}"
        )
    return space
