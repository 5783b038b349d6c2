"""ChEES-HMC (Hoffman, Radul & Sountsov 2021): jittered HMC for many chains, no tree.

NUTS chooses a trajectory per chain by building a tree, so a batch of chains waits for
its longest tree. ChEES-HMC gives every chain the same trajectory length T, jittered per
transition (t = u T, u ∈ (0, 1), the same u for all chains), so a batch takes exactly
the same number of leapfrog steps and none is wasted. T is learnt during warm-up by
gradient ascent (Adam) on the ChEES criterion — the change in the estimator of the
expected square, ¼ E[(‖θ' − E θ‖² − ‖θ − E θ‖²)²], estimated across chains — which
grows while longer trajectories still decorrelate and stops where they start to U-turn.
The step size, shared by the chains, is tuned by dual averaging of the chains'
harmonic-mean acceptance towards 0.651 (Beskos et al. 2013's optimum for HMC); the
diagonal mass matrix is the variance pooled over chains in Stan's warm-up windows.

Cross-chain adaptation couples the chains during warm-up only; after warm-up the kernel
is fixed and every chain is an ordinary (jittered) HMC chain. It needs several chains
to estimate the criterion: with a handful, NUTS is the better choice.

Notation: θ -> x, ρ -> r, T -> ``trajectory_length``, ε -> ``step_size``, u -> jitter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
from torch import Tensor

from genmodels.catalogue import register_method
from genmodels.mcmc.adaptation import (
    Adam,
    DualAveraging,
    PooledVariance,
    chees_gradient,
    find_reasonable_step_size,
    halton,
    harmonic_mean_accept,
    warmup_windows,
)
from genmodels.mcmc.base import ChainState, Info, LogDensity
from genmodels.mcmc.hmc import HMC
from genmodels.mcmc.settings import ChainSettings
from genmodels.mcmc.warmup import AdaptationInfo

__all__ = ["ChEES", "chees_adaptation"]

# Largest change of log T in one warm-up iteration (TFP's and BlackJAX's clip, ~log(2)/2).
LOG_UPDATE_CLIP = 0.35


def chees_adaptation(
    kernel_cls: Callable[..., ChEES],
    density: LogDensity,
    position: Tensor,
    *,
    num_steps: int,
    generator: torch.Generator,
    step_size: float | Tensor | None = None,
    target_accept: float | None = None,
    adapt_step_size: bool = True,
    adapt_mass: bool = True,
    kernel_options: dict[str, Any] | None = None,
    callback: Callable[[int, ChainState, Info], None] | None = None,
) -> tuple[ChEES, ChainState, AdaptationInfo]:
    """ChEES warm-up, with `genmodels.mcmc.window_adaptation`'s signature and result.

    Step size: a doubling search (one leapfrog step per chain), the chains' median, then
    dual averaging of the harmonic-mean acceptance; trajectory length: Adam ascent on
    the ChEES criterion in log T, its iterates averaged with weights t^(-1/2) (clipped to
    one step below and ``max_leapfrog_steps`` above); mass: pooled variance at the end
    of each of Stan's windows, after which dual averaging restarts. With
    ``adapt_trajectory=False`` the kernel's ``trajectory_length`` is kept.

    Returns:
        ``(kernel, state, info)`` as `window_adaptation`: the tuned kernel carries the
        shared step size (as ``[chains]``), mass ``[chains, d]`` and trajectory length.
    """
    kernel = kernel_cls(density, 1.0, None, **dict(kernel_options or {}))
    state = kernel.init(position)
    chains = position.shape[0]
    eps = torch.as_tensor(1.0 if step_size is None else step_size, dtype=position.dtype)
    eps = eps.to(position.device).expand(chains).clone()
    spent = torch.zeros((), dtype=torch.long, device=position.device)
    if num_steps > 0 and adapt_step_size and step_size is None:
        one_step = replace(kernel, trajectory_length=0.0)

        def trial(e: Tensor) -> Tensor:
            nonlocal spent
            _, info = replace(one_step, step_size=e).step(state, generator)
            spent = spent + info.num_grad_evals.sum()
            return info.accept_prob

        eps = find_reasonable_step_size(trial, eps).median().expand(chains).clone()
    run = _ChEESWarmup(kernel, eps, target_accept, adapt_step_size, adapt_mass, num_steps)
    for t in range(num_steps):
        state, info = run.iterate(t, state, generator)
        spent = spent + info.num_grad_evals.sum()
        if callback is not None:
            callback(t, state, info)
    tuned = run.tuned()
    evals = int(spent)
    return tuned, state, AdaptationInfo(tuned.per_chain_step(position), tuned.inverse_mass, evals)


class _ChEESWarmup:
    """The running state of `chees_adaptation`: dual averaging, Adam, the mass windows."""

    def __init__(
        self,
        kernel: ChEES,
        eps: Tensor,
        target_accept: float | None,
        adapt_step_size: bool,
        adapt_mass: bool,
        num_steps: int,
    ) -> None:
        self.kernel = kernel
        self.eps = eps  # [chains], all equal
        self.adapt_step_size = adapt_step_size
        self.dual = DualAveraging(kernel.target_accept if target_accept is None else target_accept)
        self.dual_state = self.dual.init(eps[:1])
        self.adam = Adam(learning_rate=kernel.learning_rate)
        length = kernel.trajectory_length
        self.log_length = math.log(length if length > 0 else float(eps[0]))
        self.log_length_avg = self.log_length
        windows = warmup_windows(num_steps) if adapt_mass else []
        self.starts = {start for start, _ in windows}
        self.ends = {end for _, end in windows}
        self.pooled: PooledVariance | None = None
        self.inverse_mass: Tensor | None = None

    def current(self) -> ChEES:
        eps = float(self.eps[0])
        length = min(math.exp(self.log_length_avg), self.kernel.max_leapfrog_steps * eps)
        return replace(
            self.kernel,
            step_size=self.eps,
            inverse_mass=self.inverse_mass,
            trajectory_length=max(length, eps),
        )

    def iterate(
        self, t: int, state: ChainState, generator: torch.Generator
    ) -> tuple[ChainState, Info]:
        """One warm-up transition (Halton jitter) and the updates it informs."""
        kernel = self.current()
        x = state.position
        if kernel.jitter == "halton":
            jitter = halton(t + 1)
        else:
            jitter = float(torch.rand((), generator=generator, dtype=x.dtype, device=x.device))
        n_steps = kernel.steps_for(jitter, state.position)
        initial = state.position
        state, info, (proposed, momentum) = kernel.transition(state, n_steps, generator)
        if self.adapt_step_size:
            accept = harmonic_mean_accept(info.accept_prob, info.divergent)
            self.dual_state = self.dual.update(self.dual_state, accept)
            if torch.isfinite(self.dual_state.log_step).all():
                self.eps = self.dual_state.log_step.exp().expand_as(self.eps).clone()
        if kernel.adapt_trajectory:
            inv_mass = torch.ones_like(initial) if self.inverse_mass is None else self.inverse_mass
            elapsed = jitter * kernel.trajectory_length
            grad = chees_gradient(
                proposed, momentum, initial, inv_mass, info.accept_prob, info.divergent, elapsed
            )
            if math.isfinite(grad):
                change = max(-LOG_UPDATE_CLIP, min(LOG_UPDATE_CLIP, self.adam.step(grad)))
                self.log_length += change
            weight = (t + 1) ** -0.5
            self.log_length_avg = (1 - weight) * self.log_length_avg + weight * self.log_length
        self._update_mass(t, state.position)
        return state, info

    def _update_mass(self, t: int, position: Tensor) -> None:
        """Pool the window's draws; at its end, set the mass and restart dual averaging."""
        if t in self.starts:
            self.pooled = PooledVariance()
        if self.pooled is None:
            return
        self.pooled.update(position)
        if t + 1 not in self.ends:
            return
        variance = self.pooled.variance().to(position)
        self.inverse_mass, self.pooled = variance.expand_as(position).clone(), None
        if self.adapt_step_size:
            self.eps = self.dual.final_step_size(self.dual_state).expand_as(self.eps).clone()
            self.dual_state = self.dual.init(self.eps[:1])

    def tuned(self) -> ChEES:
        """The kernel for sampling: averaged step size, averaged trajectory length."""
        if self.adapt_step_size and self.dual_state.t > 0:
            self.eps = self.dual.final_step_size(self.dual_state).expand_as(self.eps).clone()
        return self.current()


@register_method(
    "chees",
    camp="chain",
    settings=ChainSettings,
    order=5,
    description="ChEES-HMC: jittered HMC, trajectory length learnt across chains (no tree)",
)
@dataclass(frozen=True)
class ChEES(HMC):
    """Jittered HMC with a trajectory length shared by the chains (ChEES-HMC).

    Each transition draws one u ~ U(0, 1) for all chains and runs
    ``ceil(u T / ε)`` leapfrog steps (at least one, at most ``max_leapfrog_steps``).
    `chees_adaptation` (its warm-up, used by `sample_chains` through ``adaptation``)
    learns T, ε and the mass matrix.

    Attributes:
        trajectory_length: T (the start of its adaptation; 0 starts at one step).
        max_leapfrog_steps: the cap on ``T / ε``.
        adapt_trajectory: whether warm-up learns T (else T stays as given).
        learning_rate: Adam's rate on log T during warm-up.
        jitter: warm-up jitter sequence, ``"halton"`` (quasi-random) or ``"uniform"``.

    Example:
        >>> from genmodels.mcmc.base import LogDensity
        >>> k = ChEES(LogDensity(lambda x: -0.5 * (x**2).sum(-1), (2,)), step_size=0.5,
        ...           trajectory_length=2.0)
        >>> s, info = k.step(k.init(torch.zeros(4, 2)), torch.Generator().manual_seed(0))
        >>> int(info.num_grad_evals.unique().numel())   # every chain the same number
        1
    """

    target_accept: float = 0.651
    trajectory_length: float = 0.0
    max_leapfrog_steps: int = 1000
    adapt_trajectory: bool = True
    learning_rate: float = 0.05
    jitter: str = "halton"

    adaptation: ClassVar[Callable[..., Any]] = staticmethod(chees_adaptation)

    def per_chain_step(self, like: Tensor) -> Tensor:
        """The step size as ``[chains]`` on ``like``'s device."""
        eps = torch.as_tensor(self.step_size, dtype=like.dtype).to(like.device)
        return eps.expand(like.shape[0]).clone()

    def steps_for(self, jitter: float | Tensor, like: Tensor) -> Tensor:
        """``ceil(u T / ε)`` leapfrog steps per chain ``[chains]``, within [1, max]."""
        steps = torch.ceil(jitter * self.trajectory_length / self.per_chain_step(like))
        steps = torch.nan_to_num(steps, nan=1.0)
        return steps.clamp(1, self.max_leapfrog_steps).long()

    def step(self, state: ChainState, generator: torch.Generator) -> tuple[ChainState, Info]:
        x = state.position
        jitter = torch.rand((), generator=generator, dtype=x.dtype, device=x.device)
        new, info, _ = self.transition(state, self.steps_for(jitter, x), generator)
        return new, info
