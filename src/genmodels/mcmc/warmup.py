"""`window_adaptation`: Stan's warm-up as a function that returns a tuned kernel and its state.

BlackJAX's shape (`blackjax.window_adaptation`): adaptation is not the sampler. It runs the
kernel's own public ``init``/``step`` and rebuilds the kernel with every new step size and
mass matrix, so any kernel class that keeps the contract of `genmodels.mcmc.base` can be
tuned, and the sampling loop afterwards is a few lines::

    kernel, state, info = window_adaptation(NUTS, density, x0, num_steps=500, generator=g)
    for _ in range(1000):
        state, step_info = kernel.step(state, g)

Schedule (Stan, Hoffman & Gelman 2014): a doubling/halving search for a first step size
(Algorithm 4, through one transition of the kernel itself, as BlackJAX's
``find_reasonable_step_size`` does), then dual averaging of the step size towards the
kernel's ``target_accept`` throughout, and a diagonal inverse mass matrix estimated in
Stan's slow windows (`warmup_windows`); after each window dual averaging restarts around
its averaged step size. Step size and mass matrix are per chain (see `adaptation`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from genmodels.mcmc.adaptation import (
    DualAveraging,
    WelfordVariance,
    find_reasonable_step_size,
    warmup_windows,
)
from genmodels.mcmc.base import ChainState, Info, Kernel, LogDensity

__all__ = ["AdaptationInfo", "MassWindows", "window_adaptation"]

KernelFactory = Callable[..., Kernel]
"""``cls(density, step_size, inverse_mass, **kernel_options) -> kernel`` (a kernel class)."""


class AdaptationInfo(NamedTuple):
    """What warm-up found and what it cost.

    Attributes:
        step_size: the tuned step size per chain ``[chains]``.
        inverse_mass: the tuned diagonal inverse mass matrix ``[chains, d]`` (``None``:
            identity, when the mass matrix was not adapted).
        num_grad_evals: gradient (or density) evaluations of warm-up and the step-size
            search, summed over chains.
    """

    step_size: Tensor
    inverse_mass: Tensor | None
    num_grad_evals: int


class MassWindows:
    """Stan's slow windows for the diagonal mass matrix, fed one position per iteration.

    Example:
        >>> w = MassWindows(warmup_windows(100))      # one window: iterations 15..89
        >>> updates = [w.update(t, torch.randn(2, 3)) for t in range(100)]
        >>> [t for t, u in enumerate(updates) if u is not None]
        [89]
    """

    def __init__(self, windows: list[tuple[int, int]]) -> None:
        self.starts = {start for start, _ in windows}
        self.ends = {end for _, end in windows}
        self.welford: WelfordVariance | None = None

    def update(self, t: int, position: Tensor) -> Tensor | None:
        """Add iteration ``t``'s ``position`` ``[chains, d]``; at a window's end, return the
        window's regularised variance ``[chains, d]`` (the new inverse mass), else None."""
        if t in self.starts:
            self.welford = WelfordVariance()
        if self.welford is None:
            return None
        self.welford.update(position)
        if t + 1 not in self.ends:
            return None
        variance, self.welford = self.welford.variance(), None
        return variance


def warmup_options(
    kernel_cls: KernelFactory, density: LogDensity, options: dict[str, Any]
) -> dict[str, Any]:
    """The options of the kernel run during warm-up.

    A kernel with an ``adjusted`` option (ULA) warms up with its Metropolis correction on
    when a log-density is known: an unadjusted chain under a too-large trial step flies off
    to infinity, and the corrected acceptance is what the step size is tuned to.
    """
    try:
        params = inspect.signature(kernel_cls).parameters
    except (TypeError, ValueError):  # a factory without a signature: use it as it is
        return options
    if density.has_log_prob and "adjusted" in params:
        return {**options, "adjusted": True}
    return options


def _search_step_size(
    build: Callable[[Tensor], Kernel],
    state: ChainState,
    step_size: Tensor,
    generator: torch.Generator,
) -> tuple[Tensor, int]:
    """Doubling/halving search through one transition of ``build(ε)`` from ``state``.

    Returns:
        ``(ε [chains], evaluations spent)``.
    """
    spent = []

    def trial_accept(eps: Tensor) -> Tensor:
        info = build(eps).step(state, generator)[1]
        spent.append(info.num_grad_evals.sum())
        return info.accept_prob

    eps = find_reasonable_step_size(trial_accept, step_size)
    return eps, int(torch.stack(spent).sum())


def _per_chain(step_size: float | Tensor, position: Tensor) -> Tensor:
    """A scalar or per-chain step size as ``[chains]`` on ``position``'s device and dtype."""
    eps = torch.as_tensor(step_size, dtype=position.dtype).to(position.device)
    return eps.expand(position.shape[0]).clone()


def window_adaptation(
    kernel_cls: KernelFactory,
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
) -> tuple[Kernel, ChainState, AdaptationInfo]:
    """Warm up chains of ``kernel_cls`` from ``position``: a tuned kernel and where it is.

    Args:
        kernel_cls: a kernel class (or factory) ``cls(density, step_size, inverse_mass,
            **kernel_options)``, see `genmodels.mcmc.base`.
        density: the log-density (or score) the chains run on.
        position: start points ``[chains, d]``.
        num_steps: warm-up iterations per chain (0: no adaptation, no search).
        generator: the randomness, on ``position``'s device.
        step_size: fixed (with ``adapt_step_size=False``) or starting step size; ``None``
            searches one (Hoffman & Gelman's Algorithm 4), or is 1.0 when nothing adapts.
        target_accept: the acceptance dual averaging aims at (default: the kernel's).
        adapt_step_size: tune the step size.
        adapt_mass: tune the mass matrix.
        kernel_options: further constructor arguments, e.g. ``{"num_steps": 20}`` for HMC.
        callback: called as ``callback(t, state, info)`` after every iteration.

    Returns:
        ``(kernel, state, info)``: the kernel with its tuned step size and mass matrix,
        built with ``kernel_options`` as given; the chains' state after warm-up; an
        `AdaptationInfo`.

    Example:
        >>> from genmodels.mcmc import MALA, LogDensity
        >>> density = LogDensity(lambda x: -0.5 * (x**2).sum(-1), (2,))
        >>> g = torch.Generator().manual_seed(0)
        >>> kernel, state, info = window_adaptation(MALA, density, torch.zeros(4, 2),
        ...                                         num_steps=200, generator=g)
        >>> info.step_size.shape, info.inverse_mass.shape
        (torch.Size([4]), torch.Size([4, 2]))
    """
    options = dict(kernel_options or {})
    warm = warmup_options(kernel_cls, density, options)
    eps = _per_chain(1.0 if step_size is None else step_size, position)
    inverse_mass: Tensor | None = None
    kernel = kernel_cls(density, eps, inverse_mass, **warm)
    state = kernel.init(position)
    evaluations = torch.zeros((), dtype=torch.long, device=position.device)
    if num_steps > 0 and adapt_step_size and step_size is None:
        eps, spent = _search_step_size(
            lambda e: kernel_cls(density, e, None, **warm), state, eps, generator
        )
        evaluations += spent
    dual = DualAveraging(kernel.target_accept if target_accept is None else target_accept)
    dual_state = dual.init(eps)
    mass = MassWindows(warmup_windows(num_steps) if adapt_mass else [])
    for t in range(num_steps):
        state, info = kernel_cls(density, eps, inverse_mass, **warm).step(state, generator)
        evaluations += info.num_grad_evals.sum()
        if adapt_step_size:
            dual_state = dual.update(dual_state, info.accept_prob)
            eps = dual_state.log_step.exp()
        window_variance = mass.update(t, state.position)
        if window_variance is not None:
            inverse_mass = window_variance
            if adapt_step_size:
                # Restart dual averaging around the averaged step size (as NumPyro does);
                # a fresh doubling search here overshoots and biases the short final phase.
                eps = dual.final_step_size(dual_state)
                dual_state = dual.init(eps)
        if callback is not None:
            callback(t, state, info)
    if num_steps > 0 and adapt_step_size:
        eps = dual.final_step_size(dual_state)
    tuned = kernel_cls(density, eps, inverse_mass, **options)
    return tuned, state, AdaptationInfo(eps, inverse_mass, int(evaluations))
