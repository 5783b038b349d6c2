"""The geometric path from a reference q to the target p̃ that SMC and AIS both walk.

    π_β(x) ∝ q(x)^(1−β) p̃(x)^β,   β from 0 (the reference, sampled exactly) to 1 (the target)

Notation (code -> paper, Del Moral, Doucet & Jasra 2006; Neal 2001): ``beta`` -> β,
``log_p`` -> log p̃(x), ``log_q`` -> log q(x), ``log_ratio`` -> ℓ(x) = log p̃(x) − log q(x)
(moving from β to β' multiplies a particle's weight by exp((β' − β) ℓ(x))).

What this module shares between the two samplers:

- the reference (`GaussianReference`, N(0, σ²I), or a target's own ``prior``: any object
  with ``sample(n, generator)`` and a normalised ``log_prob(x)``), so log Ẑ estimates the
  target's log Z itself;
- `Particles`: positions with log p̃ and ∇ log p̃, and the two conversions to and from a
  chain kernel's `ChainState` at a given β. A kernel's state holds log π_β and ∇ log π_β;
  since q is known in closed form, log p̃ = (log π_β − (1 − β) log q) / β and likewise for
  the gradient, so a change of temperature costs no target evaluation;
- `move`: K transitions of a chain kernel of `genmodels.mcmc` (MALA, HMC, RWMH: built from
  the catalogue, not copied) on π_β, with its evaluations counted from `Info.num_grad_evals`.

β is one value per row (particle), so independent populations can sit at different
temperatures in one batch. That is why NUTS is not offered: it evaluates the density on the
subset of chains still building their trees, which a per-row β cannot follow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal, Protocol

import torch
from torch import Tensor

from genmodels.catalogue import get_method
from genmodels.density.base import Cost, reference_scale
from genmodels.errors import ConfigError, NotApplicableError
from genmodels.mcmc.base import ChainState, Kernel, LogDensity
from genmodels.mcmc.start import as_log_density
from genmodels.targets.base import Target
from genmodels.targets.unconstrained import unconstrained

__all__ = [
    "MOVE_KERNELS",
    "GaussianReference",
    "MoveKernel",
    "Particles",
    "Reference",
    "TemperedPath",
    "adapt_step_size",
    "check_move_settings",
    "density_view",
    "kernel_class",
    "move",
    "particle_variance",
    "reference_for",
]

MoveKernel = Literal["mala", "hmc", "rwmh"]
MOVE_KERNELS: tuple[str, ...] = ("mala", "hmc", "rwmh")
"""Chain kernels that can move the particles: each evaluates the density on all its chains
at once (rows aligned with the per-row β)."""

_LOG_2PI = math.log(2 * math.pi)


class Reference(Protocol):
    """The start of the path: exact draws and a normalised log-density."""

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """``[n, d]`` draws on the generator's device."""

    def log_prob(self, x: Tensor) -> Tensor:
        """Normalised log q(x), ``[n, d] -> [n]``."""


@dataclass(frozen=True)
class GaussianReference:
    """q = N(0, σ² I) in ``dim`` dimensions.

    Example:
        >>> q = GaussianReference(2, 3.0)
        >>> x = q.sample(4, torch.Generator().manual_seed(0))
        >>> x.shape, round(q.log_prob(torch.zeros(1, 2)).item(), 4)  # -log(2π · 9)
        (torch.Size([4, 2]), -4.0351)
    """

    dim: int
    scale: float

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        z = torch.randn(n, self.dim, generator=generator, device=generator.device)
        return self.scale * z

    def log_prob(self, x: Tensor) -> Tensor:
        return -0.5 * (x / self.scale).square().sum(-1) - self.dim * (
            math.log(self.scale) + 0.5 * _LOG_2PI
        )

    def score(self, x: Tensor) -> Tensor:
        return -x / self.scale**2


def reference_for(target: Target, kind: str, scale: float) -> Reference:
    """The path's reference: the target's ``prior`` when it has one and ``kind`` is
    ``"auto"``, else N(0, ``scale``² I). ``target`` is the view the sampler runs on: a
    constrained target's unconstrained view has no ``prior`` (a prior of the constrained
    values would need the Jacobian too), so it gets the Gaussian."""
    prior = getattr(target, "prior", None)
    if kind == "auto" and prior is not None:
        return prior
    return GaussianReference(target.dim, scale)


def density_view(target: Target, method: str) -> Target:
    """The target SMC and AIS run on: in unconstrained coordinates when it has constrained
    parameter blocks (`genmodels.targets.unconstrained`: the Jacobian keeps Z unchanged),
    so any reference on R^d has the target's support.

    Raises:
        NotApplicableError: the target has no density, or is not a vector.
    """
    if not target.has_log_prob:
        raise NotApplicableError(
            f"{method} needs a density and target {target.name!r} has samples only"
        )
    if len(target.event_shape) != 1:
        shape = tuple(target.event_shape)
        raise NotApplicableError(f"{method} works on vector targets, not event shape {shape}")
    return unconstrained(target)


def tempered_path(target: Target, method: str, settings: Any) -> tuple[Target, TemperedPath]:
    """The view SMC or AIS runs on (`density_view`) and the path from its reference
    (``settings.reference``, at ``settings.reference_scale`` or the target's ``spread``)."""
    view = density_view(target, method)
    scale = reference_scale(settings.reference_scale, target)
    reference = reference_for(view, settings.reference, scale)
    return view, TemperedPath(as_log_density(view), reference)


@dataclass
class Particles:
    """Particles with what the path needs at every temperature.

    Attributes:
        x: positions ``[rows, d]``.
        log_p: log p̃(x) ``[rows]``.
        grad_p: ∇ log p̃(x) ``[rows, d]``, or None for a gradient-free kernel.
    """

    x: Tensor
    log_p: Tensor
    grad_p: Tensor | None

    def select(self, index: Tensor) -> Particles:
        """The rows ``index`` (a long index or a bool mask)."""
        grad = self.grad_p[index] if self.grad_p is not None else None
        return Particles(self.x[index], self.log_p[index], grad)

    def assign(self, index: Tensor, other: Particles) -> None:
        """Write ``other`` into the rows ``index`` (in place)."""
        self.x[index], self.log_p[index] = other.x, other.log_p
        if self.grad_p is not None and other.grad_p is not None:
            self.grad_p[index] = other.grad_p


class TemperedPath:
    """The geometric path between ``reference`` and the target density ``target``.

    Args:
        target: the target's `LogDensity` (its closed-form score used when it has one).
        reference: q (`Reference`), with a ``score`` method or differentiable ``log_prob``.
    """

    def __init__(self, target: LogDensity, reference: Reference) -> None:
        self.target = target
        self.reference = reference

    def _ref_score(self, x: Tensor) -> Tensor:
        score = getattr(self.reference, "score", None)
        if score is not None:
            return score(x)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.reference.log_prob(xg).sum(), xg)
        return grad

    def start(self, n: int, generator: torch.Generator, with_grad: bool) -> tuple[Particles, Cost]:
        """``n`` exact draws of q with log p̃ (and ∇ log p̃) evaluated, and that cost."""
        x = self.reference.sample(n, generator).detach()
        if with_grad:
            log_p, grad = self.target.value_and_grad(x)
            return Particles(x, log_p, grad), Cost(grad_evals=n)
        return Particles(x, self.target.value(x), None), Cost(density_evals=n)

    def log_ratio(self, p: Particles) -> Tensor:
        """ℓ = log p̃ − log q at the particles ``[rows]`` (float64; -inf off the support)."""
        log_q = self.reference.log_prob(p.x).detach()
        return torch.nan_to_num(p.log_p.double() - log_q.double(), nan=-math.inf)

    def density(self, beta: Tensor) -> LogDensity:
        """π_β as a `LogDensity` of ``[rows, d]`` for per-row ``beta`` ``[rows]``."""

        def log_pi(x: Tensor) -> Tensor:
            log_p = self.target.fn(x)
            b = beta.to(log_p.dtype)
            return (1 - b) * self.reference.log_prob(x) + b * log_p

        score_fn = None
        if self.target.score_fn is not None:
            target_score = self.target.score_fn

            def score_fn(x: Tensor) -> Tensor:
                b = beta.to(x.dtype)[:, None]
                return (1 - b) * self._ref_score(x) + b * target_score(x)

        return LogDensity(log_pi, self.target.event_shape, score_fn)

    def chain_state(self, p: Particles, beta: Tensor) -> ChainState:
        """The kernel state of ``p`` on π_β (no evaluation of the target)."""
        b = beta.to(p.log_p.dtype)
        log_pi = (1 - b) * self.reference.log_prob(p.x).detach() + b * p.log_p
        grad = None
        if p.grad_p is not None:
            grad = (1 - b)[:, None] * self._ref_score(p.x) + b[:, None] * p.grad_p
        return ChainState(p.x, log_pi, grad)

    def particles(self, state: ChainState, beta: Tensor) -> Particles:
        """Back from a kernel state on π_β, β > 0: log p̃ = (log π_β − (1 − β) log q) / β."""
        x = state.position
        b = beta.to(torch.float64)
        log_q = self.reference.log_prob(x).detach().double()
        log_p = ((state.log_prob.double() - (1 - b) * log_q) / b).to(state.log_prob.dtype)
        grad = None
        if state.grad is not None:
            g_q = self._ref_score(x).double()
            grad = ((state.grad.double() - (1 - b)[:, None] * g_q) / b[:, None]).to(x.dtype)
        return Particles(x, log_p, grad)


def kernel_class(name: str) -> type[Kernel]:
    """The chain kernel ``name`` from the catalogue (one of `MOVE_KERNELS`)."""
    return get_method(name, "chain").build


def check_move_settings(settings: Any) -> None:
    """The move fields SMC and AIS share: ``kernel`` among `MOVE_KERNELS`, ``kernel_options``
    a table of that kernel's fields; `ConfigError` otherwise."""
    if settings.kernel not in MOVE_KERNELS:
        raise ConfigError(
            f"kernel must be one of {', '.join(MOVE_KERNELS)}, got {settings.kernel!r}"
        )
    options = settings.kernel_options
    if not isinstance(options, dict):
        raise ConfigError(f"kernel_options must be a table of kernel fields, got {options!r}")
    # what the sampler sets itself, or what describes the kernel rather than configures it
    own = {"density", "step_size", "inverse_mass", "target_accept", "uses_gradient"}
    known = {f.name for f in fields(kernel_class(settings.kernel))} - own - {"needs_log_prob"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"kernel_options: {settings.kernel} has no option {unknown[0]!r} "
            f"(known: {', '.join(sorted(known))})"
        )


def move(
    path: TemperedPath,
    p: Particles,
    beta: Tensor,
    kernel: str,
    *,
    moves: int,
    step_size: Tensor,
    inverse_mass: Tensor | None,
    generator: torch.Generator,
    options: dict[str, Any],
    jitter: float = 0.0,
    local: bool = False,
) -> tuple[Particles, Tensor, Cost]:
    """``moves`` transitions of the chain kernel ``kernel`` on π_β from ``p``.

    Args:
        beta, step_size: per row ``[rows]``; inverse_mass: ``[rows, d]`` or None.
        options: the kernel's own options (``num_steps`` for HMC); eager by default, since
            the density changes with every temperature (a compiled graph would be rebuilt).
        jitter: each transition's step is ε(x)·exp(j·(2u − 1)), u ~ U(0, 1) per row.
        local: ε(x) = ``step_size`` · `local_step_scale` (x) rather than ``step_size``, with
            the reverse check that keeps the kernel π_β-invariant (`LocalStep`); ignored
            for a gradient-free kernel or ``jitter`` = 0 (a window of one point would undo
            every move).

    Returns:
        ``(particles, mean acceptance probability per row [rows], cost)``.
    """
    cls = kernel_class(kernel)
    eager = {"compile": False} if "compile" in {f.name for f in fields(cls)} else {}
    density = path.density(beta)
    state = path.chain_state(p, beta)
    steps = LocalStep(step_size, inverse_mass, jitter, local and state.grad is not None)
    accept = torch.zeros_like(beta, dtype=torch.float64)
    evals = 0
    uses_gradient = True
    for _ in range(moves):
        eps = steps.draw(state, generator)
        k = cls(density, eps, inverse_mass, **{**eager, **options})
        uses_gradient = k.uses_gradient
        proposed, info = k.step(state, generator)
        state, kept = steps.check(state, proposed, info.accepted, eps)
        accept += torch.nan_to_num(info.accept_prob.double(), nan=0.0) * kept
        evals += int(info.num_grad_evals.sum())
    cost = Cost(grad_evals=evals) if uses_gradient else Cost(density_evals=evals)
    return path.particles(state, beta), accept / max(moves, 1), cost


def local_step_scale(grad: Tensor, inverse_mass: Tensor | None) -> Tensor:
    """min(1, √d / ‖M^(−1/2) ∇ log π‖) per row ``[rows]``: √d over the norm of the
    gradient preconditioned by the diagonal M⁻¹ = ``inverse_mass``.

    For a Gaussian of scale s the gradient's norm at a typical point is √d / s, so this is
    the local scale relative to the preconditioner's: about 1 in the bulk, e^(v/2) / σ in a
    funnel's neck at v, where a step fit for the bulk is always rejected. It is capped at 1
    (near a mode the gradient vanishes and says nothing about the scale).
    """
    g = grad.double()
    if inverse_mass is not None:
        g = g * inverse_mass.double().sqrt()
    ratio = math.sqrt(g.shape[-1]) / g.norm(dim=-1)
    return torch.nan_to_num(ratio, nan=1.0).clamp(max=1.0)


class LocalStep:
    """The step sizes of `move`'s transitions, optionally locally scaled.

    Without ``local``: ε = ε₀·exp(j·(2u − 1)), a random step independent of the state, which
    keeps any π-invariant kernel π-invariant. With ``local``: ε is drawn log-uniformly on the
    window W(x) = [ε̂(x)e^(−j), ε̂(x)e^(j)] around ε̂(x) = ε₀·`local_step_scale` (x), so a
    particle in a narrow region (a funnel's neck) takes steps on its own scale. A step size
    that depends on the state is π-invariant when the move to x' is also accepted only if ε
    lies in x'’s window W(x') (the Gibbs self-tuning argument of Bou-Rabee, Carpenter &
    Marsden 2024, "GIST", with the step drawn from a window as in Biron-Lattes et al. 2024,
    "autoMALA"): with p(ε | x) = 1[ε ∈ W(x)] / (2jε), p(ε | x)·1[ε ∈ W(x')] is symmetric in
    x and x', so detailed balance of the kernel at fixed ε carries over. The check uses the
    gradient at x', which the kernel has already computed: no extra evaluation.
    """

    def __init__(
        self, step_size: Tensor, inverse_mass: Tensor | None, jitter: float, local: bool
    ) -> None:
        self.step_size, self.inverse_mass = step_size, inverse_mass
        self.jitter, self.local = jitter, local and jitter > 0

    def centre(self, state: ChainState) -> Tensor:
        """ε̂(x) per row."""
        if not self.local:
            return self.step_size
        scale = local_step_scale(state.grad, self.inverse_mass)
        return self.step_size * scale.to(self.step_size.dtype)

    def draw(self, state: ChainState, generator: torch.Generator) -> Tensor:
        """ε per row, log-uniform on W(x)."""
        step = self.step_size
        u = torch.rand(step.shape, generator=generator, device=step.device)
        return self.centre(state) * torch.exp(self.jitter * (2 * u - 1)).to(step.dtype)

    def check(
        self, state: ChainState, proposed: ChainState, accepted: Tensor, eps: Tensor
    ) -> tuple[ChainState, Tensor]:
        """The proposed state where ε ∈ W(x') (or the kernel rejected), else ``state``; and
        ``[rows]`` float64 1 where the window check passed."""
        if not self.local:
            return proposed, torch.ones_like(eps, dtype=torch.float64)
        slack = (eps.double().log() - self.centre(proposed).double().log()).abs()
        kept = slack <= self.jitter
        back = accepted & ~kept
        state = ChainState(
            torch.where(back[:, None], state.position, proposed.position),
            torch.where(back, state.log_prob, proposed.log_prob),
            torch.where(back[:, None], state.grad, proposed.grad),
        )
        return state, (kept | ~accepted).double()


def adapt_step_size(step: Tensor, accept: Tensor, target: float) -> Tensor:
    """ε ← ε · exp(2 (ā − a*)), the factor kept in [½, 2]: a step whose moves were accepted
    more often than the kernel's target rate grows, one accepted less often shrinks, so that
    the next temperature's moves run near the rate the kernel is tuned for."""
    factor = torch.exp(2.0 * (accept - target)).clamp(0.5, 2.0)
    return step * factor.to(step.dtype)


def particle_variance(x: Tensor, log_w: Tensor, floor: float = 1e-6) -> Tensor:
    """Weighted variance per population, ``x [pops, n, d]``, ``log_w [pops, n]`` → ``[pops, d]``:
    the diagonal inverse mass (preconditioner) of the moves, so each coordinate's step is
    on the scale the particles spread over (kept above ``floor`` times its mean)."""
    w = torch.softmax(log_w.double(), dim=-1)[..., None]  # [pops, n, 1]
    xd = x.double()
    mean = (w * xd).sum(1, keepdim=True)
    var = (w * (xd - mean).square()).sum(1)  # [pops, d]
    var = torch.nan_to_num(var, nan=1.0)
    var = torch.maximum(var, floor * var.mean(-1, keepdim=True).clamp_min(1e-12))
    return var.to(x.dtype)
