"""Random-walk Metropolis–Hastings (Metropolis et al. 1953; Hastings 1970).

Notation: x -> position, ε -> ``step_size``, Σ -> ``inverse_mass`` (diagonal proposal
covariance up to ε²). Proposal x' = x + ε Σ^{1/2} ξ, ξ ~ N(0, I); accept with probability
min(1, p(x') / p(x)). Dual averaging targets 0.234 (Roberts, Gelman & Gilks 1997).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genmodels.catalogue import register_method
from genmodels.mcmc.base import (
    ChainState,
    Info,
    Kernel,
    as_per_chain,
    make_info,
    metropolis_accept,
)
from genmodels.mcmc.settings import ChainSettings

__all__ = ["RWMH"]


@register_method(
    "rwmh",
    camp="chain",
    settings=ChainSettings,
    order=0,
    description="random-walk Metropolis with a Gaussian proposal",
)
@dataclass(frozen=True)
class RWMH(Kernel):
    """Gaussian random-walk Metropolis, all chains at once.

    Example:
        >>> from genmodels.mcmc.base import LogDensity
        >>> k = RWMH(LogDensity(lambda x: -0.5 * (x**2).sum(-1), (2,)), step_size=1.0)
        >>> s = k.init(torch.zeros(4, 2))
        >>> s, info = k.step(s, torch.Generator().manual_seed(0))
        >>> s.position.shape, info.accept_prob.shape
        (torch.Size([4, 2]), torch.Size([4]))
    """

    target_accept: float = 0.234
    uses_gradient: bool = False

    def step(self, state: ChainState, generator: torch.Generator) -> tuple[ChainState, Info]:
        x = state.position  # [chains, d]
        eps = as_per_chain(self.step_size, x)  # [chains, 1]
        xi = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x_new = x + eps * self._inv_mass(x).sqrt() * xi
        lp_new = self.density.value(x_new)
        accept_prob, accepted = metropolis_accept(lp_new - state.log_prob, generator)
        new = ChainState(
            torch.where(accepted[:, None], x_new, x),
            torch.where(accepted, lp_new, state.log_prob),
            None,
        )
        return new, make_info(accept_prob, accepted)
