"""FAB: a flow fitted to the density by the α = 2 divergence, with AIS and a replay buffer.

Flow Annealed importance sampling Bootstrap (Midgley, Stimper, Simm, Schölkopf &
Hernández-Lobato 2023, "Flow Annealed Importance Sampling Bootstrap", ICLR; Algorithm 2,
the prioritised replay buffer). The α = 2 divergence D₂(p‖q) = ∫ p²/q is what the ESS of
importance sampling with q as proposal depends on (ESS/N → 1 / E_q[(p/q)²]), and its
gradient is an expectation under g ∝ p²/q, the distribution that minimises the variance of
its own estimate. FAB estimates that expectation by annealed importance sampling (Neal 2001)
*from the flow q_θ to g*: q_θ is the AIS base, the path is the geometric one

    log π_β = (1 − β) log q_θ + β (2 log p̃ − log q_θ) = (1 − 2β) log q_θ + 2β log p̃,

β on a linear schedule of ``temperatures`` steps, with ``moves`` transitions of a chain
kernel of `genmodels.mcmc` (HMC by default, step size per temperature adapted towards
``target_accept``) at each β (`genmodels.density.tempering.move`). The AIS weights w then
make −Σ softmax(log w) log q_θ(x) a surrogate whose gradient is that of D₂ up to a positive
factor; because AIS moves particles into regions the flow under-covers, the flow is pulled
towards modes it has not yet found, which reverse KL (``flow_is``) never does.

With the replay buffer every AIS pass (``batch_size`` particles) is stored with its log w and
log q_θ at storage time; ``updates_per_pass`` gradient steps each draw a batch from the buffer
with probability ∝ w (without replacement), and correct for the flow having changed since:
w_adjust = q_old(x) / q_θ(x) (clipped at ``w_adjust_clip``), the loss −mean(w_adjust log q_θ),
after which the stored log w gains log w_adjust and log q_old becomes log q_θ.

Output: self-normalised importance sampling of p̃ with the trained flow as the proposal
(`importance_sample`, `FlowProposal`): ``particles`` weighted draws, log Ẑ = log mean w,
unbiased for Z (``log_z_kind = "unbiased Z"``), its standard error and ESS/N.

Cost: every evaluation of p̃ is counted as it happens — in training, one gradient evaluation
per particle at the start of each AIS pass and per particle and leapfrog (or MALA/RWMH) step
of every move, every row the kernel evaluates (a HMC chain's surplus leapfrog steps too) —
plus one density evaluation per importance draw.

Notation (code -> paper): ``log_w`` -> log w_AIS, ``log_q_old`` -> log q_θ' of a buffer entry,
``w_adjust`` -> w_adjust, ``temperatures`` -> the number of intermediate distributions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from genmodels.budget import Budget
from genmodels.catalogue import register_method
from genmodels.checks import at_least, check_range
from genmodels.density.base import Cost, CountedLogProb, WeightedSamples, reference_scale
from genmodels.density.importance import DEFAULT_BATCH_SIZE, FlowProposal, importance_sample
from genmodels.density.tempering import (
    MoveKernel,
    TemperedPath,
    adapt_step_size,
    check_move_settings,
    density_view,
    kernel_class,
    move,
    particle_variance,
)
from genmodels.diffusion.draws import model_tensor
from genmodels.hybrids.run import SAMPLING_RESERVE
from genmodels.mcmc.base import LogDensity
from genmodels.models.flow import Flow, FlowConfig
from genmodels.targets.base import Target
from genmodels.training.config import check_choices

__all__ = ["FABSettings", "FlowReference", "ReplayBuffer", "fab_path", "run_fab"]


def _hmc_options() -> dict[str, Any]:
    return {"num_steps": 5}


@dataclass
class FABSettings:
    """`fab`: a flow trained by FAB (α = 2 divergence, AIS to p²/q, replay buffer), then SNIS.

    Attributes:
        iterations: AIS passes of training, each followed by ``updates_per_pass`` steps.
        batch_size: AIS particles per pass, and the buffer batch of each gradient step.
        updates_per_pass: gradient steps per AIS pass (the paper's 4).
        temperatures: AIS intermediate distributions, linearly spaced in β (the paper's 12).
        kernel: the chain kernel of the AIS moves (``hmc``, ``mala`` or ``rwmh``).
        moves: kernel transitions per temperature.
        kernel_options: the kernel's own fields (HMC: 5 leapfrog steps on average, half
            the paper's 10, so that the defaults train in a CPU half-minute).
        step_size: initial step size of every temperature's moves.
        target_accept: the acceptance rate each temperature's step size is adapted to.
        precondition: diagonal inverse mass = the particles' weighted variance.
        buffer_size: replay buffer capacity, in particles (oldest replaced first).
        buffer_min: particles the buffer holds before the first gradient step.
        w_adjust_clip: upper clip of w_adjust = q_old / q_θ.
        lr: Adam learning rate.
        grad_clip: gradient-norm clip of each step.
        flow_kind, transforms, hidden: the flow (`genmodels.models.flow.FlowConfig`).
        reference_scale: the untrained flow's scale (None: the target's ``spread``, else 1).
        particles: importance draws from the trained flow.
        is_batch_size: draws weighted at a time.
    """

    iterations: int = 60
    batch_size: int = 128
    updates_per_pass: int = 4
    temperatures: int = 12
    kernel: MoveKernel = "hmc"
    moves: int = 1
    kernel_options: dict[str, Any] = field(default_factory=_hmc_options)
    step_size: float = 0.5
    target_accept: float = 0.65
    precondition: bool = False
    buffer_size: int = 12_800
    buffer_min: int = 256
    w_adjust_clip: float = 10.0
    lr: float = 1e-3
    grad_clip: float = 100.0
    flow_kind: Literal["realnvp", "maf", "nsf"] = "realnvp"
    transforms: int = 6
    hidden: int = 64
    reference_scale: float | None = None
    particles: int = 10_000
    is_batch_size: int = DEFAULT_BATCH_SIZE

    def __post_init__(self) -> None:
        check_choices(self)
        at_least(self, 0, "iterations")
        at_least(self, 2, "batch_size")
        at_least(self, 1, "updates_per_pass", "temperatures", "moves", "transforms", "hidden")
        at_least(self, 1, "particles", "is_batch_size")
        check_range(self.step_size, "step_size", gt=0)
        check_range(self.target_accept, "target_accept", gt=0, lt=1)
        check_range(self.w_adjust_clip, "w_adjust_clip", gt=0)
        check_range(self.lr, "lr", gt=0)
        check_range(self.grad_clip, "grad_clip", gt=0)
        check_range(self.buffer_min, "buffer_min", ge=self.batch_size, integer=True)
        check_range(self.buffer_size, "buffer_size", gt=self.buffer_min, integer=True)
        if self.reference_scale is not None:
            check_range(self.reference_scale, "reference_scale", gt=0)
        check_move_settings(self)


# ---- the AIS path from the flow to p²/q --------------------------------------------------------


class FlowReference:
    """The flow as the base of AIS: detached draws and log q_θ (a `tempering.Reference`)."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.proposal = FlowProposal(flow)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.proposal.sample_and_log_prob(n, generator)[0]

    def log_prob(self, x: Tensor) -> Tensor:
        return self.flow.log_prob(x)


class _P2OverQPath(TemperedPath):
    """`TemperedPath` from q_θ to g ∝ p̃²/q_θ whose π_β evaluates the flow once per call:
    log π_β = (1 − 2β) log q_θ + 2β log p̃ (the parent would add (1 − β) log q_θ and
    β log g separately, two passes of the flow)."""

    def __init__(self, log_p: CountedLogProb, flow: Flow, event_shape: tuple[int, ...]) -> None:
        def log_g(x: Tensor) -> Tensor:
            return 2 * log_p(x) - flow.log_prob(x)

        super().__init__(LogDensity(log_g, event_shape), FlowReference(flow))
        self.log_p = log_p

    def density(self, beta: Tensor) -> LogDensity:
        def log_pi(x: Tensor) -> Tensor:
            lp = self.log_p(x)
            b = beta.to(lp.dtype)
            return (1 - 2 * b) * self.reference.log_prob(x) + 2 * b * lp

        return LogDensity(log_pi, self.target.event_shape)


def fab_path(log_p: CountedLogProb, flow: Flow, event_shape: tuple[int, ...]) -> TemperedPath:
    """The AIS path of FAB from ``flow`` to p̃²/q (its particles' ``log_p`` is log g)."""
    return _P2OverQPath(log_p, flow, event_shape)


@contextmanager
def _frozen(flow: Flow) -> Iterator[None]:
    """The flow's parameters out of autograd while AIS runs (only ∇_x is needed)."""
    flow.requires_grad_(False)
    try:
        yield
    finally:
        flow.requires_grad_(True)


def ais_pass(
    path: TemperedPath,
    settings: FABSettings,
    steps: Tensor,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor, Tensor]:
    """One AIS pass of ``batch_size`` particles from q_θ to p̃²/q_θ.

    ``steps`` ``[temperatures]`` holds each temperature's step size; it is adapted in place
    from that temperature's mean acceptance. Returns ``(x, log_w [float64], accept [T])``.
    """
    n, t_count = settings.batch_size, settings.temperatures
    uses_grad = kernel_class(settings.kernel).uses_gradient
    p, _ = path.start(n, generator, uses_grad)
    log_w = torch.zeros(n, dtype=torch.float64, device=p.x.device)
    accepts = torch.zeros(t_count, dtype=torch.float64)
    for t in range(1, t_count + 1):
        log_w = log_w + path.log_ratio(p) / t_count
        beta = torch.full((n,), t / t_count, dtype=torch.float64, device=p.x.device)
        inv_mass = None
        if settings.precondition:
            inv_mass = particle_variance(p.x[None], log_w[None])[0].expand_as(p.x)
        step = steps[t - 1].expand(n).to(device=p.x.device, dtype=p.x.dtype)
        p, accept, _ = move(
            path, p, beta, settings.kernel, moves=settings.moves, step_size=step,
            inverse_mass=inv_mass, generator=generator, options=settings.kernel_options,
        )  # fmt: skip
        accepts[t - 1] = accept.mean().cpu()
        steps[t - 1] = adapt_step_size(steps[t - 1], accepts[t - 1], settings.target_accept)
    return p.x.detach(), torch.nan_to_num(log_w, nan=-math.inf), accepts


# ---- the replay buffer -------------------------------------------------------------------------


class ReplayBuffer:
    """AIS draws with their log w and log q_θ at storage time, sampled ∝ w (the paper's
    prioritised buffer): a ring of ``capacity`` rows, the oldest overwritten first."""

    def __init__(self, capacity: int, dim: int, like: Tensor) -> None:
        self.x = like.new_zeros(capacity, dim)
        self.log_w = torch.full((capacity,), -math.inf, dtype=torch.float64, device=like.device)
        self.log_q = like.new_zeros(capacity)
        self.capacity, self.size, self.next = capacity, 0, 0

    def add(self, x: Tensor, log_w: Tensor, log_q: Tensor) -> None:
        rows = (torch.arange(x.shape[0], device=x.device) + self.next) % self.capacity
        self.x[rows], self.log_w[rows], self.log_q[rows] = x, log_w.double(), log_q
        self.next = (self.next + x.shape[0]) % self.capacity
        self.size = min(self.capacity, self.size + x.shape[0])

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` distinct rows drawn ∝ w (Gumbel top-k on log w)."""
        u = torch.rand(self.size, generator=generator, device=generator.device, dtype=torch.float64)
        gumbel = -torch.log(-torch.log(u.clamp(1e-300, 1.0 - 1e-16)))
        keys = self.log_w[: self.size] + gumbel.to(self.log_w.device)
        return keys.topk(min(n, self.size)).indices

    def adjust(self, rows: Tensor, log_adjust: Tensor, log_q: Tensor) -> None:
        """Re-weigh ``rows`` to the current flow: log w += log(q_old/q_θ), log q_old = log q_θ."""
        ok = torch.isfinite(log_adjust) & torch.isfinite(log_q)
        rows = rows[ok]
        self.log_w[rows] += log_adjust[ok].double()
        self.log_q[rows] = log_q[ok]


# ---- training ----------------------------------------------------------------------------------


def buffer_update(
    flow: Flow,
    opt: torch.optim.Optimizer,
    buffer: ReplayBuffer,
    rows: Tensor,
    settings: FABSettings,
) -> float:
    """One gradient step on the buffer rows ``rows``: loss −mean(w_adjust · log q_θ(x)),
    w_adjust = q_old/q_θ clipped; then the rows are re-weighed to the current θ. A
    non-finite loss or gradient skips the step (as the authors do). Returns the loss."""
    x = buffer.x[rows]
    log_q = flow.log_prob(x)
    log_adjust = buffer.log_q[rows] - log_q.detach()
    w_adjust = log_adjust.exp().clamp(max=settings.w_adjust_clip)
    loss = -(w_adjust * log_q).mean()
    opt.zero_grad(set_to_none=True)
    if torch.isfinite(loss):
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(flow.parameters(), settings.grad_clip)
        if torch.isfinite(norm):
            opt.step()
    buffer.adjust(rows, log_adjust, log_q.detach())
    return float(loss.detach())


def build_flow(view: Target, settings: FABSettings, seed: int) -> Flow:
    """The untrained flow on the default device: its base scaled to ``reference_scale`` (or
    the target's ``spread``), so the first AIS passes start as wide as the target is."""
    torch.manual_seed(seed)  # initial weights, as `fit_flow` does
    config = FlowConfig(
        kind=settings.flow_kind, transforms=settings.transforms, hidden=settings.hidden
    )
    flow = Flow(config, tuple(view.event_shape))
    flow.standardize.scale.fill_(reference_scale(settings.reference_scale, view))
    return flow.to(torch.get_default_device())


def train_fab(
    flow: Flow,
    log_p: CountedLogProb,
    settings: FABSettings,
    generator: torch.Generator,
    budget: Budget,
) -> dict[str, Any]:
    """FAB with the replay buffer: fill the buffer to ``buffer_min`` with AIS passes, then
    ``iterations`` times one AIS pass (stored) and ``updates_per_pass`` steps on buffer
    batches drawn ∝ w. Stops before the next pass once ``budget`` has expired."""
    path = fab_path(log_p, flow, (flow.features,))
    opt = torch.optim.Adam(flow.parameters(), lr=settings.lr)
    steps = torch.full((settings.temperatures,), settings.step_size, dtype=torch.float64)
    buffer = ReplayBuffer(settings.buffer_size, flow.features, model_tensor(flow).detach())
    done, passes, losses, accept, ess_ais = 0, 0, [], math.nan, math.nan
    fill = math.ceil(settings.buffer_min / settings.batch_size)
    while done < settings.iterations and not budget.expired():
        with _frozen(flow):
            x, log_w, accepts = ais_pass(path, settings, steps, generator)
            log_q = flow.log_prob(x)
        buffer.add(x, log_w, log_q)
        passes += 1
        accept = float(accepts.mean())
        ess_ais = float(torch.softmax(log_w, 0).square().sum().reciprocal() / log_w.numel())
        if passes <= fill:
            continue  # still filling the buffer to its minimum
        for _ in range(settings.updates_per_pass):
            rows = buffer.sample(settings.batch_size, generator)
            losses.append(buffer_update(flow, opt, buffer, rows, settings))
        done += 1
    flow.eval().requires_grad_(False)
    return {
        "train_steps": done * settings.updates_per_pass,
        "iterations": done,
        "ais_passes": passes,
        "loss": losses[-1] if losses else math.nan,
        "accept_rate": accept,
        "ais_ess": ess_ais,
        "step_sizes": steps.tolist(),
        "stopped_by_budget": float(done < settings.iterations),
    }


@register_method(
    "fab",
    camp="density",
    settings=FABSettings,
    order=21,
    description="a flow trained by FAB (α=2 divergence, AIS to p²/q, replay buffer), then SNIS",
)
def run_fab(
    target: Target,
    settings: FABSettings,
    *,
    seed: int = 0,
    budget: Budget | None = None,
    progress: bool = False,
) -> WeightedSamples:
    """Train a flow on ``target``'s density by FAB, then importance-sample with it.

    A target with constrained blocks is trained and weighed in unconstrained space (Z is
    unchanged) and its draws come back constrained. Under ``budget`` training gets the budget
    less `SAMPLING_RESERVE` of it and stops between AIS passes; the draws stop between chunks.
    ``cost`` counts every evaluation of p̃ (see the module); ``info`` has the training's
    ``train_steps``, ``iterations``, ``ais_passes``, ``loss``, ``accept_rate``, ``ais_ess``
    (ESS/N of the last pass's weights for p̃²/q), ``step_sizes`` and ``stopped_by_budget``.
    """
    start = time.perf_counter()
    budget = budget or Budget()
    view = density_view(target, "fab")
    flow = build_flow(view, settings, seed)
    device = model_tensor(flow).device
    generator = torch.Generator(device=device).manual_seed(seed)
    log_p = CountedLogProb(view.log_prob, tuple(view.event_shape))
    train_budget = budget.share(budget.remaining() * (1.0 - SAMPLING_RESERVE))
    info = train_fab(flow, log_p, settings, generator, train_budget)
    train_seconds = time.perf_counter() - start
    ws = importance_sample(
        log_p, FlowProposal(flow), settings.particles, generator=generator,
        batch_size=settings.is_batch_size, budget=budget,
    )  # fmt: skip
    if view is not target:
        ws.x = target.param_space().constrain(ws.x)
    ws.cost = Cost(log_p.cost.density_evals, log_p.cost.grad_evals)
    ws.train_seconds, ws.seconds = train_seconds, time.perf_counter() - start
    ws.info.update(info)
    return ws
