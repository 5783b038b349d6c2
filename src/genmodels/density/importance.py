"""Importance-corrected maps: any model with an exact log-density as the proposal of
self-normalised importance sampling (SNIS) of a density known up to its normaliser.

A proposal q that draws x with its exact log q(x) turns into an asymptotically exact sampler
of p = p̃/Z, and into an estimate of Z: with x₁..x_n ~ q and log weights
log wᵢ = log p̃(xᵢ) − log q(xᵢ),

    Ẑ = (1/n) Σ wᵢ   (unbiased for Z),     E_p[f] ≈ Σ wᵢ f(xᵢ) / Σ wᵢ,

and the efficiency of the weights, ESS/N = (Σ w)² / (n Σ w²) → 1 / E_q[(p/q)²], says how
many exact draws the n proposals are worth (Owen 2013, ch. 9). Resampling the weighted
particles (`WeightedSamples.resample`) gives equally weighted draws.

Notation (code name -> symbol): ``log_w`` -> log w, ``log_q`` -> log q, ``target_log_prob``
-> log p̃.

What makes a proposal (`Proposal`: ``sample_and_log_prob(n, generator) -> (x, log_q)``):

- `FlowProposal`: a normalising flow (`genmodels.models.flow.Flow`), base noise pushed
  through the flow with its log-determinant, one pass per draw;
- `PFODEProposal`: a diffusion or flow-matching model (`genmodels.diffusion.DiffusionModel`)
  through its probability-flow ODE: prior noise integrated to the data together with the
  divergence of the drift, so each draw comes with the exact log-density of the ODE's map
  (the density `DiffusionModel.pf_ode_log_prob` computes), up to the solver's tolerance;
- `TargetProposal`: a `Target` with exact draws and a normalised density (a check: the
  target as its own proposal has weights p̃/p = Z, ESS/N = 1);
- `GaussianProposal`: a diagonal Gaussian, the baseline every learned proposal must beat.

`importance_correct(model, target, n)` does it for a model a user has trained; the catalogue
method ``flow_is`` (`run_flow_is`) fits a flow to the density by reverse KL and corrects it.

Example:
    An unnormalised N(1, 1) (Z = √(2π)) under a wider Gaussian proposal:

    >>> from genmodels.density import importance_sample
    >>> p_tilde = lambda x: -0.5 * (x[:, 0] - 1) ** 2
    >>> q = GaussianProposal(torch.zeros(1), 2.0)
    >>> ws = importance_sample(p_tilde, q, 20_000, generator=torch.Generator().manual_seed(0))
    >>> abs(ws.log_z - 0.5 * math.log(2 * math.pi)) < 3 * ws.log_z_se, ws.cost.density_evals
    (True, 20000)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import Tensor

from genmodels.budget import Budget
from genmodels.catalogue import register_method
from genmodels.checks import at_least, check_range
from genmodels.density.base import (
    Cost,
    CountedLogProb,
    WeightedSamples,
    log_weights,
    log_z_estimate,
)
from genmodels.diffusion.draws import model_tensor, noise_like
from genmodels.diffusion.likelihood import EXACT_DIVERGENCE_MAX_DIM, solve_with_divergence
from genmodels.diffusion.model import DiffusionModel
from genmodels.errors import ConfigError, InvalidInputError, NotApplicableError
from genmodels.hybrids.flow_fit import FlowFitConfig, fit_flow, flow_push
from genmodels.hybrids.run import MIN_FIT_STEPS, SAMPLING_RESERVE
from genmodels.memory import check_allocation
from genmodels.models.flow import Flow
from genmodels.targets.base import Target
from genmodels.targets.unconstrained import unconstrained

__all__ = [
    "FlowISSettings",
    "FlowProposal",
    "GaussianProposal",
    "PFODEProposal",
    "Proposal",
    "TargetProposal",
    "as_proposal",
    "importance_correct",
    "importance_sample",
    "run_flow_is",
]

DEFAULT_BATCH_SIZE = 4096
"""Proposals drawn and weighted at a time: the memory of one chunk, not of all n."""


@runtime_checkable
class Proposal(Protocol):
    """What importance sampling needs of a proposal: draws with their exact log-density.

    ``sample_and_log_prob(n, generator)`` returns ``(x [n, *event], log_q [n])``, ``log_q``
    the normalised log q(x) of each draw. A proposal may also say ``exact_log_prob = False``
    (its log q is an estimate: the weights' log Ẑ is then biased, see `PFODEProposal`) and
    keep a running count ``nfe`` of its own network evaluations.
    """

    def sample_and_log_prob(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]: ...


def _weigh(
    target_log_prob: Callable[[Tensor], Tensor], proposal: Proposal, n: int, generator: Any
) -> tuple[Tensor, Tensor]:
    """One chunk: ``n`` draws and their log w = log p̃ − log q (`base.log_weights`: a point
    where the target is undefined or zero carries no mass)."""
    x, log_q = proposal.sample_and_log_prob(n, generator)
    with torch.no_grad():
        log_p = target_log_prob(x)
    if log_p.shape != (n,) or log_q.shape != (n,):
        raise InvalidInputError(
            f"log p̃ and log q must be [{n}] for {n} draws, got {list(log_p.shape)} and "
            f"{list(log_q.shape)}"
        )
    return x.detach(), log_weights(log_p, log_q)


def importance_sample(
    target_log_prob: Callable[[Tensor], Tensor],
    proposal: Proposal,
    n: int,
    *,
    generator: torch.Generator | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    budget: Budget | None = None,
) -> WeightedSamples:
    """Self-normalised importance sampling of p̃ with ``proposal``, in chunks of ``batch_size``.

    Args:
        target_log_prob: log p̃, ``[b, *event] -> [b]`` (unnormalised is fine; evaluated
            without gradients, once per draw).
        proposal: a `Proposal` (see `as_proposal` for flows, diffusion models, targets).
        n: number of draws.
        generator: the proposal's randomness (its device is where draws are made).
        batch_size: draws per chunk (memory: one chunk's proposal pass at a time).
        budget: stop between chunks once it has expired (at least one chunk is drawn);
            ``info["stopped_by_budget"]`` says so and ``x`` holds the draws made.

    Returns:
        `WeightedSamples` with ``log_w`` (float64), log Ẑ and its standard error
        (`log_z_estimate`), ``cost.density_evals`` = the draws weighted, ``seconds``;
        ``info``: ``particles``, ``zero_weights`` (draws with w = 0), ``stopped_by_budget``,
        ``proposal_nfe`` (when the proposal counts its network evaluations).
    """
    check_range(n, "n (importance samples)", ge=1, integer=True)
    check_range(batch_size, "batch_size", ge=1, integer=True)
    budget = budget or Budget()
    start = time.perf_counter()
    nfe_before = getattr(proposal, "nfe", None)
    x_chunk, lw_chunk = _weigh(target_log_prob, proposal, min(batch_size, n), generator)
    row_bytes = x_chunk[0].numel() * x_chunk.element_size() + 8
    check_allocation(n * row_bytes, f"{n} importance samples", x_chunk.device)
    x = x_chunk.new_empty(n, *x_chunk.shape[1:])  # [n, *event]
    log_w = lw_chunk.new_empty(n)  # [n]
    done = 0
    while True:
        m = x_chunk.shape[0]
        x[done : done + m], log_w[done : done + m] = x_chunk, lw_chunk
        done += m
        if done >= n or budget.expired():
            break
        x_chunk, lw_chunk = _weigh(target_log_prob, proposal, min(batch_size, n - done), generator)
    x, log_w = x[:done], log_w[:done]
    log_z, se = log_z_estimate(log_w)
    info: dict[str, Any] = {
        "particles": done,
        "zero_weights": int((log_w == -math.inf).sum()),
        "stopped_by_budget": float(done < n),
    }
    if nfe_before is not None:
        info["proposal_nfe"] = int(proposal.nfe) - int(nfe_before)  # type: ignore[attr-defined]
    exact = getattr(proposal, "exact_log_prob", True)
    return WeightedSamples(
        x, log_w, log_z, se,
        log_z_kind="unbiased Z" if exact else "biased Z (estimated log q)",
        cost=Cost(density_evals=done), seconds=time.perf_counter() - start, info=info,
    )  # fmt: skip


# ---- proposals --------------------------------------------------------------------------------


class FlowProposal:
    """A normalising flow as a proposal: z ~ N(0, I) pushed through the flow, log q(x) =
    log N(z; 0, I) − log |det ∂T/∂z| (the flow's own density at its draw, in one pass).

    z is drawn on the generator's device and moved to the flow's (`noise_like`).

    Example:
        >>> from genmodels.models.flow import FlowConfig
        >>> flow = Flow(FlowConfig(kind="realnvp", transforms=2, hidden=8), (2,))
        >>> x, log_q = FlowProposal(flow).sample_and_log_prob(5, torch.Generator().manual_seed(0))
        >>> torch.allclose(log_q, flow.log_prob(x), atol=1e-4)
        True
    """

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.event_shape = tuple(flow.event_shape)

    @torch.no_grad()
    def sample_and_log_prob(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        z = noise_like(model_tensor(self.flow).new_empty(n, self.flow.features), generator)
        x, log_det = flow_push(self.flow, z)  # [n, *event], [n]
        log_base = -0.5 * z.square().sum(-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)
        return x, log_base - log_det


class PFODEProposal:
    """A diffusion or flow-matching model as a proposal, through its probability-flow ODE.

    A draw starts from the prior x̂ ~ N(0, s² I) at σ̂_max (s = ``prior_std_hat``) and solves
    dx̂/du = x̂ − D(x̂; eᵘ) from u = log σ̂_max down to log σ̂_min (dopri5), integrating the
    divergence of the drift along the way (`solve_with_divergence`): by the instantaneous
    change of variables, log q(x) = log N(z; 0, s² I) − ∫ ∇·f du over that path — the same
    ODE and density as `DiffusionModel.pf_ode_log_prob`, so q is exactly the distribution of
    the ODE's map whether or not the model is well trained, up to the solver's tolerance.

    The divergence is exact (one backward pass per dimension) up to ``EXACT_DIVERGENCE_MAX_DIM``
    dimensions with ``divergence="auto"``; above, Hutchinson's estimate vᵀ(∂f/∂x)v with one
    Rademacher v per draw. That log q̂ is unbiased for log q, but w = p̃/q̂ = p̃/q · e^{log q −
    log q̂} is not: the weights gain noise, ESS/N drops, and Ẑ is biased upwards by Jensen's
    inequality (``exact_log_prob`` is then False and `importance_sample` says so in
    ``log_z_kind``). Prefer the exact divergence whenever its cost (d backward passes per
    drift evaluation) is affordable.

    Attributes:
        nfe: drift evaluations so far (each one network pass, plus the divergence's
            backward passes).
        exact_log_prob: whether the divergence is exact.
    """

    def __init__(
        self,
        model: DiffusionModel,
        *,
        divergence: Literal["auto", "exact", "hutchinson"] = "auto",
        rtol: float = 1e-5,
        atol: float = 1e-5,
    ) -> None:
        if divergence not in ("auto", "exact", "hutchinson"):
            raise InvalidInputError(f"unknown divergence {divergence!r} (auto, exact, hutchinson)")
        self.model = model
        self.event_shape = tuple(model.event_shape)
        d = math.prod(self.event_shape)
        self.exact_log_prob = divergence == "exact" or (
            divergence == "auto" and d <= EXACT_DIVERGENCE_MAX_DIM
        )
        self.divergence = divergence
        self.rtol, self.atol = rtol, atol
        self.nfe = 0

    def _drift(self, x_hat: Tensor, u: Tensor) -> Tensor:
        return x_hat - self.model.denoiser(x_hat, u.exp())

    def sample_and_log_prob(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        process = self.model.process
        s = process.prior_std_hat
        z = s * noise_like(model_tensor(self.model).new_empty(n, *self.event_shape), generator)
        span = (math.log(process.sigma_hat_max), math.log(process.sigma_hat_min))
        x, integral, nfe = solve_with_divergence(
            self._drift, z, span, divergence="exact" if self.exact_log_prob else "hutchinson",
            rtol=self.rtol, atol=self.atol, generator=generator,
        )  # fmt: skip
        self.nfe += nfe
        d = z[0].numel()
        log_prior = -0.5 * (z / s).flatten(1).square().sum(1) - d * math.log(
            s * math.sqrt(2 * math.pi)
        )
        return x, log_prior - integral  # ∫ runs from σ̂_max down: log q = log prior − ∫


class TargetProposal:
    """A target with exact draws and a normalised density as its own (or another's) proposal."""

    def __init__(self, target: Target) -> None:
        if not (target.has_samples and target.has_log_prob and target.normalized):
            raise NotApplicableError(
                f"target {target.name!r} is a proposal only with exact samples and a "
                "normalised density"
            )
        self.target = target
        self.event_shape = tuple(target.event_shape)

    @torch.no_grad()
    def sample_and_log_prob(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        x = self.target.sample(n, generator)
        return x, self.target.log_prob(x)


class GaussianProposal:
    """N(loc, diag(scale²)): the plain proposal a learned one has to beat.

    Args:
        loc: the mean ``[d]``; its device and dtype are the draws'.
        scale: standard deviations, one number or ``[d]`` (> 0).
    """

    def __init__(self, loc: Tensor, scale: Tensor | float = 1.0) -> None:
        self.loc = loc.reshape(-1)
        self.scale = torch.as_tensor(scale, dtype=loc.dtype, device=loc.device).expand_as(self.loc)
        if not bool((self.scale > 0).all()):
            raise InvalidInputError("GaussianProposal needs scale > 0")
        self.event_shape = tuple(self.loc.shape)

    def sample_and_log_prob(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        eps = noise_like(self.loc.new_empty(n, self.loc.numel()), generator)  # [n, d]
        log_q = -0.5 * eps.square().sum(-1) - self.scale.log().sum()
        return self.loc + self.scale * eps, log_q - 0.5 * eps.shape[-1] * math.log(2 * math.pi)


def as_proposal(model: Any, **options: Any) -> Proposal:
    """A `Proposal` of a flow (`FlowProposal`), a diffusion or flow-matching model
    (`PFODEProposal`; ``options``: ``divergence``, ``rtol``, ``atol``), a target with exact
    draws and a normalised density (`TargetProposal`), or a `Proposal` as it is.

    Raises:
        NotApplicableError: anything else (a GAN or a VAE has no exact log-density).
    """
    if isinstance(model, Flow):
        return FlowProposal(model)
    if isinstance(model, DiffusionModel):
        return PFODEProposal(model, **options)
    if isinstance(model, Target):
        return TargetProposal(model)
    if isinstance(model, Proposal):
        return model
    raise NotApplicableError(
        f"{type(model).__name__} has no exact log-density to correct (a flow, a diffusion or "
        "flow-matching model, or a normalised target with samples)"
    )


def importance_correct(
    model: Any,
    target: Target | Callable[[Tensor], Tensor],
    n: int = 10_000,
    *,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    **options: Any,
) -> WeightedSamples:
    """Correct a trained model towards ``target`` by importance sampling (see the module).

    Args:
        model: a trained `Flow`, `DiffusionModel` (PF-ODE density) or any `as_proposal` input.
        target: a `Target` with a density, or a function log p̃ ``[b, *event] -> [b]``.
        n: draws.
        seed: the draws' generator (a CPU generator: the same draws on every device).
        batch_size: draws per chunk.
        **options: the proposal's (``divergence``, ``rtol``, ``atol`` for a diffusion model).

    Returns:
        `WeightedSamples`: ``.log_z``/``.log_z_se``, ``.ess`` (ESS/N), ``.resample(m)``.
    """
    proposal = as_proposal(model, **options)
    if isinstance(target, Target):
        if not target.has_log_prob:
            raise NotApplicableError(f"target {target.name!r} has no density to weigh by")
        shape = getattr(proposal, "event_shape", tuple(target.event_shape))
        if tuple(shape) != tuple(target.event_shape):
            raise InvalidInputError(
                f"the model draws {tuple(shape)} events, the target has {tuple(target.event_shape)}"
            )
        log_prob = target.log_prob
    else:
        log_prob = target
    generator = torch.Generator().manual_seed(seed)
    return importance_sample(log_prob, proposal, n, generator=generator, batch_size=batch_size)


# ---- the catalogue method flow_is -------------------------------------------------------------


def _reverse_kl_fit() -> FlowFitConfig:
    return FlowFitConfig(objective="reverse")


@dataclass
class FlowISSettings:
    """`flow_is`: a flow fitted to the density by reverse KL, then importance sampling.

    Attributes:
        particles: importance samples drawn from the fitted flow.
        batch_size: draws weighted at a time.
        fit: how the flow is fitted (`FlowFitConfig`); the objective is the density's
            (``"reverse"``, or ``"auto"``, which resolves to it: the fit sees no samples).
    """

    particles: int = 10_000
    batch_size: int = DEFAULT_BATCH_SIZE
    fit: FlowFitConfig = field(default_factory=_reverse_kl_fit)

    def __post_init__(self) -> None:
        at_least(self, 1, "particles", "batch_size")
        if not isinstance(self.fit, FlowFitConfig):
            raise ConfigError(f"fit must be a FlowFitConfig, got {type(self.fit).__name__}")
        if self.fit.objective == "forward":
            raise ConfigError(
                "flow_is learns from the density alone: fit.objective must be 'reverse' "
                "(forward KL would train on exact samples)"
            )


class _CountedTarget(Target):
    """A target's density, seen by the fit with its evaluations counted: rows of a call
    whose input carries gradients are gradient evaluations (the reverse-KL loss backpropagates
    through log p(T(z))), others density evaluations. It offers no samples, so the fit can
    only use the density."""

    kind = "posterior"

    def __init__(self, base: Target) -> None:
        self.base = base
        self.name = base.name
        self.event_shape = tuple(base.event_shape)
        self.normalized = base.normalized
        self.counted = CountedLogProb(base.log_prob, self.event_shape)

    @property
    def cost(self) -> Cost:
        return self.counted.cost

    @property
    def has_samples(self) -> bool:
        return False

    @property
    def has_log_prob(self) -> bool:
        return self.base.has_log_prob

    def log_prob(self, x: Tensor) -> Tensor:
        return self.counted(x)


def _check_density_target(target: Target) -> None:
    if not target.has_log_prob:
        raise NotApplicableError(f"flow_is weighs by the density, and {target.name!r} has none")
    if len(target.event_shape) != 1:
        shape = tuple(target.event_shape)
        raise NotApplicableError(f"flow_is works on vector targets, not event shape {shape}")


@register_method(
    "flow_is",
    camp="density",
    settings=FlowISSettings,
    order=20,
    description="a flow fitted by reverse KL, corrected by self-normalised importance sampling",
)
def run_flow_is(
    target: Target,
    settings: FlowISSettings,
    *,
    seed: int = 0,
    budget: Budget | None = None,
    progress: bool = False,
) -> WeightedSamples:
    """Fit a flow to the density by reverse KL (`fit_flow`), then SNIS with it as proposal.

    The flow is mode-seeking (reverse KL), so the weights catch what it over- or
    under-covers where it overlaps the target, but not a mode it missed entirely: ESS/N stays
    high while log Ẑ falls short by the missed mass. Under ``budget`` the fit gets the budget
    less `SAMPLING_RESERVE` of it and does at least `MIN_FIT_STEPS` steps (as the hybrids);
    the draws stop between chunks when the budget is spent. A constrained target is fitted
    and weighed in unconstrained space (Z is unchanged by the change of variables) and its
    draws come back constrained.

    ``cost`` counts the fit's target gradient evaluations (``batch_size`` per step) and one
    density evaluation per particle; ``info`` has the fit's ``fit_steps``, ``fit_loss``,
    ``fit_stopped_by_budget`` and the draws' `importance_sample` info.
    """
    _check_density_target(target)
    budget = budget or Budget()
    start = time.perf_counter()
    view = unconstrained(target)
    counted = _CountedTarget(view)
    flow, fit_info = fit_flow(
        counted, settings.fit, seed=seed,
        budget=budget.share(budget.remaining() * (1.0 - SAMPLING_RESERVE)),
        min_steps=min(MIN_FIT_STEPS, settings.fit.steps),
    )  # fmt: skip
    train_seconds = time.perf_counter() - start
    ws = importance_sample(
        view.log_prob, FlowProposal(flow), settings.particles,
        generator=torch.Generator().manual_seed(seed + 1), batch_size=settings.batch_size,
        budget=budget,
    )  # fmt: skip
    if view is not target:
        ws.x = target.param_space().constrain(ws.x)
    ws.cost = counted.cost + ws.cost
    ws.train_seconds, ws.seconds = train_seconds, time.perf_counter() - start
    ws.info.update(
        fit_steps=fit_info["steps"], fit_loss=fit_info["loss"],
        fit_stopped_by_budget=fit_info["stopped_by_budget"],
    )  # fmt: skip
    return ws
