"""Warm-up: step size by dual averaging and a diagonal mass matrix from Stan's windows.

Both run on all chains at once, with one step size and one mass matrix *per chain*
(tensors ``[chains]`` and ``[chains, d]``). Per-chain tuning is what Stan and NumPyro's
vectorised chains do: every chain stays an independent Markov chain, so R-hat keeps
its meaning — a chain stuck in another mode is tuned to that mode instead of being
tuned (and hidden) by the others. Sharing across chains would make the adaptation less
noisy for many short chains, but it would couple chains and mislead convergence checks.

ChEES-HMC (`genmodels.mcmc.chees`) is the exception by design: its trajectory length is a
statistic of the population of chains, so its step size, trajectory length and mass
matrix are shared; the pieces it uses (`halton`, `harmonic_mean_accept`, `chees_gradient`,
`Adam`, `PooledVariance`) are here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "Adam",
    "DualAveraging",
    "DualAveragingState",
    "PooledVariance",
    "WelfordVariance",
    "chees_gradient",
    "find_reasonable_step_size",
    "halton",
    "harmonic_mean_accept",
    "warmup_windows",
]


@dataclass
class DualAveragingState:
    """Per-chain state of dual averaging (Hoffman & Gelman 2014, Algorithm 5).

    Notation: ``log_step`` -> log ε_t, ``log_step_avg`` -> log ε̄_t, ``h_bar`` -> H̄_t,
    ``mu`` -> μ, ``t`` -> t (iterations since the last restart).
    """

    log_step: Tensor
    log_step_avg: Tensor
    h_bar: Tensor
    mu: Tensor
    t: int = 0


@dataclass(frozen=True)
class DualAveraging:
    """Nesterov dual averaging of log ε towards a target acceptance δ (Stan's constants).

    Example:
        >>> da = DualAveraging(target_accept=0.8)
        >>> s = da.init(torch.full((4,), 0.1))
        >>> low = da.update(s, torch.full((4,), 0.3))  # low acceptance: smaller ε
        >>> high = da.update(s, torch.full((4,), 1.0))
        >>> bool((low.log_step < high.log_step).all())
        True
    """

    target_accept: float = 0.8
    gamma: float = 0.05
    t0: float = 10.0
    kappa: float = 0.75

    def init(self, step_size: Tensor) -> DualAveragingState:
        """Restart around ``step_size`` ``[chains]``, shrinking towards μ = log(10 ε)."""
        log_step = step_size.log()
        return DualAveragingState(
            log_step,
            torch.zeros_like(log_step),
            torch.zeros_like(log_step),
            math.log(10.0) + log_step,
        )

    def update(self, state: DualAveragingState, accept_prob: Tensor) -> DualAveragingState:
        """One iteration with the observed acceptance ``[chains]`` (NaN counts as 0)."""
        t = state.t + 1
        alpha = torch.nan_to_num(accept_prob, nan=0.0).clamp(0.0, 1.0)
        w = 1.0 / (t + self.t0)
        h_bar = (1 - w) * state.h_bar + w * (self.target_accept - alpha)
        log_step = state.mu - math.sqrt(t) / self.gamma * h_bar
        eta = t ** (-self.kappa)
        log_step_avg = eta * log_step + (1 - eta) * state.log_step_avg
        return DualAveragingState(log_step, log_step_avg, h_bar, state.mu, t)

    @staticmethod
    def final_step_size(state: DualAveragingState) -> Tensor:
        """ε̄ at the end of warm-up (the step size used for sampling)."""
        return state.log_step_avg.exp() if state.t > 0 else state.log_step.exp()


class WelfordVariance:
    """Running per-chain mean and variance of draws ``[chains, d]`` (Welford 1962).

    The estimate is regularised towards 1e-3 as in Stan:
    ``(n / (n + 5)) var + 1e-3 * 5 / (n + 5)``.

    Example:
        >>> w = WelfordVariance()
        >>> for x in torch.randn(100, 2, 3):
        ...     w.update(x)
        >>> w.variance().shape
        torch.Size([2, 3])
    """

    def __init__(self) -> None:
        self.n = 0
        self.mean: Tensor | None = None
        self.m2: Tensor | None = None

    def update(self, x: Tensor) -> None:
        """Add one draw per chain, ``x`` ``[chains, d]``."""
        self.n += 1
        if self.mean is None or self.m2 is None:
            self.mean, self.m2 = x.clone(), torch.zeros_like(x)
            return
        delta = x - self.mean
        self.mean = self.mean + delta / self.n
        self.m2 = self.m2 + delta * (x - self.mean)

    def variance(self) -> Tensor:
        """The regularised variance ``[chains, d]`` (needs at least two draws)."""
        assert self.m2 is not None and self.n > 1
        n = self.n
        var = self.m2 / (n - 1)
        return (n / (n + 5.0)) * var + 1e-3 * (5.0 / (n + 5.0))


def warmup_windows(
    num_warmup: int, init_buffer: int = 75, term_buffer: int = 50, base_window: int = 25
) -> list[tuple[int, int]]:
    """Stan's slow adaptation windows ``[(start, end), ...]`` (end exclusive).

    Fast step-size-only buffer of ``init_buffer`` iterations, then mass-matrix windows of
    25, 50, 100, ... iterations (the last one stretched to the terminal buffer), then a
    fast buffer of ``term_buffer``. Short warm-ups use 15% / 75% / 10% as Stan does.

    Example:
        >>> warmup_windows(500)
        [(75, 100), (100, 150), (150, 250), (250, 450)]
    """
    if num_warmup < 20:
        return []
    if init_buffer + base_window + term_buffer > num_warmup:
        init_buffer = int(0.15 * num_warmup)
        term_buffer = int(0.1 * num_warmup)
        base_window = num_warmup - init_buffer - term_buffer
    windows = []
    start, size = init_buffer, base_window
    last = num_warmup - term_buffer
    while start < last:
        end = start + size
        if end + 2 * size > last:  # the next window would not fit: stretch this one
            end = last
        windows.append((start, end))
        start, size = end, 2 * size
    return windows


def find_reasonable_step_size(
    trial_accept: Callable[[Tensor], Tensor],
    step_size: Tensor,
    max_iter: int = 30,
    threshold: float = 0.5,
) -> Tensor:
    """Per-chain doubling/halving of ε until the one-step acceptance crosses ``threshold``.

    Hoffman & Gelman (2014), Algorithm 4, batched: each chain goes up if its acceptance
    at the start is above the threshold, down otherwise, and stops when it crosses.

    Args:
        trial_accept: ``step_size [chains] -> accept_prob [chains]``: one transition of the
            kernel with that step size from a fixed state (see `window_adaptation`).
        step_size: starting ε ``[chains]``.

    Returns:
        ε ``[chains]``.
    """
    accept = torch.nan_to_num(trial_accept(step_size), nan=0.0)
    direction = torch.where(accept > threshold, 2.0, 0.5).to(step_size)
    going = torch.ones_like(step_size, dtype=torch.bool)
    for _ in range(max_iter):
        proposed = torch.where(going, step_size * direction, step_size)
        accept = torch.nan_to_num(trial_accept(proposed), nan=0.0)
        crossed = torch.where(direction > 1, accept < threshold, accept > threshold)
        # keep the last step size on the good side of the threshold
        step_size = torch.where(going & ~(crossed & (direction > 1)), proposed, step_size)
        going = going & ~crossed
        if not bool(going.any()):
            break
    return step_size.clamp(1e-8, 1e3)


def halton(index: int, base: int = 2) -> float:
    """Element ``index`` (from 1) of the van der Corput sequence in ``base``, in (0, 1).

    A quasi-random jitter: consecutive trajectory lengths cover (0, 1) evenly, which
    makes the trajectory-length gradient of ChEES less noisy than uniform draws.

    Example:
        >>> [halton(i) for i in range(1, 5)]
        [0.5, 0.25, 0.75, 0.125]
    """
    result, scale = 0.0, 1.0
    while index > 0:
        scale /= base
        result += scale * (index % base)
        index //= base
    return result


def harmonic_mean_accept(accept_prob: Tensor, divergent: Tensor) -> Tensor:
    """The chains' harmonic-mean acceptance ``[1]`` (divergent chains left out; 0 when
    none is left or any kept chain has acceptance 0). ChEES tunes a shared step size to
    it: the harmonic mean is dominated by the worst chains, so no chain is left stuck."""
    keep = ~divergent & torch.isfinite(accept_prob)
    inverse = torch.where(keep, 1.0 / accept_prob.clamp(min=1e-10), 0.0).sum()
    count = keep.sum()
    mean = torch.where(count > 0, count / inverse.clamp(min=1e-30), 0.0)
    return torch.nan_to_num(mean, nan=0.0).reshape(1)


def chees_gradient(
    proposed: Tensor,
    momentum: Tensor,
    initial: Tensor,
    inverse_mass: Tensor,
    accept_prob: Tensor,
    divergent: Tensor,
    elapsed: float,
) -> float:
    """d ChEES / d log T, estimated over the chains (Hoffman, Radul & Sountsov 2021, eq. 4).

    ChEES = ¼ E[(‖θ' − E θ'‖² − ‖θ − E θ‖²)²]; each chain's term is
    (‖θ' − m'‖² − ‖θ − m‖²) (θ' − m')ᵀ M⁻¹ρ' · t, with t = ``elapsed`` the jittered
    trajectory length (the chain rule through log T). Terms are weighted by the acceptance
    probability, divergent chains left out, and means are estimated across chains.

    Args:
        proposed, momentum: the proposal θ', ρ' before the Metropolis decision ``[chains, d]``.
        initial: the positions the transition started from ``[chains, d]``.
        inverse_mass: ``[chains, d]``; accept_prob, divergent: ``[chains]``.
    """
    weight = torch.where(divergent | ~torch.isfinite(accept_prob), 0.0, accept_prob)
    finite = torch.isfinite(proposed).all(-1) & torch.isfinite(momentum).all(-1)
    weight = torch.where(finite, weight, 0.0)
    proposed = torch.where(finite[:, None], proposed, 0.0)
    momentum = torch.where(finite[:, None], momentum, 0.0)
    total = weight.sum()
    if float(total) <= 1e-20:
        return 0.0
    mean_new = (weight[:, None] * proposed).sum(0) / total
    centered_new = proposed - mean_new
    centered_old = initial - initial.mean(0)
    change = (centered_new**2).sum(-1) - (centered_old**2).sum(-1)
    velocity = (centered_new * inverse_mass * momentum).sum(-1)
    terms = elapsed * change * velocity
    return float((weight * terms).sum() / total)


@dataclass
class Adam:
    """Adam (Kingma & Ba 2015) on one scalar, maximising: ``step(gradient)`` returns the
    change to add. β₁ = 0 by default, as the ChEES paper uses (a noisy gradient whose
    optimum drifts while the step size and mass matrix adapt: no momentum to overshoot)."""

    learning_rate: float = 0.05
    beta1: float = 0.0
    beta2: float = 0.95
    eps: float = 1e-8
    m: float = 0.0
    v: float = 0.0
    t: int = 0

    def step(self, gradient: float) -> float:
        """The ascent update for ``gradient`` (bias-corrected moments)."""
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * gradient
        self.v = self.beta2 * self.v + (1 - self.beta2) * gradient**2
        m_hat = self.m / (1 - self.beta1**self.t)
        v_hat = self.v / (1 - self.beta2**self.t)
        return self.learning_rate * m_hat / (math.sqrt(v_hat) + self.eps)


class PooledVariance:
    """Variance ``[d]`` of draws pooled over chains and iterations (float64 sums), with
    Stan's regularisation towards 1e-3. ChEES shares one mass matrix across chains, so a
    window of many chains estimates it well from few iterations."""

    def __init__(self) -> None:
        self.n = 0
        self.total: Tensor | None = None
        self.total_sq: Tensor | None = None

    def update(self, x: Tensor) -> None:
        """Add the draws ``x`` ``[chains, d]``."""
        x64 = x.double()
        if self.total is None or self.total_sq is None:
            self.total, self.total_sq = x64.sum(0), (x64**2).sum(0)
        else:
            self.total, self.total_sq = self.total + x64.sum(0), self.total_sq + (x64**2).sum(0)
        self.n += x.shape[0]

    def variance(self) -> Tensor:
        """The regularised pooled variance ``[d]`` in float64 (needs two draws)."""
        assert self.total is not None and self.total_sq is not None and self.n > 1
        n = self.n
        mean = self.total / n
        var = ((self.total_sq - n * mean**2) / (n - 1)).clamp(min=0.0)
        return (n / (n + 5.0)) * var + 1e-3 * (5.0 / (n + 5.0))
