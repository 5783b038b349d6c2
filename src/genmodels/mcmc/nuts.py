"""The No-U-Turn Sampler with multinomial sampling, all chains' trees built together.

Algorithm: Hoffman & Gelman (2014) NUTS with the multinomial trajectory sampling and
biased progressive sampling of Betancourt (2017, "A conceptual introduction to HMC",
appendix A), the generalised U-turn criterion checked on every sub-tree, and the
iterative (non-recursive) tree building of NumPyro (Phan et al. 2019), whose checkpoint
scheme lets sub-tree U-turns be checked without recursion.

Batching: every chain doubles its own tree in its own random direction, but all chains
take their leapfrog steps in the same Python loop. Because every chain starts a new
sub-tree of 2^j leaves at the same loop iteration, the leaf index inside the sub-tree —
and so the checkpoint slots — are plain Python ints shared by all chains; only the
stop flags (U-turn, divergence, tree finished) are per-chain boolean masks. A finished
chain's leapfrog results are masked out; the loop ends when every chain's tree has
stopped. With many chains, the chains still building are gathered into a smaller batch
once few are left (eager: for the gradient; compiled: for the sub-tree's remaining
leaves, `SubtreeCompactor`), so a batch pays little for waiting on its deepest tree.

Notation (code -> paper): x -> θ (position), r -> ρ (momentum), ε -> step_size,
M⁻¹ -> inverse_mass, log_w -> log Σ exp(-H) over the trajectory (multinomial weight),
r_sum -> ρ summed over a (sub-)tree, energy0 -> H(θ₀, ρ₀), delta -> H - H₀.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace
from typing import Any, NamedTuple

import torch
from torch import Tensor

from genmodels.catalogue import register_method
from genmodels.mcmc.base import (
    ChainState,
    Info,
    Kernel,
    as_per_chain,
    make_info,
    sample_momentum,
)
from genmodels.mcmc.compaction import SubtreeCompactor
from genmodels.mcmc.hmc import (
    DIVERGENCE_THRESHOLD,
    CompileMode,
    compiled,
    functional_value_and_grad,
    kinetic_energy,
    leapfrog,
    use_compile,
)
from genmodels.mcmc.settings import ChainSettings

__all__ = [
    "NUTS",
    "add_leaf",
    "checkpoint_indices",
    "checkpoint_masks",
    "is_turning",
    "progressive_choice",
]


def is_turning(r_left: Tensor, r_right: Tensor, r_sum: Tensor, inverse_mass: Tensor) -> Tensor:
    """Generalised U-turn criterion (Betancourt 2017, A.4.2) on ``[..., chains, d]``.

    ``r_sum`` includes both end points; as in NumPyro half of each is taken off so the
    criterion matches Stan's sum over the interior plus half ends.
    """
    rho = r_sum - 0.5 * (r_left + r_right)
    turning_left = (inverse_mass * r_left * rho).sum(-1) <= 0
    turning_right = (inverse_mass * r_right * rho).sum(-1) <= 0
    return turning_left | turning_right


def checkpoint_indices(n: int) -> tuple[int, int]:
    """Checkpoint slots to test when leaf ``n`` of a sub-tree has just been added.

    ``idx_max`` is the number of set bits of ``n >> 1``; the number of trailing ones of
    ``n`` is how many balanced sub-trees leaf ``n`` closes (NumPyro
    ``_leaf_idx_to_ckpt_idxs``). Even leaves open a checkpoint at ``idx_max``.
    """
    idx_max = bin(n >> 1).count("1")
    trailing_ones = len(bin(n)) - len(bin(n).rstrip("1")) if n & 1 else 0
    return idx_max - trailing_ones + 1, idx_max


def _uniform(like: Tensor, generator: torch.Generator) -> Tensor:
    """U(0, 1) draws ``[chains]`` on ``like``'s device and dtype."""
    return torch.rand(like.shape[0], generator=generator, dtype=like.dtype, device=like.device)


def progressive_choice(
    log_w: Tensor, log_w_leaf: Tensor, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Uniform progressive (multinomial) sampling inside a sub-tree.

    The new leaf replaces the sub-tree's sample with probability w_leaf / (w + w_leaf), so
    after all leaves each was chosen with probability proportional to its weight.

    Returns:
        ``(take [chains] bool, log(w + w_leaf) [chains])``.
    """
    log_w_new = torch.logaddexp(log_w, log_w_leaf)
    take = _uniform(log_w, generator) < (log_w_leaf - log_w_new).exp()
    return take, log_w_new


class _Leaf(NamedTuple):
    """One end of a trajectory, ``[chains, d]`` each (kept apart: no per-leaf cat/split)."""

    x: Tensor
    r: Tensor
    grad: Tensor


class _Sample(NamedTuple):
    """A trajectory's multinomial sample: position, log-density ``[chains]``, gradient."""

    x: Tensor
    log_prob: Tensor
    grad: Tensor


def _where(mask: Tensor, a: NamedTuple, b: NamedTuple) -> Any:
    """Field-wise ``torch.where(mask, a, b)`` of two tuples of ``[chains, ...]`` tensors."""
    return type(a)(
        *(
            torch.where(mask.reshape(-1, *([1] * (u.ndim - 1))), u, v)
            for u, v in zip(a, b, strict=True)
        )
    )


class _Trajectory(NamedTuple):
    """The tree of every chain so far; the sums and flags are ``[chains]``. Flat (tensors
    only), so that it is the argument list of a compiled merge."""

    left_x: Tensor
    left_r: Tensor
    left_grad: Tensor
    right_x: Tensor
    right_r: Tensor
    right_grad: Tensor
    proposal_x: Tensor
    proposal_log_prob: Tensor
    proposal_grad: Tensor
    log_w: Tensor  # log Σ exp(-(H - H₀)) over the trajectory
    r_sum: Tensor  # [chains, d]
    sum_accept: Tensor
    num_leaves: Tensor
    depth: Tensor
    done: Tensor
    divergent: Tensor
    moved: Tensor

    @property
    def left(self) -> _Leaf:
        return _Leaf(self.left_x, self.left_r, self.left_grad)

    @property
    def right(self) -> _Leaf:
        return _Leaf(self.right_x, self.right_r, self.right_grad)

    @property
    def proposal(self) -> _Sample:
        return _Sample(self.proposal_x, self.proposal_log_prob, self.proposal_grad)


class _SubTree(NamedTuple):
    """A sub-tree being doubled onto one end: its last leaf, sample and sums, and the
    momenta and momentum sums at the checkpoints of the iterative U-turn scheme
    (``[max_tree_depth, chains, d]`` each). Flat (tensors only), so that it is the
    argument list of a compiled leaf."""

    x: Tensor  # the last leaf
    r: Tensor
    grad: Tensor
    proposal_x: Tensor  # the sub-tree's multinomial sample
    proposal_log_prob: Tensor
    proposal_grad: Tensor
    log_w: Tensor
    r_sum: Tensor
    sum_accept: Tensor
    num_leaves: Tensor
    turning: Tensor
    divergent: Tensor
    ckpt_r: Tensor
    ckpt_r_sum: Tensor

    @property
    def leaf(self) -> _Leaf:
        return _Leaf(self.x, self.r, self.grad)

    @property
    def proposal(self) -> _Sample:
        return _Sample(self.proposal_x, self.proposal_log_prob, self.proposal_grad)


def _pack(sub: _SubTree) -> tuple[Tensor, Tensor]:
    """A sub-tree as two tensors: ``[chains, 7 d + 5]`` (every per-chain field, flags and
    counts as floats) and the checkpoints ``[2, max_tree_depth, chains, d]``. A compiled
    leaf then takes and returns a few tensors: the cost of calling a graph grows with
    the number of its inputs and outputs."""
    columns = [t if t.ndim == 2 else t[:, None].to(sub.x.dtype) for t in sub[:12]]
    return torch.cat(columns, dim=-1), torch.stack([sub.ckpt_r, sub.ckpt_r_sum])


def _unpack(packed: Tensor, ckpt: Tensor) -> _SubTree:
    """The inverse of `_pack` (views into ``packed``; flags and counts converted back)."""
    d = ckpt.shape[-1]
    parts = packed.split([d, d, d, d, 1, d, 1, d, 1, 1, 1, 1], dim=-1)
    x, r, g, px, plp, pg, log_w, r_sum, sum_accept, num_leaves, turning, divergent = parts
    return _SubTree(
        x,
        r,
        g,
        px,
        plp[:, 0],
        pg,
        log_w[:, 0],
        r_sum,
        sum_accept[:, 0],
        num_leaves[:, 0].long(),
        turning[:, 0] > 0,
        divergent[:, 0] > 0,
        ckpt[0],
        ckpt[1],
    )


@functools.lru_cache(maxsize=4096)
def _mask_tensors(
    k: int, leaves: int, max_tree_depth: int, device: torch.device
) -> tuple[Tensor, Tensor]:
    """`checkpoint_masks` of leaves ``k .. k + leaves - 1``, ``[leaves, max_tree_depth]``."""
    masks = [checkpoint_masks(i, max_tree_depth) for i in range(k, k + leaves)]
    write = torch.tensor([m[0] for m in masks], device=device)
    return write, torch.tensor([m[1] for m in masks], device=device)


def checkpoint_masks(k: int, max_tree_depth: int) -> tuple[list[bool], list[bool]]:
    """Which checkpoint slots leaf ``k`` writes (even leaves open one at ``idx_max``) and
    which it checks (odd leaves close the sub-trees of slots ``idx_min..idx_max``), as
    masks over all slots: fixed shapes, so one compiled graph serves every leaf."""
    idx_min, idx_max = checkpoint_indices(k)
    slots = range(max_tree_depth)
    if k % 2 == 0:
        return [i == idx_max for i in slots], [False] * max_tree_depth
    return [False] * max_tree_depth, [idx_min <= i <= idx_max for i in slots]


def add_leaf(
    value_and_grad: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]],
    sub: _SubTree,
    done: Tensor,
    eps: Tensor,
    inverse_mass: Tensor,
    energy0: Tensor,
    write: Tensor,
    check: Tensor,
    u: Tensor,
) -> tuple[_SubTree, Tensor]:
    """Add one leaf to every chain's sub-tree: one leapfrog step from its last leaf, the
    multinomial choice (``u`` ``[chains]`` uniform draws), the sums, and the divergence and
    U-turn checks. A pure tensor function (``write``/``check`` from `checkpoint_masks`),
    run eagerly or as one compiled graph.

    The chains still building are those whose tree is not ``done`` and whose sub-tree has
    neither turned nor diverged; ``value_and_grad(x, active)`` may skip the others. A
    chain that stopped gets log-weight -inf, which masks it out of every sum without a
    `where` per accumulator.

    Returns:
        ``(sub-tree, whether every chain has now stopped (0-d bool))``.
    """
    active = ~(done | sub.turning | sub.divergent)
    x, r, lp, g = leapfrog(lambda z: value_and_grad(z, active), *sub.leaf, eps, inverse_mass)
    delta = torch.nan_to_num(-lp + kinetic_energy(r, inverse_mass) - energy0, nan=math.inf)
    log_w_leaf = torch.where(active, -delta, -math.inf)  # log exp(-(H - H0))
    log_w = torch.logaddexp(sub.log_w, log_w_leaf)
    take = u < (log_w_leaf - log_w).exp()  # progressive (multinomial) choice
    r_sum = sub.r_sum + r * active[:, None]
    ckpt_r = torch.where(write[:, None, None], r, sub.ckpt_r)
    ckpt_r_sum = torch.where(write[:, None, None], r_sum, sub.ckpt_r_sum)
    # the sub-trees leaf k closes, checked at their checkpoints (all slots, masked)
    closed_sum = r_sum - ckpt_r_sum + ckpt_r
    turning = (is_turning(ckpt_r, r, closed_sum, inverse_mass) & check[:, None]).any(0)
    leaf = _where(active, _Leaf(x, r, g), sub.leaf)
    proposal = _where(take, _Sample(x, lp, g), sub.proposal)
    turning = sub.turning | (active & turning)
    divergent = sub.divergent | (active & (delta > DIVERGENCE_THRESHOLD))
    new = _SubTree(
        *leaf,
        *proposal,
        log_w=log_w,
        r_sum=r_sum,
        sum_accept=sub.sum_accept + log_w_leaf.clamp(max=0.0).exp(),
        num_leaves=sub.num_leaves + active,
        turning=turning,
        divergent=divergent,
        ckpt_r=ckpt_r,
        ckpt_r_sum=ckpt_r_sum,
    )
    return new, (done | turning | divergent).all()


def _start(x0: Tensor, r0: Tensor, lp0: Tensor, grad0: Tensor) -> _Trajectory:
    """The one-leaf trajectory at (θ₀, ρ₀), whose weight is exp(-0) = 1."""
    chains = x0.shape[0]
    no = torch.zeros(chains, dtype=torch.bool, device=x0.device)
    zero = torch.zeros(chains, dtype=torch.long, device=x0.device)
    leaf = _Leaf(x0, r0, grad0)
    return _Trajectory(
        *leaf,
        *leaf,
        *_Sample(x0, lp0, grad0),
        log_w=x0.new_zeros(chains),
        r_sum=r0.clone(),
        sum_accept=x0.new_zeros(chains),
        num_leaves=zero,
        depth=zero,
        done=no,
        divergent=no,
        moved=no,
    )


def _begin(tree: _Trajectory, going_right: Tensor, eps: Tensor, max_tree_depth: int) -> _SubTree:
    """An empty sub-tree at the end of the trajectory each chain grows (its proposal the
    trajectory's, replaced by the first leaf: log-weight -inf), and the signed step
    ``[chains, 1]``."""
    ckpt = tree.r_sum.new_zeros(max_tree_depth, *tree.r_sum.shape)
    return _SubTree(
        *_where(going_right, tree.right, tree.left),
        *tree.proposal,
        log_w=torch.full_like(tree.log_w, -math.inf),
        r_sum=torch.zeros_like(tree.r_sum),
        sum_accept=torch.zeros_like(tree.log_w),
        num_leaves=torch.zeros_like(tree.num_leaves),
        turning=torch.zeros_like(tree.done),
        divergent=torch.zeros_like(tree.done),
        ckpt_r=ckpt,
        ckpt_r_sum=ckpt.clone(),
    )


def _merge(
    tree: _Trajectory, sub: _SubTree, going_right: Tensor, inverse_mass: Tensor, u: Tensor
) -> tuple[_Trajectory, Tensor]:
    """Add the sub-tree to the end it grew from: biased progressive sampling (never into a
    sub-tree that U-turned or diverged; ``u`` ``[chains]`` uniform draws), then the U-turn
    check of the whole trajectory. Returns the trajectory and whether every chain's tree
    is done (0-d bool)."""
    building = ~tree.done  # the chains that doubled their tree at this depth
    p_move = (sub.log_w - tree.log_w).exp().clamp(max=1.0)
    p_move = torch.where(sub.turning | sub.divergent, 0.0, p_move)
    take = building & (u < p_move)
    right = _where(building & going_right, sub.leaf, tree.right)
    left = _where(building & ~going_right, sub.leaf, tree.left)
    r_sum = tree.r_sum + sub.r_sum
    turning = is_turning(left.r, right.r, r_sum, inverse_mass)
    done = tree.done | (building & (sub.turning | sub.divergent | turning))
    merged = _Trajectory(
        *left,
        *right,
        *_where(take, sub.proposal, tree.proposal),
        log_w=torch.where(building, torch.logaddexp(tree.log_w, sub.log_w), tree.log_w),
        r_sum=r_sum,
        sum_accept=tree.sum_accept + sub.sum_accept,
        num_leaves=tree.num_leaves + sub.num_leaves,
        depth=tree.depth + building,
        done=done,
        divergent=tree.divergent | (building & sub.divergent),
        moved=tree.moved | take,
    )
    return merged, done.all()


class _TreeOps(NamedTuple):
    """How a kernel doubles its trees: ``begin(tree, going_right, eps) -> (sub, eps_dir)``,
    ``leaves(sub, done, eps_dir, inverse_mass, energy0, write, check, u) -> (sub,
    all_stopped)`` and ``merge(tree, sub, going_right, inverse_mass, u) -> (tree,
    all_done)``; ``sub`` is a `_SubTree` (eager) or its packed form (compiled)."""

    begin: Callable[..., tuple[Any, Tensor]]
    leaves: Callable[..., tuple[Any, Tensor]]
    merge: Callable[..., tuple[_Trajectory, Tensor]]


# The owner of the compiled graphs that do not depend on a density (see `compiled`).
_SHARED = SimpleNamespace()
_TREE_FIELDS = len(_Trajectory._fields)


def _flat_begin(max_tree_depth: int, *args: Tensor) -> tuple[Tensor, ...]:
    """`_begin` on flat tensors: the trajectory's fields, ``going_right``, ``eps``; returns
    the packed sub-tree and the signed step."""
    tree, (going_right, eps) = _Trajectory(*args[:_TREE_FIELDS]), args[_TREE_FIELDS:]
    sub = _begin(tree, going_right, eps, max_tree_depth)
    return (*_pack(sub), torch.where(going_right[:, None], eps, -eps))


def _flat_merge(*args: Tensor) -> tuple[Tensor, ...]:
    """`_merge` on flat tensors: the trajectory's fields, the packed sub-tree, then
    ``going_right``, ``inverse_mass``, ``u``."""
    tree, (packed, ckpt, *rest) = _Trajectory(*args[:_TREE_FIELDS]), args[_TREE_FIELDS:]
    merged, all_done = _merge(tree, _unpack(packed, ckpt), *rest)
    return (*merged, all_done)


def _split_merged(out: tuple[Tensor, ...]) -> tuple[_Trajectory, Tensor]:
    return _Trajectory(*out[:_TREE_FIELDS]), out[_TREE_FIELDS]


@register_method(
    "nuts",
    camp="chain",
    settings=ChainSettings,
    order=4,
    description="the No-U-Turn sampler (multinomial, Stan-style)",
)
@dataclass(frozen=True)
class NUTS(Kernel):
    """No-U-Turn Sampler (multinomial, max tree depth 10 by default), batched over chains.

    Attributes:
        max_tree_depth: a tree has at most ``2**max_tree_depth - 1`` leapfrog steps.
        compile: ``True`` runs a doubling as three compiled graphs
            (`genmodels.mcmc.hmc.compile_graph`): the sub-tree's start, ``leaves_per_call``
            leaves (leapfrog, gradient by `torch.func`, multinomial choice, U-turn checks)
            per call, and the merge (one leaves graph more per smaller batch that the
            compaction of many chains meets); ``"auto"`` (default) does so where
            compiling works (`genmodels.mcmc.hmc.use_compile`); ``False`` runs eagerly.
            Either way, with many chains only the chains still building are computed
            once few are left (``compact_*``).

    Example:
        >>> from genmodels.mcmc.base import LogDensity
        >>> k = NUTS(LogDensity(lambda x: -0.5 * (x**2).sum(-1), (3,)), step_size=0.5)
        >>> s, info = k.step(k.init(torch.zeros(8, 3)), torch.Generator().manual_seed(0))
        >>> s.position.shape, bool(info.tree_depth.ge(1).all())
        (torch.Size([8, 3]), True)
    """

    max_tree_depth: int = 10
    compile: CompileMode = "auto"

    # With many chains, only the chains still building their sub-tree are computed once
    # fewer than this fraction of the batch are left. Eager: a gradient for those rows
    # (gather, evaluate, scatter). Compiled (fixed shapes): the sub-tree's rows still
    # building move into a batch of the next power of two rows, at least
    # ``compact_min_rows`` (`SubtreeCompactor`).
    compact_below: float = 0.5
    compact_min_chains: int = 64
    compact_min_rows: int = 16
    # Compiled mode: leaves added per graph call (a power of two; fewer in smaller
    # sub-trees). Leaves past the point where every chain stopped are wasted arithmetic.
    leaves_per_call: int = 4

    def _value_and_grad(self, x: Tensor, active: Tensor) -> tuple[Tensor, Tensor]:
        chains = x.shape[0]
        if chains >= self.compact_min_chains:
            idx = active.nonzero().squeeze(1)
            if idx.numel() < self.compact_below * chains:
                lp_active, g_active = self.density.value_and_grad(x[idx])
                lp = x.new_zeros(chains).index_copy_(0, idx, lp_active)
                return lp, torch.zeros_like(x).index_copy_(0, idx, g_active)
        return self.density.value_and_grad(x)

    def _eager_leaves(self, sub: _SubTree, *rest: Tensor) -> tuple[_SubTree, Tensor]:
        """`add_leaf` once per row of ``write``/``check``/``u`` (see `_tree_ops`)."""
        *fixed, write, check, u = rest
        stop = sub.turning
        for i in range(u.shape[0]):
            sub, stop = add_leaf(self._value_and_grad, sub, *fixed, write[i], check[i], u[i])
        return sub, stop

    def _tree_ops(self) -> _TreeOps:
        """The three steps of a doubling as `_TreeOps`: eager on a `_SubTree` (with
        compaction), or compiled graphs on its packed form (`_pack`), built once per
        density (the leaves) or per process (begin and merge) and shape."""
        depth = self.max_tree_depth
        if not use_compile(self.compile):
            return _TreeOps(
                lambda tree, going_right, eps: (
                    _begin(tree, going_right, eps, depth),
                    torch.where(going_right[:, None], eps, -eps),
                ),
                self._eager_leaves,
                _merge,
            )

        def build() -> Callable[..., tuple[Tensor, ...]]:
            value_and_grad = functional_value_and_grad(self.density)

            def packed(packed: Tensor, ckpt: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
                *fixed, write, check, u = rest
                sub, stop = _unpack(packed, ckpt), None
                for i in range(u.shape[0]):
                    sub, stop = add_leaf(
                        lambda z, _: value_and_grad(z), sub, *fixed, write[i], check[i], u[i]
                    )
                return (*_pack(sub), stop)

            return packed

        def packed_eager(packed: Tensor, ckpt: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
            new, stop = self._eager_leaves(_unpack(packed, ckpt), *rest)
            return (*_pack(new), stop)

        graph = compiled(self.density, "nuts_leaf", build, packed_eager)
        flat_begin = partial(_flat_begin, depth)
        begin = compiled(_SHARED, f"nuts_begin_{depth}", lambda: flat_begin, flat_begin)
        merge = compiled(_SHARED, "nuts_merge", lambda: _flat_merge, _flat_merge)

        def begin_packed(tree: _Trajectory, *rest: Tensor) -> tuple[tuple, Tensor]:
            packed, ckpt, eps_dir = begin(*tree, *rest)
            return (packed, ckpt), eps_dir

        def leaves(state: tuple[Tensor, Tensor], *rest: Tensor) -> tuple[tuple, Tensor]:
            packed, ckpt, stop = graph(*state, *rest)
            return (packed, ckpt), stop

        return _TreeOps(
            begin_packed,
            leaves,
            lambda tree, state, *rest: _split_merged(merge(*tree, *state, *rest)),
        )

    def _build_subtree(
        self,
        ops: _TreeOps,
        depth: int,
        tree: _Trajectory,
        going_right: Tensor,
        eps: Tensor,
        inverse_mass: Tensor,
        energy0: Tensor,
        generator: torch.Generator,
    ) -> Any:
        """Up to ``2**depth`` leaves from the chosen end of every chain's trajectory; a chain
        stops early at a divergence or a U-turn of one of the sub-tree's own sub-trees."""
        state, eps_dir = ops.begin(tree, going_right, eps)
        device = tree.done.device
        chains = tree.log_w.shape[0]
        compiled_mode = use_compile(self.compile)

        def draws(count: int) -> Tensor:  # multinomial draws, [count, chains]
            return torch.rand(
                count, chains, generator=generator, dtype=tree.log_w.dtype, device=device
            )

        # compiled: a sub-tree's draws at once and a few leaves per call (the cost of a call
        # is mostly fixed); eager: one leaf at a time, a draw per leaf
        u = draws(2**depth) if compiled_mode else None
        n = self.leaves_per_call if compiled_mode and 2**depth >= self.leaves_per_call else 1
        fixed = (tree.done, eps_dir, inverse_mass, energy0)
        rows = None
        if compiled_mode and n > 1 and chains >= self.compact_min_chains:
            rows = SubtreeCompactor(fixed, self.compact_below, self.compact_min_rows)
        for k in range(0, 2**depth, n):
            write, check = _mask_tensors(k, n, self.max_tree_depth, device)
            u_k = u[k : k + n] if u is not None else draws(1)
            if rows is not None:
                compacted = rows.update(state)
                if compacted is None:  # every chain stopped in the previous call
                    break
                state, fixed, u_k = compacted, rows.fixed, rows.rows_of(u_k)
            state, all_stopped = ops.leaves(state, *fixed, write, check, u_k)
            if rows is None and bool(all_stopped):
                break
        return state if rows is None else rows.finish(state)

    def step(self, state: ChainState, generator: torch.Generator) -> tuple[ChainState, Info]:
        x0, lp0, grad0 = state.position, state.log_prob, state.grad
        assert grad0 is not None
        inv_mass = self._inv_mass(x0)
        eps = as_per_chain(self.step_size, x0)  # [chains, 1]
        r0 = sample_momentum(inv_mass, x0, generator)
        energy0 = -lp0 + kinetic_energy(r0, inv_mass)  # H(θ₀, ρ₀)
        tree = _start(x0, r0, lp0, grad0)
        ops = self._tree_ops()
        for j in range(self.max_tree_depth):
            # every chain doubles its own tree, in its own random direction
            going_right = _uniform(x0, generator) < 0.5
            sub = self._build_subtree(ops, j, tree, going_right, eps, inv_mass, energy0, generator)
            tree, all_done = ops.merge(tree, sub, going_right, inv_mass, _uniform(x0, generator))
            if bool(all_done):
                break
        accept_prob = tree.sum_accept / tree.num_leaves.clamp(min=1)
        info = make_info(
            accept_prob, tree.moved, tree.divergent, tree.num_leaves, tree.depth, energy0
        )
        return ChainState(*tree.proposal), info
