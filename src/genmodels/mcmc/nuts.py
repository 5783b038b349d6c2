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
chain's leapfrog results are computed but masked out; the loop ends when every chain's
tree has stopped.

Notation (code -> paper): x -> θ (position), r -> ρ (momentum), ε -> step_size,
M⁻¹ -> inverse_mass, log_w -> log Σ exp(-H) over the trajectory (multinomial weight),
r_sum -> ρ summed over a (sub-)tree, energy0 -> H(θ₀, ρ₀), delta -> H - H₀.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from genmodels.catalogue import register_method
from genmodels.mcmc.base import (
    ChainState,
    Info,
    Kernel,
    as_per_chain,
    sample_momentum,
)
from genmodels.mcmc.hmc import DIVERGENCE_THRESHOLD, HMC, kinetic_energy
from genmodels.mcmc.settings import ChainSettings

__all__ = ["NUTS", "checkpoint_indices", "is_turning"]


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

    Example:
        >>> from genmodels.mcmc.base import LogDensity
        >>> k = NUTS(LogDensity(lambda x: -0.5 * (x**2).sum(-1), (3,)), step_size=0.5)
        >>> s, info = k.step(k.init(torch.zeros(8, 3)), torch.Generator().manual_seed(0))
        >>> s.position.shape, bool(info.tree_depth.ge(1).all())
        (torch.Size([8, 3]), True)
    """

    max_tree_depth: int = 10

    # With many chains, a gradient is computed only for the chains still building their
    # sub-tree once fewer than this fraction of them are left (gather, evaluate, scatter).
    compact_below: float = 0.5
    compact_min_chains: int = 64

    def _value_and_grad(self, x: Tensor, active: Tensor, chains: int) -> tuple[Tensor, Tensor]:
        if chains >= self.compact_min_chains:
            idx = active.nonzero().squeeze(1)
            if idx.numel() < self.compact_below * chains:
                lp_active, g_active = self.density.value_and_grad(x[idx])
                lp = x.new_zeros(chains).index_copy_(0, idx, lp_active)
                return lp, torch.zeros_like(x).index_copy_(0, idx, g_active)
        return self.density.value_and_grad(x)

    def trial(self) -> Kernel:
        return HMC(self.density, self.step_size, self.inverse_mass, num_steps=1)

    def step(self, state: ChainState, generator: torch.Generator) -> tuple[ChainState, Info]:
        x0, lp0, grad0 = state.position, state.log_prob, state.grad
        assert grad0 is not None
        chains, d = x0.shape
        dev, dt = x0.device, x0.dtype
        inv_mass = self._inv_mass(x0)
        eps = as_per_chain(self.step_size, x0)  # [chains, 1]
        r0 = sample_momentum(inv_mass, x0, generator)
        energy0 = -lp0 + kinetic_energy(r0, inv_mass)

        def rand(*shape: int) -> Tensor:
            return torch.rand(shape, generator=generator, dtype=dt, device=dev)

        # Trajectory: leaves packed as [x | r | grad] -> [chains, 3d]; proposal as
        # [x | log p | grad] -> [chains, 2d + 1].
        left = right = torch.cat([x0, r0, grad0], dim=1)
        proposal = torch.cat([x0, lp0[:, None], grad0], dim=1)
        log_w = torch.zeros(chains, dtype=dt, device=dev)  # weight of θ₀ is exp(-0)
        r_sum = r0.clone()
        sum_accept = torch.zeros_like(log_w)
        num_leaves = torch.zeros(chains, dtype=torch.long, device=dev)
        depth = torch.zeros_like(num_leaves)
        done = torch.zeros(chains, dtype=torch.bool, device=dev)
        divergent = torch.zeros_like(done)
        moved = torch.zeros_like(done)
        r_ckpts = x0.new_zeros(self.max_tree_depth, chains, d)
        r_sum_ckpts = x0.new_zeros(self.max_tree_depth, chains, d)

        for j in range(self.max_tree_depth):
            building = ~done  # chains that double their tree at this depth
            going_right = rand(chains) < 0.5
            eps_dir = torch.where(going_right[:, None], eps, -eps)  # [chains, 1]
            half_eps = 0.5 * eps_dir
            eps_inv_mass = eps_dir * inv_mass  # [chains, d]
            leaf = torch.where(going_right[:, None], right, left)  # leaf to extend from
            # Sub-tree of up to 2^j leaves, sampled uniformly-progressively (multinomial).
            # A chain that stopped gets log-weight -inf for its later leaves, which masks
            # it out of every sum below without a `where` per accumulator.
            sub_proposal = proposal
            sub_log_w = torch.full_like(log_w, -math.inf)
            sub_r_sum = torch.zeros_like(r0)
            sub_accept = torch.zeros_like(log_w)
            sub_leaves = torch.zeros_like(num_leaves)
            sub_turning = torch.zeros_like(done)
            sub_divergent = torch.zeros_like(done)
            stopped = done.clone()
            for k in range(2**j):
                if k > 0 and bool(stopped.all()):
                    break
                active = ~stopped
                x, r, g = leaf.split(d, dim=1)
                # leapfrog (velocity Verlet), one gradient evaluation
                r = r + half_eps * g
                x = x + eps_inv_mass * r
                lp, g = self._value_and_grad(x, active, chains)
                r = r + half_eps * g
                delta = torch.nan_to_num(-lp + kinetic_energy(r, inv_mass) - energy0, nan=math.inf)
                log_w_leaf = torch.where(active, -delta, -math.inf)  # log exp(-(H - H0))
                leaf = torch.where(active[:, None], torch.cat([x, r, g], dim=1), leaf)
                sub_log_w_new = torch.logaddexp(sub_log_w, log_w_leaf)
                take = rand(chains) < (log_w_leaf - sub_log_w_new).exp()
                sub_proposal = torch.where(
                    take[:, None], torch.cat([x, lp[:, None], g], dim=1), sub_proposal
                )
                sub_log_w = sub_log_w_new
                sub_r_sum = sub_r_sum + r * active[:, None]
                sub_accept = sub_accept + log_w_leaf.clamp(max=0.0).exp()
                sub_leaves = sub_leaves + active
                diverged = active & (delta > DIVERGENCE_THRESHOLD)
                sub_divergent = sub_divergent | diverged
                stopped = stopped | diverged
                # U-turns of the balanced sub-trees that leaf k closes (iterative scheme):
                # even leaves open a checkpoint, odd leaves close sub-trees and check them.
                idx_min, idx_max = checkpoint_indices(k)
                if k % 2 == 0:
                    r_ckpts[idx_max] = r
                    r_sum_ckpts[idx_max] = sub_r_sum
                else:
                    r_c = r_ckpts[idx_min : idx_max + 1]  # [m, chains, d]
                    sub_sum = sub_r_sum - r_sum_ckpts[idx_min : idx_max + 1] + r_c
                    turning = active & is_turning(r_c, r, sub_sum, inv_mass).any(0)
                    sub_turning = sub_turning | turning
                    stopped = stopped | turning

            # Merge the sub-tree into the trajectory: biased progressive sampling, and
            # never move into a sub-tree that U-turned or diverged.
            p_move = (sub_log_w - log_w).exp().clamp(max=1.0)
            p_move = torch.where(sub_turning | sub_divergent, 0.0, p_move)
            take = building & (rand(chains) < p_move)
            proposal = torch.where(take[:, None], sub_proposal, proposal)
            moved = moved | take
            log_w = torch.where(building, torch.logaddexp(log_w, sub_log_w), log_w)
            r_sum = r_sum + sub_r_sum
            sum_accept = sum_accept + sub_accept
            num_leaves = num_leaves + sub_leaves
            right = torch.where((building & going_right)[:, None], leaf, right)
            left = torch.where((building & ~going_right)[:, None], leaf, left)
            depth = depth + building
            r_left, r_right = left[:, d : 2 * d], right[:, d : 2 * d]
            turning = is_turning(r_left, r_right, r_sum, inv_mass)
            divergent = divergent | (building & sub_divergent)
            done = done | (building & (sub_turning | sub_divergent | turning))
            if bool(done.all()):
                break

        x_new, lp_new, grad_new = proposal.split([d, 1, d], dim=1)
        new = ChainState(x_new, lp_new[:, 0], grad_new)
        accept_prob = sum_accept / num_leaves.clamp(min=1)
        return new, self._info(accept_prob, moved, divergent, num_leaves, depth)
