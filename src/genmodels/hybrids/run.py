"""The chain+map hybrids as methods: fit a flow to the target, then run chains that correct it.

`run_flow_mh` and `run_neutra_hmc` are what the catalogue's ``flow_mh`` and ``neutra_hmc``
run (in ``genmodels compare``, or from Python). Both need a density. The flow is fitted by
maximum likelihood on the target's samples when it has them (``fit.objective = "auto"``):
forward KL covers every mode, which an independence proposal needs (the weights p/q stay
bounded), while reverse KL on the density is mode-seeking and drops modes that the chain then
never visits. On a target with a density only (a posterior) the fit is reverse KL, the NeuTra
recipe. Set ``fit.objective`` to choose.

Under a budget, the fit gets the budget less ``SAMPLING_RESERVE`` of it, and the chains the
rest; the fit does at least ``MIN_FIT_STEPS`` steps even when the budget is already used up,
since chains on an unfitted flow waste their time. A target with constrained parameter blocks
is fitted and sampled in unconstrained space (`genmodels.targets.unconstrained`), and its
draws come back constrained, as `genmodels.mcmc.sample_chains` does.

Example:
    >>> from genmodels.targets import get_target
    >>> from genmodels.hybrids import FlowMHSettings, FlowFitConfig
    >>> run = run_flow_mh(get_target("banana"),
    ...                   FlowMHSettings(chains=2, draws=20, fit=FlowFitConfig(steps=20)))
    >>> run.samples.x.shape
    torch.Size([2, 20, 2])
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from genmodels.budget import Budget
from genmodels.catalogue import register_method
from genmodels.errors import NotApplicableError
from genmodels.hybrids.flow_fit import fit_flow
from genmodels.hybrids.flow_mh import flow_mh
from genmodels.hybrids.neutra import neutra_hmc
from genmodels.hybrids.settings import FlowMHSettings, NeutraSettings
from genmodels.models.flow import Flow
from genmodels.samples import Samples
from genmodels.targets.base import Target
from genmodels.targets.unconstrained import unconstrained

__all__ = ["MIN_FIT_STEPS", "SAMPLING_RESERVE", "HybridRun", "run_flow_mh", "run_neutra_hmc"]

SAMPLING_RESERVE = 0.3
"""Share of a hybrid's budget kept for its chains (they always run)."""
MIN_FIT_STEPS = 200
"""Fit steps done whatever the budget says (at most the configured steps)."""


@dataclass
class HybridRun:
    """What a hybrid drew and what its parts cost.

    Attributes:
        samples: the chains' draws ``[chains, draws, *event]`` (warm-up dropped).
        fit_seconds: seconds spent fitting the flow.
        fit_info: `fit_flow`'s info (``steps``, ``objective``, ``loss``, ``stopped_by_budget``)
            plus ``requested_steps``.
        notes: the chains' own notes (acceptance, divergences, budget cuts).
        flow: the fitted flow.
    """

    samples: Samples
    fit_seconds: float
    fit_info: dict[str, Any]
    notes: dict[str, Any] = field(default_factory=dict)
    flow: Flow | None = None


def check_hybrid_target(name: str, target: Target) -> None:
    """Raise `NotApplicableError` unless ``target`` has a density on a vector space."""
    if not target.has_log_prob:
        raise NotApplicableError(
            f"{name} corrects a flow with a chain on the density, and target "
            f"{target.name!r} has samples only"
        )
    if len(target.event_shape) != 1:
        shape = tuple(target.event_shape)
        raise NotApplicableError(f"{name} works on vector targets, not event shape {shape}")


def _fit(
    name: str, target: Target, settings: FlowMHSettings | NeutraSettings, seed: int, budget: Budget
) -> tuple[Flow, dict[str, Any], float]:
    check_hybrid_target(name, target)
    fit_budget = budget.share(budget.remaining() * (1.0 - SAMPLING_RESERVE))
    t0 = time.perf_counter()
    flow, info = fit_flow(
        target,
        settings.fit,
        seed=seed,
        budget=fit_budget,
        min_steps=min(MIN_FIT_STEPS, settings.fit.steps),
    )
    return flow, {**info, "requested_steps": settings.fit.steps}, time.perf_counter() - t0


@register_method(
    "flow_mh",
    camp="hybrid",
    settings=FlowMHSettings,
    order=0,
    description="independence Metropolis-Hastings with a fitted flow as proposal",
)
def run_flow_mh(
    target: Target,
    settings: FlowMHSettings,
    *,
    seed: int = 0,
    budget: Budget | None = None,
    progress: bool = False,
) -> HybridRun:
    """Fit a flow, then run independence MH with it as the proposal.

    ``warmup`` draws of each chain are run and dropped (the chains start at flow draws, not
    target draws); ``nfe`` counts target-density evaluations (each with one flow pass).
    """
    view = unconstrained(target)
    flow, info, fit_seconds = _fit("flow_mh", view, settings, seed, budget or Budget())
    run = flow_mh(
        view.log_prob,
        flow,
        chains=settings.chains,
        draws=settings.warmup + settings.draws,
        generator=torch.Generator().manual_seed(seed + 1),
    )
    x = run.x[:, settings.warmup :]  # [chains, draws, *event]: the warm-up draws dropped
    x = target.param_space().constrain(x) if view is not target else x
    samples = Samples(x, chains=settings.chains, nfe=run.nfe, seconds=run.seconds, info=run.info)
    notes = {"accept_rate": run.info["accept_rate"]}
    return HybridRun(samples, fit_seconds, info, notes, flow)


@register_method(
    "neutra_hmc",
    camp="hybrid",
    settings=NeutraSettings,
    order=1,
    description="HMC/NUTS in a fitted flow's latent space (NeuTra)",
)
def run_neutra_hmc(
    target: Target,
    settings: NeutraSettings,
    *,
    seed: int = 0,
    budget: Budget | None = None,
    progress: bool = False,
) -> HybridRun:
    """Fit a flow, then run HMC or NUTS in its latent space (Hoffman et al. 2019).

    ``nfe`` counts gradient evaluations of the pulled-back density (each one target gradient
    plus a flow pass), warm-up included, as for the other gradient chains.
    """
    budget = budget or Budget()
    view = unconstrained(target)
    flow, info, fit_seconds = _fit("neutra_hmc", view, settings, seed, budget)
    samples = neutra_hmc(
        view.log_prob,
        flow,
        sampler=settings.sampler,
        chains=settings.chains,
        draws=settings.draws,
        warmup=settings.warmup,
        seed=seed + 1,
        kernel_options=dict(settings.kernel_options),
        progress=progress,
        budget=budget,
    )
    if view is not target:
        samples.x = target.param_space().constrain(samples.x)
    notes = {
        "divergences": int(samples.info["divergences"]),
        "accept_rate": samples.info["accept_rate"],
        "step_size": samples.info["step_size_mean"],
    }
    return HybridRun(samples, fit_seconds, info, notes, flow)
