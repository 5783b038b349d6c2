"""Sequential Monte Carlo sampler with adaptive tempering (the catalogue's ``smc``).

Del Moral, Doucet & Jasra (2006), "Sequential Monte Carlo samplers", with the next temperature
chosen by the conditional ESS (Zhou, Johansen & Aston 2016, "Toward automatic model
comparison", Algorithm 2). N particles walk the geometric path π_β ∝ q^(1−β) p̃^β of
`genmodels.density.tempering`; at each step t:

1. reweight: β_t is the largest β' ≤ 1 (found by bisection) whose incremental weights
   wᵢ = exp((β' − β_{t−1}) ℓ(xᵢ)) keep the conditional ESS  (Σ Wᵢ wᵢ)² / Σ Wᵢ wᵢ²  at the
   fraction ``cess`` (W the normalised weights before the step); log Ẑ += log Σ Wᵢ wᵢ;
2. resample (systematic, `genmodels.density.systematic_resample`) when ESS/N < ``resample``;
   the weights become equal, and log Ẑ is unchanged (the bookkeeping is in step 1's
   normalised W);
3. move: ``moves`` transitions of a chain kernel of `genmodels.mcmc` (MALA, HMC or RWMH) on
   π_{β_t}, preconditioned by the particles' weighted variance; its step size is adapted
   between temperatures from the previous moves' acceptance rate.

Ẑ = Π_t Σᵢ W_{t−1,i} w_{t,i} is unbiased for Z (Del Moral 2004, Proposition 7.4.1), for a
fixed schedule and kernels; the adaptive choices above use the particle cloud, the usual
O(1/N) departure of adaptive SMC (Beskos, Jasra, Kantas & Thiery 2016).

**Standard error: independent repeats.** ``populations`` independent SMC runs (R) go in one
batch, each with its own temperatures, resampling and step sizes; log Ẑ = log of the mean of
their Ẑ_r (still unbiased for Z), and its standard error is the delta-method error of that
mean across the R runs (`genmodels.density.log_z_estimate` applied to the log Ẑ_r). This
needs no variance formula for adaptive resampling (Lee & Whiteley 2018 give one for a fixed
resampling schedule); with R = 1 the error is ``nan``. The returned particles are all R·N,
weighted by Ẑ_r Wᵢ (their self-normalised weights are those of the pooled estimate).

Example:
    >>> from genmodels.targets import get_target
    >>> ws = run_smc(get_target("funnel", dim=3), SMCSettings(particles=200, populations=4))
    >>> ws.x.shape, abs(ws.log_z) < 4 * ws.log_z_se + 0.05
    (torch.Size([800, 3]), True)
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
from genmodels.density.base import (
    Cost,
    WeightedSamples,
    log_z_estimate,
    systematic_resample,
)
from genmodels.density.tempering import (
    MoveKernel,
    Particles,
    TemperedPath,
    adapt_step_size,
    check_move_settings,
    kernel_class,
    move,
    particle_variance,
    tempered_path,
)
from genmodels.errors import ConfigError
from genmodels.targets.base import Target

__all__ = ["SMCSettings", "next_temperature", "run_smc"]

BISECTION_STEPS = 60
"""Halvings of the temperature interval: 2⁻⁶⁰ is below float64's resolution of β."""


@dataclass
class SMCSettings:
    """`smc`: adaptive-tempering SMC sampler.

    Attributes:
        particles: particles N per population.
        populations: independent SMC runs R in one batch; the standard error of log Ẑ is
            taken across them (``nan`` for R = 1).
        cess: conditional ESS fraction each temperature step keeps, in (0, 1): higher means
            more, smaller steps (Zhou et al. 2016 use 0.9–0.99; 0.8 is cheaper).
        resample: resample when ESS/N falls below this, in [0, 1] (0: never, 1: always).
        kernel: the chain kernel of the moves (``mala``, ``hmc`` or ``rwmh``).
        moves: kernel transitions per temperature (0: importance sampling along the path).
        step_size: initial step size, in units of the particles' spread (preconditioned).
        target_accept: acceptance rate the step size is adapted to (None: the kernel's own,
            0.574 for MALA, 0.8 for HMC, 0.234 for RWMH).
        precondition: diagonal inverse mass = the particles' weighted variance.
        reference: ``"auto"`` (the target's ``prior`` when it has one, else the Gaussian)
            or ``"gaussian"``: q = N(0, ``reference_scale``² I).
        reference_scale: σ of the Gaussian reference; it must cover the target's modes for
            the particles to find them. None: the target's stated ``spread``, else 1.
        max_step: the largest step of β, in (0, 1]: at least 1/``max_step`` temperatures,
            so the moves have that many rounds to carry particles into mass that appears late
            on the path (the conditional ESS sees only where particles already are: a
            funnel's neck and mouth appear only near β = 1 and are missed otherwise).
        max_temperatures: most temperature steps; the last one jumps to β = 1.
        step_jitter: each move's step size is ε·exp(j·(2u − 1)), u ~ U(0, 1) per particle
            (a random step independent of the state keeps the kernel π-invariant; it lets
            particles in narrow regions, a funnel's neck, make some accepted moves).
        local_step: centre that jittered step on each particle's local scale, √d over the
            norm of its preconditioned gradient (capped at 1; a funnel's neck, where the
            bulk's step is always rejected, gets steps on its own scale), with the reverse
            check that keeps the moves π-invariant (`genmodels.density.tempering.LocalStep`).
            No extra evaluations; off when ``step_jitter`` is 0 or the kernel is ``rwmh``.
        kernel_options: the kernel's own fields (``{"num_steps": 5}`` for HMC).
    """

    particles: int = 200
    populations: int = 8
    cess: float = 0.8
    resample: float = 0.5
    kernel: MoveKernel = "hmc"
    moves: int = 10
    step_size: float = 0.5
    target_accept: float | None = None
    precondition: bool = True
    reference: Literal["auto", "gaussian"] = "auto"
    reference_scale: float | None = None
    max_step: float = 0.02
    max_temperatures: int = 1000
    step_jitter: float = 3.0
    local_step: bool = True
    kernel_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        at_least(self, 2, "particles")
        at_least(self, 1, "populations", "max_temperatures")
        at_least(self, 0, "moves")
        check_range(self.cess, "cess", gt=0, lt=1)
        check_range(self.resample, "resample", ge=0, le=1)
        check_range(self.step_size, "step_size", gt=0)
        check_range(self.max_step, "max_step", gt=0, le=1)
        if self.reference_scale is not None:
            check_range(self.reference_scale, "reference_scale", gt=0)
        check_range(self.step_jitter, "step_jitter", ge=0)
        if self.target_accept is not None:
            check_range(self.target_accept, "target_accept", gt=0, lt=1)
        if self.reference not in ("auto", "gaussian"):
            raise ConfigError(f"reference must be 'auto' or 'gaussian', got {self.reference!r}")
        check_move_settings(self)


def next_temperature(
    log_ratio: Tensor,
    log_w: Tensor,
    beta: Tensor,
    cess: float,
    force: Tensor | None = None,
    max_step: float = 1.0,
) -> Tensor:
    """The next β of every population: its conditional ESS fraction equals ``cess``, and the
    step is at most ``max_step``.

    Args:
        log_ratio: ℓ = log p̃ − log q ``[pops, n]`` (float64).
        log_w: normalised log weights ``[pops, n]``.
        beta: current β ``[pops]``.
        cess: the fraction kept, in (0, 1).
        force: ``[pops]`` bool, populations that go straight to β = 1.
        max_step: the largest β step, in (0, 1].

    Returns:
        ``[pops]`` float64, in (β, 1]; 1 where even the full step keeps ``cess`` (and is
        within ``max_step``).

    Example:
        >>> ell = torch.randn(1, 1000, generator=torch.Generator().manual_seed(0)).double()
        >>> lw = torch.full((1, 1000), -math.log(1000)).double()
        >>> b = next_temperature(ell, lw, torch.zeros(1).double(), 0.5)
        >>> 0.5 < float(conditional_ess(ell, lw, b)) * 2 < 1.01 and 0 < float(b) < 1
        True
    """
    log_ratio = torch.nan_to_num(log_ratio, nan=-math.inf)
    room = (1.0 - beta).clamp_max(max_step)
    lo, hi = torch.zeros_like(beta), room.clone()
    done = conditional_ess(log_ratio, log_w, room) >= cess
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        ok = conditional_ess(log_ratio, log_w, mid) >= cess
        lo, hi = torch.where(ok, mid, lo), torch.where(ok, hi, mid)
    # the tiniest step still moves: a collapse at once (every ℓ but one -inf) must end
    step = torch.where(done, room, lo.clamp_min(torch.finfo(beta.dtype).eps))
    if force is not None:
        step = torch.where(force, 1.0 - beta, step)
    return torch.minimum(beta + step, torch.ones_like(beta))


def conditional_ess(log_ratio: Tensor, log_w: Tensor, delta: Tensor) -> Tensor:
    """(Σ Wᵢ wᵢ)² / Σ Wᵢ wᵢ², wᵢ = exp(δ ℓᵢ), per population ``[pops]`` (Zhou et al. 2016,
    eq. 3.16, divided by N): the ESS fraction a step δ leaves of the current weights."""
    inc = delta[:, None] * log_ratio  # [pops, n]
    inc = torch.where(delta[:, None] > 0, inc, torch.zeros_like(inc))  # 0 · (-inf) = 0
    first = torch.logsumexp(log_w + inc, dim=-1)
    second = torch.logsumexp(log_w + 2 * inc, dim=-1)
    return torch.nan_to_num(torch.exp(2 * first - second), nan=0.0)


@dataclass
class _Run:
    """The populations' state between steps (rows = population-major ``[pops · n]``)."""

    p: Particles
    log_w: Tensor  # [pops, n] normalised log weights (float64)
    beta: Tensor  # [pops] float64
    log_z: Tensor  # [pops] float64, log Ẑ so far
    step: Tensor  # [pops] step size
    cost: Cost
    temperatures: list[list[float]]
    resamples: Tensor  # [pops] long
    accept: list[float] = field(default_factory=list)


def _reweight(run: _Run, path: TemperedPath, settings: SMCSettings, force: Tensor) -> Tensor:
    """Step 1 for every population still below β = 1; returns that mask ``[pops]``."""
    pops, n = run.log_w.shape
    active = run.beta < 1
    ell = path.log_ratio(run.p).reshape(pops, n)
    new_beta = next_temperature(ell, run.log_w, run.beta, settings.cess, force, settings.max_step)
    new_beta = torch.where(active, new_beta, run.beta)
    delta = (new_beta - run.beta)[:, None]
    inc = torch.where(delta > 0, delta * ell, torch.zeros_like(ell))
    unnorm = run.log_w + inc
    step_log_z = torch.logsumexp(unnorm, dim=-1)  # log Σ W_{t-1} w_t
    run.log_z = run.log_z + torch.where(active, step_log_z, torch.zeros_like(step_log_z))
    run.log_w = torch.where(active[:, None], unnorm - step_log_z[:, None], run.log_w)
    run.beta = new_beta
    for r in active.nonzero().flatten().tolist():
        run.temperatures[r].append(float(new_beta[r]))
    return active


def _resample(run: _Run, active: Tensor, threshold: float, generator: torch.Generator) -> None:
    """Step 2: systematic resampling of the active populations whose ESS/N < threshold."""
    pops, n = run.log_w.shape
    ess = 1.0 / (n * torch.exp(torch.logsumexp(2 * run.log_w, dim=-1)))  # [pops]
    index = torch.arange(pops * n, device=run.log_w.device).reshape(pops, n)
    chosen = (active & (ess < threshold)).nonzero().flatten().tolist()
    if not chosen:
        return
    for r in chosen:
        index[r] = r * n + systematic_resample(run.log_w[r], n, generator).to(index.device)
        run.log_w[r] = -math.log(n)
        run.resamples[r] += 1
    run.p = run.p.select(index.reshape(-1))


def _move(
    run: _Run, path: TemperedPath, active: Tensor, settings: SMCSettings, g: torch.Generator
) -> None:
    """Step 3: the kernel's moves on the active populations, then the step-size update."""
    pops, n = run.log_w.shape
    if settings.moves == 0 or not active.any():
        return
    rows = active.repeat_interleave(n)  # [pops · n] bool
    inv_mass = None
    if settings.precondition:
        var = particle_variance(run.p.x.reshape(pops, n, -1), run.log_w)  # [pops, d]
        inv_mass = var.repeat_interleave(n, dim=0)[rows]
    beta = run.beta.repeat_interleave(n)[rows]
    step = run.step.repeat_interleave(n)[rows]
    moved, accept, cost = move(
        path, run.p.select(rows), beta, settings.kernel, moves=settings.moves,
        step_size=step, inverse_mass=inv_mass, generator=g, options=settings.kernel_options,
        jitter=settings.step_jitter, local=settings.local_step,
    )  # fmt: skip
    run.p.assign(rows, moved)
    run.cost = run.cost + cost
    per_pop = accept.reshape(-1, n).mean(-1)  # [active pops]
    target = settings.target_accept or kernel_class(settings.kernel).target_accept
    run.step[active] = adapt_step_size(run.step[active], per_pop, target)
    run.accept.append(float(per_pop.mean()))


def _start(path: TemperedPath, settings: SMCSettings, g: torch.Generator) -> _Run:
    pops, n = settings.populations, settings.particles
    uses_grad = kernel_class(settings.kernel).uses_gradient and settings.moves > 0
    p, cost = path.start(pops * n, g, uses_grad)
    device = p.x.device
    return _Run(
        p=p,
        log_w=torch.full((pops, n), -math.log(n), dtype=torch.float64, device=device),
        beta=torch.zeros(pops, dtype=torch.float64, device=device),
        log_z=torch.zeros(pops, dtype=torch.float64, device=device),
        step=torch.full((pops,), settings.step_size, dtype=p.x.dtype, device=device),
        cost=cost,
        temperatures=[[0.0] for _ in range(pops)],
        resamples=torch.zeros(pops, dtype=torch.long, device=device),
    )


@register_method(
    "smc",
    camp="density",
    settings=SMCSettings,
    order=0,
    description="SMC sampler: adaptive tempering by conditional ESS, MALA/HMC moves, log Z",
)
def run_smc(
    target: Target,
    settings: SMCSettings,
    *,
    seed: int = 0,
    budget: Budget | None = None,
    progress: bool = False,
) -> WeightedSamples:
    """Run ``settings.populations`` independent SMC samplers on ``target``'s density.

    A target with constrained parameter blocks runs in unconstrained space (its particles
    come back constrained); log Z is the same in both. Under a ``budget`` that expires, every
    population's next step goes straight to β = 1 (a valid, noisier estimate). Random draws
    are made on the default device, where the target's constants live, with a generator
    seeded by ``seed``.

    Returns:
        `WeightedSamples` of all R·N particles; ``info`` holds each population's log Ẑ
        (``log_z_populations``), temperatures and resampling counts.
    """
    start = time.perf_counter()
    budget = budget or Budget()
    view, path = tempered_path(target, "smc", settings)
    g = torch.Generator(device=torch.get_default_device()).manual_seed(seed)
    run = _start(path, settings, g)
    stopped = False
    while bool((run.beta < 1).any()):
        steps = torch.tensor([len(t) for t in run.temperatures], device=run.beta.device)
        stopped = stopped or budget.expired()
        force = (steps >= settings.max_temperatures) | stopped
        active = _reweight(run, path, settings, force)
        _resample(run, active, settings.resample, g)
        _move(run, path, active, settings, g)
    return _result(target, view, run, settings, stopped, time.perf_counter() - start)


def _result(
    target: Target, view: Target, run: _Run, settings: SMCSettings, stopped: bool, seconds: float
) -> WeightedSamples:
    pops, n = run.log_w.shape
    log_z_r = run.log_z  # [pops]
    if pops > 1:
        log_z, se = log_z_estimate(log_z_r)
    else:
        log_z, se = float(log_z_r[0]), math.nan
    log_w = (log_z_r[:, None] + run.log_w + math.log(n)).reshape(-1)  # weights Ẑ_r · N W_ri
    x = run.p.x
    if view is not target:
        x = target.param_space().constrain(x)
    info = {
        "log_z_populations": log_z_r.tolist(),
        "num_temperatures": [len(t) - 1 for t in run.temperatures],
        "temperatures": run.temperatures[0],
        "resamples": run.resamples.tolist(),
        "accept_rate": sum(run.accept) / len(run.accept) if run.accept else math.nan,
        "step_size": run.step.tolist(),
        "kernel": settings.kernel,
        "stopped_by_budget": stopped,
    }
    return WeightedSamples(x.detach(), log_w, log_z, se, "unbiased Z", run.cost, seconds, 0.0, info)
