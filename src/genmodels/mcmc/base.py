"""The kernel contract and the pieces every kernel shares: state, info, log-density wrapper.

A kernel (BlackJAX style) is an object holding only its configuration, with two pure
methods; chains are the leading dimension of every tensor (no loop over chains)::

    state = kernel.init(position)                  # position: [chains, d]
    state, info = kernel.step(state, generator)    # one transition of every chain at once

Contract: what a kernel class must provide to run under `genmodels.mcmc.sample_chains`
(and `genmodels mcmc --sampler`, and `genmodels compare`) once it is registered with
``register_method(name, camp="chain", settings=ChainSettings, description=...)``:

- a constructor ``cls(density, step_size, inverse_mass, **kernel_options)``: ``density`` a
  `LogDensity`, ``step_size`` a ``[chains]`` tensor, ``inverse_mass`` ``None`` (identity)
  or a diagonal ``[chains, d]`` tensor. Warm-up (`genmodels.mcmc.window_adaptation`)
  builds the kernel again with every new step size and mass matrix, so the kernel keeps
  no other state;
- ``init(position [chains, d]) -> ChainState`` and
  ``step(state, generator) -> (ChainState, Info)``, drawing randomness only from
  ``generator`` (on the device of ``position``);
- ``target_accept``: the acceptance rate that dual averaging tunes ``Info.accept_prob`` to;
- optionally ``needs_log_prob`` (default True; False if a score alone suffices) and an
  ``adjusted`` constructor option (kernels that can drop their Metropolis correction
  are warmed up with it on; see `genmodels.mcmc.ULA`);
- optionally ``adaptation``, a class attribute: a warm-up function with
  `genmodels.mcmc.window_adaptation`'s signature and result that `sample_chains` runs
  instead of it (`genmodels.mcmc.ChEES` tunes parameters shared across chains).

Subclassing `Kernel` (a frozen dataclass) gives the constructor, ``init`` and the defaults,
so a new kernel writes only ``step``. Event shapes with more than one axis are flattened
to ``[chains, d]`` by `LogDensity`.

Example:
    A random walk with uniform proposals, registered and run by the library's driver:

    >>> from dataclasses import dataclass
    >>> from genmodels.catalogue import register_method, unregister_method
    >>> from genmodels.mcmc import ChainSettings, sample_chains
    >>> from genmodels.mcmc.base import (ChainState, Kernel, as_per_chain, make_info,
    ...                                  metropolis_accept)
    >>> @register_method("uniform_walk", camp="chain", settings=ChainSettings,
    ...                  description="uniform random-walk Metropolis")
    ... @dataclass(frozen=True)
    ... class UniformWalk(Kernel):
    ...     target_accept: float = 0.3
    ...     uses_gradient: bool = False
    ...     def step(self, state, generator):
    ...         x = state.position                                     # [chains, d]
    ...         u = torch.rand(x.shape, generator=generator, device=x.device)
    ...         x_new = x + as_per_chain(self.step_size, x) * (2 * u - 1)
    ...         lp_new = self.density.value(x_new)
    ...         accept_prob, accepted = metropolis_accept(lp_new - state.log_prob, generator)
    ...         keep = accepted[:, None]
    ...         new = ChainState(torch.where(keep, x_new, x),
    ...                          torch.where(accepted, lp_new, state.log_prob), None)
    ...         return new, make_info(accept_prob, accepted)
    >>> s = sample_chains(lambda x: -0.5 * (x**2).sum(-1), "uniform_walk", event_shape=(2,),
    ...                   chains=4, draws=200, warmup=200, progress=False)
    >>> tuple(s.x.shape)
    (4, 200, 2)
    >>> unregister_method("uniform_walk")
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from genmodels.errors import InvalidInputError

__all__ = [
    "ChainState",
    "Info",
    "Kernel",
    "LogDensity",
    "ScoreOnly",
    "as_per_chain",
    "make_info",
    "metropolis_accept",
    "sample_momentum",
]


class ChainState(NamedTuple):
    """Where every chain is.

    Attributes:
        position: ``[chains, d]``.
        log_prob: ``[chains]`` log-density at ``position`` (NaN when only a score is known).
        grad: ``[chains, d]`` ∇ log p at ``position``, or ``None`` for gradient-free kernels.
    """

    position: Tensor
    log_prob: Tensor
    grad: Tensor | None


class Info(NamedTuple):
    """What one transition did, per chain.

    Attributes:
        accept_prob: ``[chains]`` Metropolis acceptance probability (NUTS: mean over the tree).
        accepted: ``[chains]`` bool, whether the position moved to a new proposal.
        divergent: ``[chains]`` bool, energy error above the divergence threshold.
        num_grad_evals: ``[chains]`` gradient (or density) evaluations this chain needed.
        tree_depth: ``[chains]`` NUTS tree depth (zeros for other kernels).
        energy: ``[chains]`` Hamiltonian H(θ, ρ) = -log p(θ) + ½ ρᵀM⁻¹ρ of the transition,
            at its momentum refresh (HMC, NUTS; ``None`` for kernels without momentum): the
            energy level whose spread E-BFMI compares with its changes.
    """

    accept_prob: Tensor
    accepted: Tensor
    divergent: Tensor
    num_grad_evals: Tensor
    tree_depth: Tensor
    energy: Tensor | None = None


def as_per_chain(value: float | Tensor, like: Tensor) -> Tensor:
    """A scalar or ``[chains]`` step size as a ``[chains, 1]`` tensor on ``like``'s device."""
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if t.ndim == 0:
        t = t.expand(like.shape[0])
    return t.reshape(-1, 1)


def sample_momentum(inverse_mass: Tensor, like: Tensor, generator: torch.Generator) -> Tensor:
    """r ~ N(0, M) with diagonal M = 1 / ``inverse_mass``; shape of ``like`` ``[chains, d]``."""
    xi = torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)
    return xi * inverse_mass.rsqrt()


class LogDensity:
    """A user log-density made safe for batched chains.

    Wraps any callable ``log_prob(x: [chains, *event]) -> [chains]``. It flattens the event
    to ``[chains, d]``, checks the output shape once, turns NaN into ``-inf`` (a NaN
    proposal is rejected rather than poisoning the chain) and computes log-density and
    gradient in one autograd pass.

    Args:
        fn: the log-density.
        event_shape: the event shape ``fn`` expects (``(d,)`` for flat vectors).
        score_fn: optional closed-form score ``[chains, *event] -> [chains, *event]``,
            used instead of autograd when given.

    Example:
        >>> ld = LogDensity(lambda x: -0.5 * (x**2).sum(-1), (2,))
        >>> lp, g = ld.value_and_grad(torch.ones(3, 2))
        >>> lp.shape, g.shape
        (torch.Size([3]), torch.Size([3, 2]))
    """

    has_log_prob = True

    def __init__(
        self,
        fn: Callable[[Tensor], Tensor],
        event_shape: tuple[int, ...],
        score_fn: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        self.fn = fn
        self.event_shape = tuple(event_shape)
        self.dim = math.prod(self.event_shape)
        self.score_fn = score_fn

    def _unflatten(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], *self.event_shape)  # [chains, d] -> [chains, *event]

    def _check(self, out: Tensor, chains: int) -> Tensor:
        if not isinstance(out, Tensor):
            raise InvalidInputError(f"log_prob must return a tensor, got {type(out).__name__}")
        if out.shape != (chains,):
            raise InvalidInputError(
                f"log_prob must return one value per chain, shape [{chains}], "
                f"got {list(out.shape)} for input of shape [{chains}, "
                f"{', '.join(map(str, self.event_shape))}]"
            )
        return out

    def value(self, x: Tensor) -> Tensor:
        """Log-density ``[chains]`` at ``x`` ``[chains, d]`` (NaN mapped to -inf)."""
        with torch.no_grad():
            out = self._check(self.fn(self._unflatten(x)), x.shape[0])
        return torch.nan_to_num(out, nan=-math.inf)

    def value_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Log-density ``[chains]`` and its gradient ``[chains, d]``, in one autograd pass."""
        if self.score_fn is not None:
            lp = self.value(x)
            with torch.no_grad():
                grad = self.score_fn(self._unflatten(x)).reshape(x.shape)
            return lp, grad
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            out = self._check(self.fn(self._unflatten(xg)), x.shape[0])
            (grad,) = torch.autograd.grad(out, xg, torch.ones_like(out))
        # A NaN log-density becomes -inf so that its proposal is rejected (or its trajectory
        # flagged divergent); a non-finite gradient then only lives on such points.
        return torch.nan_to_num(out.detach(), nan=-math.inf), grad

    def check_init(self, x: Tensor) -> Tensor:
        """Raise `InvalidInputError` when the log-density is not finite at any start point."""
        with torch.no_grad():
            out = self._check(self.fn(self._unflatten(x)), x.shape[0])
        bad = ~torch.isfinite(out)
        if bad.any():
            idx = bad.nonzero().flatten().tolist()
            raise InvalidInputError(
                f"log-density is {out[idx[0]].item()} at the initial position of chain(s) "
                f"{idx[:8]}; start the chains where the density is finite (--init / init=)"
            )
        return out


class ScoreOnly(LogDensity):
    """Only a score ∇ log p is known (e.g. a learned one): usable by ULA only.

    `value` returns NaN, so kernels that need a Metropolis correction refuse it.

    Example:
        >>> s = ScoreOnly(lambda x: -x, (2,))
        >>> s.value_and_grad(torch.ones(3, 2))[1][0].tolist()
        [-1.0, -1.0]
    """

    has_log_prob = False

    def __init__(self, score_fn: Callable[[Tensor], Tensor], event_shape: tuple[int, ...]):
        super().__init__(lambda x: x.new_full((x.shape[0],), math.nan), event_shape, score_fn)

    def value(self, x: Tensor) -> Tensor:
        return x.new_full((x.shape[0],), math.nan)

    def check_init(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            g = self.score_fn(self._unflatten(x))
        if not isinstance(g, Tensor) or g.shape != (x.shape[0], *self.event_shape):
            shape = list(g.shape) if isinstance(g, Tensor) else type(g).__name__
            raise InvalidInputError(
                f"score must return the input's shape {[x.shape[0], *self.event_shape]}, "
                f"got {shape}"
            )
        if not torch.isfinite(g).all():
            raise InvalidInputError("score is not finite at the initial position")
        return self.value(x)


@dataclass(frozen=True)
class Kernel(abc.ABC):
    """Base of every kernel: configuration only, `init` and `step` are pure.

    Attributes:
        density: the wrapped log-density (or score).
        step_size: scalar or ``[chains]``.
        inverse_mass: diagonal inverse mass matrix (proposal variance), ``[d]`` or
            ``[chains, d]``; ``None`` means identity.
        target_accept: the acceptance rate warm-up tunes the step size to.
        uses_gradient: whether `init` evaluates the gradient (False for RWMH-like kernels).
        needs_log_prob: False for kernels that run on a score alone (ULA).
    """

    density: LogDensity
    step_size: float | Tensor = 0.1
    inverse_mass: Tensor | None = None

    # Acceptance rate that dual averaging aims at (Roberts & Rosenthal; Hoffman & Gelman).
    target_accept: float = 0.8
    uses_gradient: bool = True
    needs_log_prob: bool = True

    def _inv_mass(self, like: Tensor) -> Tensor:
        """The inverse mass matrix as a tensor of ``like``'s shape, device and dtype."""
        if self.inverse_mass is None:
            return torch.ones_like(like)
        return self.inverse_mass.to(like).expand_as(like)

    def init(self, position: Tensor) -> ChainState:
        """State at ``position`` ``[chains, d]`` (log-density and gradient evaluated)."""
        if self.uses_gradient:
            lp, grad = self.density.value_and_grad(position)
            return ChainState(position, lp, grad)
        return ChainState(position, self.density.value(position), None)

    @abc.abstractmethod
    def step(self, state: ChainState, generator: torch.Generator) -> tuple[ChainState, Info]:
        """One transition of every chain: ``(state, generator) -> (new state, Info)``."""


def make_info(
    accept_prob: Tensor,
    accepted: Tensor,
    divergent: Tensor | None = None,
    num_grad_evals: Tensor | int = 1,
    tree_depth: Tensor | None = None,
    energy: Tensor | None = None,
) -> Info:
    """An `Info` with the fields a kernel does not track filled in (no divergence, depth 0).

    ``num_grad_evals`` may be a plain int (the same count for every chain).
    """
    n = accept_prob.shape[0]
    zeros = torch.zeros(n, dtype=torch.long, device=accept_prob.device)
    if not isinstance(num_grad_evals, Tensor):
        num_grad_evals = torch.full_like(zeros, num_grad_evals)
    return Info(
        accept_prob,
        accepted,
        divergent if divergent is not None else torch.zeros_like(accepted),
        num_grad_evals,
        tree_depth if tree_depth is not None else zeros,
        energy,
    )


def metropolis_accept(log_ratio: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Accept with probability min(1, exp(log_ratio)); NaN counts as rejection.

    Returns:
        ``(accept_prob [chains], accepted [chains] bool)``.
    """
    log_ratio = torch.nan_to_num(log_ratio, nan=-math.inf)
    accept_prob = log_ratio.clamp(max=0.0).exp()
    u = torch.rand(
        log_ratio.shape, generator=generator, dtype=log_ratio.dtype, device=log_ratio.device
    )
    return accept_prob, u < accept_prob
