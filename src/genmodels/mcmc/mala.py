"""Langevin kernels: MALA (Roberts & Tweedie 1996) and its unadjusted variant ULA.

Notation: x -> position, ε -> ``step_size``, M⁻¹ -> ``inverse_mass`` (preconditioner),
∇ log p -> ``grad``. Proposal (Euler–Maruyama step of the Langevin diffusion)::

    x' = x + (ε² / 2) M⁻¹ ∇ log p(x) + ε M^{-1/2} ξ,   ξ ~ N(0, I)

MALA accepts with the Metropolis–Hastings ratio p(x') q(x | x') / (p(x) q(x' | x));
ULA always moves, so it needs only the score but is biased by O(ε²) in its stationary
variance. `ULA` is MALA with the correction switched off (configuration, not a copy).
Dual averaging targets 0.574 for MALA (Roberts & Rosenthal 1998).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

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
)
from genmodels.mcmc.hmc import CompileMode, compiled, functional_value_and_grad, use_compile
from genmodels.mcmc.settings import ChainSettings

__all__ = ["MALA", "ULA"]


@register_method(
    "mala",
    camp="chain",
    settings=ChainSettings,
    order=1,
    description="Metropolis-adjusted Langevin algorithm",
)
@dataclass(frozen=True)
class MALA(Kernel):
    """Metropolis-adjusted Langevin, all chains at once.

    Attributes:
        adjusted: apply the Metropolis–Hastings correction (``False`` gives ULA).
        compile: as `genmodels.mcmc.HMC`'s: the gradient as one compiled graph.

    Example:
        >>> from genmodels.mcmc.base import LogDensity
        >>> k = MALA(LogDensity(lambda x: -0.5 * (x**2).sum(-1), (2,)), step_size=0.5)
        >>> s, info = k.step(k.init(torch.zeros(4, 2)), torch.Generator().manual_seed(0))
        >>> bool(info.accept_prob.le(1).all())
        True
    """

    target_accept: float = 0.574
    adjusted: bool = True
    compile: CompileMode = "auto"

    def _value_and_grad(self) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
        """The density's value and gradient: autograd, or one compiled `torch.func` graph."""
        if not use_compile(self.compile):
            return self.density.value_and_grad
        build = partial(functional_value_and_grad, self.density)
        return compiled(self.density, "value_and_grad", build, self.density.value_and_grad)

    def _log_q(self, x_to: Tensor, x_from: Tensor, grad_from: Tensor, eps: Tensor) -> Tensor:
        """log q(x_to | x_from) up to a constant shared by both directions."""
        inv_mass = self._inv_mass(x_to)
        mean = x_from + 0.5 * eps**2 * inv_mass * grad_from
        return -0.5 * ((x_to - mean) ** 2 / inv_mass).sum(-1) / eps[:, 0] ** 2

    def step(self, state: ChainState, generator: torch.Generator) -> tuple[ChainState, Info]:
        x, grad = state.position, state.grad  # [chains, d] each
        assert grad is not None
        eps = as_per_chain(self.step_size, x)  # [chains, 1]
        inv_mass = self._inv_mass(x)
        xi = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x_new = x + 0.5 * eps**2 * inv_mass * grad + eps * inv_mass.sqrt() * xi
        lp_new, grad_new = self._value_and_grad()(x_new)
        # log MH ratio; for ULA it is only a diagnostic of discretisation error (NaN
        # when only a score is known), used by the step-size adaptation when available.
        log_ratio = (
            lp_new
            - state.log_prob
            + self._log_q(x, x_new, grad_new, eps)
            - self._log_q(x_new, x, grad, eps)
        )
        accept_prob, accepted = metropolis_accept(log_ratio, generator)
        if not self.adjusted:
            finite = torch.isfinite(x_new).all(-1)
            accepted = finite  # ULA always moves (unless the step blew up)
            if not self.density.has_log_prob:
                accept_prob = torch.full_like(accept_prob, math.nan)
        new = ChainState(
            torch.where(accepted[:, None], x_new, x),
            torch.where(accepted, lp_new, state.log_prob),
            torch.where(accepted[:, None], grad_new, grad),
        )
        return new, make_info(accept_prob, accepted, divergent=~torch.isfinite(x_new).all(-1))


@register_method(
    "ula",
    camp="chain",
    settings=ChainSettings,
    order=2,
    description="unadjusted Langevin algorithm (biased, no accept step)",
)
@dataclass(frozen=True)
class ULA(MALA):
    """Unadjusted Langevin algorithm: MALA without the Metropolis–Hastings correction.

    Needs only the score, so it runs on learned scores. Its stationary law is biased by
    O(ε²). When a log-density is known, warm-up runs it with ``adjusted=True``, i.e. as
    MALA (`window_adaptation` does so for every kernel with an ``adjusted`` option: an
    unadjusted chain with a too-large trial step would fly off to infinity), and tunes ε
    to a MALA acceptance of 0.9 — smaller than MALA's optimal step, because at that step
    the unadjusted chain is close to unstable in stiff directions and its bias is large;
    sampling then drops the correction. With only a score, ε is fixed by the user.
    """

    target_accept: float = 0.9
    adjusted: bool = False
    needs_log_prob: bool = False
