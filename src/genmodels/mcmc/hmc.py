"""Hamiltonian Monte Carlo with a jittered number of leapfrog steps (Duane et al. 1987;
Neal 2011, "MCMC using Hamiltonian dynamics", section 5.4 on jitter).

Notation: x -> position (q), r -> momentum (p), ε -> ``step_size``, M⁻¹ -> ``inverse_mass``,
H(x, r) = -log p(x) + ½ rᵀ M⁻¹ r -> ``energy``, L -> ``num_steps``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from genmodels.catalogue import register_method
from genmodels.mcmc.base import (
    ChainState,
    Info,
    Kernel,
    as_per_chain,
    make_info,
    metropolis_accept,
    sample_momentum,
)
from genmodels.mcmc.settings import ChainSettings

__all__ = ["HMC", "kinetic_energy", "leapfrog"]

# Energy error above which a trajectory counts as divergent (Stan, NumPyro, blackjax).
DIVERGENCE_THRESHOLD = 1000.0


def kinetic_energy(r: Tensor, inverse_mass: Tensor) -> Tensor:
    """½ rᵀ M⁻¹ r for diagonal M⁻¹; ``[chains, d] -> [chains]``."""
    return 0.5 * (r * r * inverse_mass).sum(-1)


def leapfrog(
    value_and_grad: Callable[[Tensor], tuple[Tensor, Tensor]],
    x: Tensor,
    r: Tensor,
    grad: Tensor,
    eps: Tensor,
    inverse_mass: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One velocity-Verlet step of every chain (``eps`` ``[chains, 1]`` may be negative).

    Args:
        value_and_grad: ``x [chains, d] -> (log p(x) [chains], ∇ log p(x) [chains, d])``,
            e.g. `LogDensity.value_and_grad` (NUTS passes one that skips finished chains).
        x, r, grad: position, momentum and ∇ log p(x), ``[chains, d]`` each.
        eps: step size ``[chains, 1]`` (negative to integrate backwards in time).
        inverse_mass: diagonal M⁻¹ ``[chains, d]``.

    Returns:
        ``(x', r', log p(x'), ∇ log p(x'))``; one gradient evaluation.
    """
    r_half = r + 0.5 * eps * grad
    x_new = x + eps * inverse_mass * r_half
    lp_new, grad_new = value_and_grad(x_new)
    r_new = r_half + 0.5 * eps * grad_new
    return x_new, r_new, lp_new, grad_new


@register_method(
    "hmc",
    camp="chain",
    settings=ChainSettings,
    order=3,
    description="Hamiltonian Monte Carlo with jittered trajectory length",
)
@dataclass(frozen=True)
class HMC(Kernel):
    """HMC whose number of leapfrog steps is drawn per chain and per transition.

    The number of steps is uniform on ``[ceil(0.5 L), ceil(1.5 L)]``, which breaks the
    resonances of a fixed trajectory length while keeping its mean cost. Chains run their
    leapfrog steps together; a chain that has done its own number of steps keeps the
    point it reached (its later steps are computed but not used).

    Attributes:
        num_steps: mean number of leapfrog steps L.

    Example:
        >>> from genmodels.mcmc.base import LogDensity
        >>> k = HMC(LogDensity(lambda x: -0.5 * (x**2).sum(-1), (2,)), step_size=0.3)
        >>> s, info = k.step(k.init(torch.zeros(4, 2)), torch.Generator().manual_seed(0))
        >>> info.num_grad_evals.ge(5).all().item()
        True
    """

    num_steps: int = 10

    def step(self, state: ChainState, generator: torch.Generator) -> tuple[ChainState, Info]:
        x0, lp0, grad0 = state.position, state.log_prob, state.grad
        assert grad0 is not None
        chains = x0.shape[0]
        inv_mass = self._inv_mass(x0)
        eps = as_per_chain(self.step_size, x0)  # [chains, 1]
        r0 = sample_momentum(inv_mass, x0, generator)
        low, high = math.ceil(0.5 * self.num_steps), math.ceil(1.5 * self.num_steps)
        n_steps = torch.randint(
            low, high + 1, (chains,), generator=generator, device=x0.device
        )  # [chains], L_c
        x, r, lp, grad = x0, r0, lp0, grad0
        x_end, r_end, lp_end, grad_end = x0, r0, lp0, grad0
        for i in range(1, int(n_steps.max()) + 1):
            x, r, lp, grad = leapfrog(self.density.value_and_grad, x, r, grad, eps, inv_mass)
            stop = (n_steps == i)[:, None]
            x_end = torch.where(stop, x, x_end)
            r_end = torch.where(stop, r, r_end)
            grad_end = torch.where(stop, grad, grad_end)
            lp_end = torch.where(stop[:, 0], lp, lp_end)
        energy0 = -lp0 + kinetic_energy(r0, inv_mass)
        energy_new = -lp_end + kinetic_energy(r_end, inv_mass)
        delta = torch.nan_to_num(energy_new - energy0, nan=math.inf)
        accept_prob, accepted = metropolis_accept(-delta, generator)
        new = ChainState(
            torch.where(accepted[:, None], x_end, x0),
            torch.where(accepted, lp_end, lp0),
            torch.where(accepted[:, None], grad_end, grad0),
        )
        info = make_info(
            accept_prob, accepted, delta > DIVERGENCE_THRESHOLD, n_steps, energy=energy0
        )
        return new, info
