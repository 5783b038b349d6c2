"""Annealed importance sampling (the catalogue's ``ais``).

Neal (2001), "Annealed importance sampling", Statistics and Computing 11. N independent
particles start as exact draws of the reference q and walk a fixed schedule
0 = β₀ < β₁ < ... < β_T = 1 of the geometric path π_β ∝ q^(1−β) p̃^β
(`genmodels.density.tempering`). At each temperature a particle's log weight gains
(β_t − β_{t−1}) ℓ(x), ℓ = log p̃ − log q, and then ``moves`` transitions of a chain kernel of
`genmodels.mcmc` (MALA, HMC or RWMH) on π_{β_t} move it. There is no resampling: the
weights are those of importance sampling on the extended space, so Ẑ = mean of exp(log w)
is unbiased for Z, and log Ẑ with its delta-method standard error, and the ESS/N of the
final weights, come from `genmodels.density.log_z_estimate` / `ess_fraction`.

Schedules (``schedule``): ``"sigmoid"`` (Grosse, Maddison & Salakhutdinov 2013: dense at
both ends, where the path changes fastest for a broad reference), ``"geometric"`` (β evenly
spaced in log from ``beta_min``: dense near 0, for targets much narrower than q) and
``"linear"``. The step size is adapted between temperatures from the previous moves' mean
acceptance (a function of the whole cloud, the usual O(1/N) departure from exact
unbiasedness; ``adapt = False`` keeps it fixed).

Example:
    >>> from genmodels.targets import get_target
    >>> settings = AISSettings(particles=500, temperatures=50, reference_scale=3.0)
    >>> ws = run_ais(get_target("eight_gaussians"), settings)  # normalised: log Z = 0
    >>> ws.x.shape, abs(ws.log_z) < 3 * ws.log_z_se, ws.ess > 0.5
    (torch.Size([500, 2]), True, True)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from genmodels.budget import Budget
from genmodels.catalogue import register_method
from genmodels.checks import at_least, check_range
from genmodels.density.base import WeightedSamples, log_z_estimate
from genmodels.density.tempering import (
    MoveKernel,
    adapt_step_size,
    check_move_settings,
    kernel_class,
    move,
    particle_variance,
    tempered_path,
)
from genmodels.errors import ConfigError
from genmodels.targets.base import Target

__all__ = ["SCHEDULES", "AISSettings", "run_ais", "schedule"]

SCHEDULES = ("sigmoid", "geometric", "linear")
SIGMOID_SHARPNESS = 4.0
"""δ of the sigmoid schedule (Grosse et al. 2013 use 4)."""


@dataclass
class AISSettings:
    """`ais`: annealed importance sampling on a fixed schedule.

    Attributes:
        particles: independent particles N.
        temperatures: number of steps T of the schedule (β₁ .. β_T = 1).
        schedule: ``"sigmoid"``, ``"geometric"`` or ``"linear"`` spacing of β.
        beta_min: the first β of the geometric schedule, in (0, 1).
        kernel: the chain kernel of the moves (``mala``, ``hmc`` or ``rwmh``).
        moves: kernel transitions per temperature (>= 1).
        step_size: initial step size, in units of the particles' spread (preconditioned).
        target_accept: the rate the step size is adapted to (None: the kernel's own).
        adapt: adapt the step size between temperatures.
        precondition: diagonal inverse mass = the particles' weighted variance.
        step_jitter: each move's step size is ε·exp(j·(2u − 1)), u ~ U(0, 1) per particle
            (a random step independent of the state keeps the kernel π-invariant; it lets
            particles in narrow regions make some accepted moves). 0: no jitter.
        local_step: centre each move's jittered step on the particle's local scale, as in
            `genmodels.density.SMCSettings` (off by default: measured no better for AIS's one
            move per temperature).
        reference, reference_scale: the reference q, as in `genmodels.density.SMCSettings`.
        kernel_options: the kernel's own fields (``{"num_steps": 5}`` for HMC).
    """

    particles: int = 1000
    temperatures: int = 200
    schedule: Literal["sigmoid", "geometric", "linear"] = "sigmoid"
    beta_min: float = 1e-4
    kernel: MoveKernel = "hmc"
    moves: int = 1
    step_size: float = 0.5
    target_accept: float | None = None
    adapt: bool = True
    precondition: bool = True
    step_jitter: float = 3.0
    local_step: bool = False
    reference: Literal["auto", "gaussian"] = "auto"
    reference_scale: float | None = None
    kernel_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        at_least(self, 2, "particles")
        at_least(self, 1, "temperatures", "moves")
        check_range(self.beta_min, "beta_min", gt=0, lt=1)
        check_range(self.step_size, "step_size", gt=0)
        check_range(self.step_jitter, "step_jitter", ge=0)
        if self.reference_scale is not None:
            check_range(self.reference_scale, "reference_scale", gt=0)
        if self.target_accept is not None:
            check_range(self.target_accept, "target_accept", gt=0, lt=1)
        if self.schedule not in SCHEDULES:
            raise ConfigError(
                f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}"
            )
        if self.reference not in ("auto", "gaussian"):
            raise ConfigError(f"reference must be 'auto' or 'gaussian', got {self.reference!r}")
        check_move_settings(self)


def schedule(kind: str, steps: int, beta_min: float = 1e-4) -> Tensor:
    """β₀ = 0 < β₁ < ... < β_T = 1, ``[steps + 1]`` float64.

    Example:
        >>> schedule("linear", 4).tolist()
        [0.0, 0.25, 0.5, 0.75, 1.0]
        >>> b = schedule("sigmoid", 100)
        >>> float(b[0]), float(b[-1]), bool((b.diff() > 0).all())
        (0.0, 1.0, True)
    """
    t = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
    if kind == "linear":
        return t
    if kind == "geometric":
        beta = torch.logspace(math.log10(beta_min), 0, steps, dtype=torch.float64)
        return torch.cat([beta.new_zeros(1), beta])
    if kind == "sigmoid":
        s = torch.sigmoid(SIGMOID_SHARPNESS * (2 * t - 1))
        return (s - s[0]) / (s[-1] - s[0])
    raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, got {kind!r}")


@register_method(
    "ais",
    camp="density",
    settings=AISSettings,
    order=1,
    description="annealed importance sampling: fixed tempering schedule, MALA/HMC moves, log Z",
)
def run_ais(
    target: Target,
    settings: AISSettings,
    *,
    seed: int = 0,
    budget: Budget | None = None,
    progress: bool = False,
) -> WeightedSamples:
    """Run AIS on ``target``'s density: N weighted particles and log Ẑ with its error.

    A target with constrained parameter blocks runs in unconstrained space (particles come
    back constrained). Under a ``budget`` that expires, the remaining schedule is skipped: the
    next step goes to β = 1 (valid weights, a noisier estimate). Draws are made on the
    default device, with a generator seeded by ``seed``.
    """
    start = time.perf_counter()
    budget = budget or Budget()
    view, path = tempered_path(target, "ais", settings)
    device = torch.get_default_device()
    g = torch.Generator(device=device).manual_seed(seed)
    n = settings.particles
    p, cost = path.start(n, g, kernel_class(settings.kernel).uses_gradient)
    betas = schedule(settings.schedule, settings.temperatures, settings.beta_min).tolist()
    log_w = torch.zeros(n, dtype=torch.float64, device=p.x.device)
    step = torch.full((n,), settings.step_size, dtype=p.x.dtype, device=p.x.device)
    target_accept = settings.target_accept or kernel_class(settings.kernel).target_accept
    beta, accepts, stopped = 0.0, [], False
    for b in betas[1:]:
        stopped = stopped or budget.expired()
        b = 1.0 if stopped else b
        log_w = log_w + (b - beta) * path.log_ratio(p)
        beta = b
        inv_mass = None
        if settings.precondition:
            inv_mass = particle_variance(p.x[None], log_w[None])[0].expand_as(p.x)
        beta_rows = torch.full((n,), beta, dtype=torch.float64, device=p.x.device)
        p, accept, moved = move(
            path, p, beta_rows, settings.kernel, moves=settings.moves, step_size=step,
            inverse_mass=inv_mass, generator=g, options=settings.kernel_options,
            jitter=settings.step_jitter, local=settings.local_step,
        )  # fmt: skip
        cost = cost + moved
        accepts.append(float(accept.mean()))
        if settings.adapt:
            step = adapt_step_size(step, accept.mean(), target_accept)
        if beta >= 1.0:
            break
    log_z, se = log_z_estimate(log_w)
    x = p.x if view is target else target.param_space().constrain(p.x)
    info = {
        "temperatures": len(accepts),
        "schedule": settings.schedule,
        "accept_rate": sum(accepts) / len(accepts),
        "step_size": float(step[0]),
        "kernel": settings.kernel,
        "stopped_by_budget": stopped,
    }
    seconds = time.perf_counter() - start
    return WeightedSamples(x.detach(), log_w, log_z, se, "unbiased Z", cost, seconds, 0.0, info)
