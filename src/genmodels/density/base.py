"""What every sampler of a density returns: weighted particles, a log Z estimate, their cost.

The methods of the ``density`` camp sample a target known only through its unnormalised
log-density log p̃ and estimate its normaliser Z = ∫ p̃: sequential Monte Carlo and annealed
importance sampling, importance-corrected maps (a flow or a diffusion model's PF-ODE density
as the proposal of self-normalised importance sampling), and diffusion samplers trained from
the density alone. They all return a `WeightedSamples`: particles ``x`` with log importance
weights ``log_w``, so that one set of functions here turns any of them into the statistician's
measures — log Ẑ with its standard error, the effective sample size of the weights, equally
weighted draws by systematic resampling — and one `Cost` counts what they spent in the unit
that makes methods comparable: evaluations of the target (one per particle and call).

Example:
    Importance sampling of an unnormalised N(0, 1) (Z = √(2π)) with a N(0, 2²) proposal:

    >>> g = torch.Generator().manual_seed(0)
    >>> x = 2 * torch.randn(100_000, 1, generator=g)
    >>> log_q = -0.5 * (x[:, 0] / 2) ** 2 - math.log(2 * math.sqrt(2 * math.pi))
    >>> log_w = -0.5 * x[:, 0] ** 2 - log_q
    >>> log_z, se = log_z_estimate(log_w)
    >>> abs(log_z - 0.5 * math.log(2 * math.pi)) < 4 * se
    True
    >>> round(ess_fraction(log_w), 2)  # 1 / E_q[(p/q)²] = √7 / 4
    0.66
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from genmodels.errors import InvalidInputError
from genmodels.mcmc.base import LogDensity
from genmodels.samples import Samples

__all__ = [
    "Cost",
    "CountedLogProb",
    "CountingDensity",
    "WeightedSamples",
    "ess_fraction",
    "log_weights",
    "log_z_estimate",
    "reference_scale",
    "systematic_resample",
]


def _check_log_w(log_w: Tensor) -> Tensor:
    if log_w.ndim != 1 or log_w.numel() == 0:
        raise InvalidInputError(f"log_w must be a non-empty [n] tensor, got {list(log_w.shape)}")
    return log_w.detach().double()


def log_weights(log_p: Tensor, log_q: Tensor) -> Tensor:
    """log w = log p̃ − log q in float64, with a zero weight (−inf) where log p̃ is −inf or
    its dtype's lowest number (`genmodels.mcmc.base.LogDensity`'s stand-in for −inf) and
    where log w is NaN. −inf must stay −inf: a finite stand-in would make a run whose weights
    are all zero report that number as log Ẑ, with ESS/N = 1.

    Example:
        >>> lp = torch.tensor([0.0, torch.finfo(torch.float32).min, float("nan")])
        >>> log_weights(lp, torch.zeros(3)).tolist()
        [0.0, -inf, -inf]
    """
    lowest = torch.finfo(log_p.dtype).min if log_p.is_floating_point() else -math.inf
    log_p = torch.where(log_p <= lowest, -math.inf, log_p.detach()).double()
    log_w = log_p - log_q.detach().double()
    return torch.where(torch.isnan(log_w), -math.inf, log_w)


def log_z_estimate(log_w: Tensor) -> tuple[float, float]:
    """log Ẑ = log mean exp(log_w) and its standard error (delta method).

    Ẑ itself is unbiased for Z when ``log_w`` are log p̃(x) − log q(x) with x ~ q; log Ẑ is
    then biased low by about se²/2. The standard error is sd(w) / (√n · mean(w)), computed
    stably in log space; it is ``inf`` when every weight is zero (no particle in the support).
    """
    lw = _check_log_w(log_w)
    n = lw.numel()
    m = lw.max()
    if not torch.isfinite(m):
        return -math.inf, math.inf
    w = torch.exp(lw - m)  # in (0, 1]
    mean = w.mean()
    log_z = float(m + mean.log())
    se = float(w.std(correction=1) / (math.sqrt(n) * mean)) if n > 1 else math.inf
    return log_z, se


def ess_fraction(log_w: Tensor) -> float:
    """Kish's effective sample size of the self-normalised weights, divided by n: in (0, 1],
    1 when all weights are equal (the proposal is the target), 1/n when one weight dominates.
    0 when no weight is finite."""
    lw = _check_log_w(log_w)
    if not torch.isfinite(lw.max()):
        return 0.0
    w = torch.softmax(lw, dim=0)
    return float(1.0 / (w.square().sum() * lw.numel()))


def systematic_resample(log_w: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
    """Indices ``[n]`` (long) of particles drawn in proportion to exp(log_w) by systematic
    resampling: one uniform offset, n evenly spaced points on the cumulative weights. Its
    variance is below multinomial resampling's and it keeps each particle ⌊n·wᵢ⌋ or ⌈n·wᵢ⌉
    times. The uniform is drawn on the generator's device."""
    lw = _check_log_w(log_w)
    if not torch.isfinite(lw.max()):
        raise InvalidInputError("cannot resample: every importance weight is zero")
    device = generator.device if generator is not None else lw.device
    w = torch.softmax(lw, dim=0).to(device)
    u = torch.rand((), generator=generator, device=device, dtype=w.dtype)
    points = (u + torch.arange(n, device=device, dtype=w.dtype)) / n
    cdf = torch.cumsum(w, dim=0)
    cdf[-1] = 1.0  # rounding must not push a point past the last particle
    return torch.searchsorted(cdf, points).clamp_max(lw.numel() - 1).to(log_w.device)


@dataclass
class Cost:
    """What a run spent, in evaluations of the target: one per particle (row) and call.

    Attributes:
        density_evals: evaluations of log p̃ alone.
        grad_evals: evaluations of ∇ log p̃ (each with its value: one autograd pass).
    """

    density_evals: int = 0
    grad_evals: int = 0

    @property
    def target_evals(self) -> int:
        """All evaluations of the target, the budget unit of `genmodels compare`."""
        return self.density_evals + self.grad_evals

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.density_evals + other.density_evals, self.grad_evals + other.grad_evals)


def reference_scale(given: float | None, target: Any) -> float:
    """The scale a sampler starts from: ``given``, else the target's stated ``spread``, else 1."""
    if given is not None:
        return float(given)
    return float(getattr(target, "spread", None) or 1.0)


class CountedLogProb:
    """log p̃ with every row it is evaluated on counted in ``cost``: rows of a call whose
    input carries gradients are gradient evaluations (a loss backpropagates through log p̃,
    or a kernel takes ∇ log p̃), the others density evaluations. It wraps the function
    itself, for code that calls log p̃ inside its own densities or losses (a reverse-KL fit,
    FAB's tempered path), where `CountingDensity`'s ``value`` is never reached."""

    def __init__(self, fn: Callable[[Tensor], Tensor], event_shape: tuple[int, ...]) -> None:
        self.fn, self.event_shape = fn, tuple(event_shape)
        self.cost = Cost()

    def __call__(self, x: Tensor) -> Tensor:
        rows = int(x.reshape(-1, *self.event_shape).shape[0])
        if torch.is_grad_enabled() and x.requires_grad:
            self.cost.grad_evals += rows
        else:
            self.cost.density_evals += rows
        return self.fn(x)


class CountingDensity(LogDensity):
    """A `LogDensity` that counts its evaluations in a `Cost` (rows of each batch).

    Hand it to code that calls ``value`` / ``value_and_grad`` (the chain kernels in eager
    mode, a sampler's own loop); code that reaches ``fn`` directly (compiled kernels) is not
    counted, so kernels' own ``Info.num_grad_evals`` is the count to use there.
    """

    def __init__(
        self,
        fn: Callable[[Tensor], Tensor],
        event_shape: tuple[int, ...],
        score_fn: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        super().__init__(fn, event_shape, score_fn)
        self.cost = Cost()

    def value(self, x: Tensor) -> Tensor:
        self.cost.density_evals += int(x.shape[0])
        return super().value(x)

    def value_and_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self.cost.grad_evals += int(x.shape[0])
        before = self.cost.density_evals
        out = super().value_and_grad(x)
        self.cost.density_evals = before  # a closed-form score's value is part of this call
        return out


@dataclass
class WeightedSamples:
    """Particles with log importance weights, a log Z estimate and what they cost.

    Attributes:
        x: particles ``[n, *event_shape]``.
        log_w: ``[n]`` unnormalised log weights (zeros: equally weighted draws).
        log_z: the estimate of log Z.
        log_z_se: its standard error (``nan`` when the method gives none).
        log_z_kind: what the estimate is: ``"unbiased Z"`` (SMC, AIS, importance sampling:
            E Ẑ = Z, log Ẑ biased low), ``"ELBO"`` (a lower bound in expectation), ...
        cost: target evaluations, training included.
        seconds: wall-clock seconds, training included.
        train_seconds: of which training (a learned sampler; 0 otherwise).
        info: anything else worth a line (temperatures, acceptance, training loss).
    """

    x: Tensor
    log_w: Tensor
    log_z: float
    log_z_se: float = math.nan
    log_z_kind: str = "unbiased Z"
    cost: Cost = field(default_factory=Cost)
    seconds: float = 0.0
    train_seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.log_w.shape != self.x.shape[:1]:
            raise InvalidInputError(
                f"log_w must be [n={self.x.shape[0]}], got {list(self.log_w.shape)}"
            )

    @property
    def ess(self) -> float:
        """ESS/N of the weights (`ess_fraction`)."""
        return ess_fraction(self.log_w)

    def resample(self, n: int | None = None, generator: torch.Generator | None = None) -> Tensor:
        """``n`` (default: as many as there are particles) equally weighted draws."""
        index = systematic_resample(self.log_w, n or self.x.shape[0], generator)
        return self.x[index]

    def to_samples(self, n: int | None = None, generator: torch.Generator | None = None) -> Samples:
        """Resampled draws as `Samples` (``nfe``: target evaluations), with log Z, its error
        and the ESS in ``info``, for the metrics every other method is scored with."""
        info = {"log_z": self.log_z, "log_z_se": self.log_z_se, "ess_fraction": self.ess}
        return Samples(
            self.resample(n, generator),
            nfe=self.cost.target_evals,
            seconds=self.seconds,
            info={**info, **{k: v for k, v in self.info.items() if isinstance(v, int | float)}},
        )
