"""Runners of the chain+map hybrids in `genmodels compare`: `flow_mh` and `neutra_hmc`.

Both fit a normalising flow to the target (`genmodels.hybrids.fit_flow`), then run chains
that use the target's density to correct it, so they need a density. The flow is fitted by
maximum likelihood on the target's samples when it has them (``fit.objective = "auto"``):
forward KL covers every mode, which an independence proposal needs (the weights p/q stay
bounded), while reverse KL on the density is mode-seeking and on ``eight_gaussians`` drops
modes that the chain then never visits. On a target with a density only (a posterior) the
fit is reverse KL, the NeuTra recipe. Set ``fit.objective`` to choose.

Cost: the flow's fitting seconds are the row's training seconds, the chains' seconds its
sampling seconds; the draws are in chain layout, so R-hat, ESS and trace plots are those of
any chain. Under a budget the fit is shortened (or stopped) to leave ``sampling_reserve`` of
it for the chains, which always run; it does at least ``min_fit_steps`` steps even when an
earlier method has used the whole budget up, since chains on an unfitted flow waste their
time (on funnel, 1 fit step left NeuTra with 474 divergences and R-hat 2.2).

Settings (``[methods.flow_mh]`` / ``[methods.neutra_hmc]``): ``chains``, ``draws``,
``warmup`` and ``fit`` (`FlowFitConfig` fields); `neutra_hmc` also ``sampler`` (``nuts`` or
``hmc``) and ``kernel_options``.

Example:
    >>> from genmodels.compare import get_runner
    >>> get_runner("flow_mh").camp
    'hybrid'
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

from genmodels.budget import Budget
from genmodels.compare.base import MethodOutput, RunContext
from genmodels.compare.runners import (
    RUNNERS,
    _chain_allowance,
    _chain_budget_notes,
    _check_keys,
    _replace_config,
)
from genmodels.errors import NotApplicableError
from genmodels.samples import Samples
from genmodels.targets.base import Target

__all__ = ["FlowMHRunner", "NeutraRunner"]


def _check_density(name: str, target: Target) -> None:
    if not target.has_log_prob:
        raise NotApplicableError(
            f"{name} corrects a flow with a chain on the density, and target "
            f"{target.name!r} has samples only"
        )
    if len(target.event_shape) != 1:
        shape = tuple(target.event_shape)
        raise NotApplicableError(f"{name} works on vector targets, not event shape {shape}")


@dataclasses.dataclass
class _FlowHybridRunner:
    """Shared part: settings check, the budgeted flow fit, the row's notes."""

    name: str
    camp: str = "hybrid"
    # share of the method's budget kept for the chains (they always run)
    sampling_reserve: float = 0.3
    # fit steps done even when the budget is used up (an earlier method overran it): the
    # chains run whatever the budget, and on an unfitted flow their time is wasted
    min_fit_steps: int = 200
    chain_keys: frozenset[str] = frozenset({"chains", "draws", "warmup"})

    def check(self, target: Target) -> None:
        _check_density(self.name, target)

    def _fit(
        self, target: Target, settings: dict[str, Any], ctx: RunContext
    ) -> tuple[Any, dict[str, Any], float]:
        from genmodels.hybrids import FlowFitConfig, fit_flow

        _check_keys(settings, {*self.chain_keys, "fit"}, self.name)
        config = _replace_config(FlowFitConfig(), dict(settings["fit"]), f"{self.name}.fit")
        allowance = None
        if ctx.budget_seconds is not None:
            allowance = max(ctx.budget_seconds * (1.0 - self.sampling_reserve), 0.0)
        t0 = time.perf_counter()
        flow, info = fit_flow(
            target,
            config,
            seed=ctx.seed,
            budget=Budget(allowance),
            min_steps=min(self.min_fit_steps, config.steps),
        )
        return flow, {**info, "requested_steps": config.steps}, time.perf_counter() - t0

    def _output(
        self,
        samples: Samples,
        settings: dict[str, Any],
        notes: dict[str, Any],
        fit_info: dict[str, Any],
        fit_seconds: float,
    ) -> MethodOutput:
        """The row: the chains' draws, the flow fit as training, the chain and fit notes."""
        return MethodOutput(
            samples=samples,
            train_seconds=fit_seconds,
            train_steps=int(fit_info["steps"]),
            settings=settings,
            notes={**notes, **self._fit_notes(fit_info)},
        )

    @staticmethod
    def _fit_notes(info: dict[str, Any]) -> dict[str, Any]:
        notes: dict[str, Any] = {
            "flow_objective": "forward KL (ML on samples)"
            if info["objective"] == "forward"
            else "reverse KL (on the density)",
            "flow_loss": info["loss"],
        }
        if info["stopped_by_budget"]:
            notes["stopped_by_budget"] = True
            notes["requested_steps"] = info["requested_steps"]
        return notes


@dataclasses.dataclass
class FlowMHRunner(_FlowHybridRunner):
    """`flow_mh`: independence Metropolis–Hastings with the fitted flow as proposal.

    ``warmup`` draws of each chain are run and dropped (the chains start at flow draws, not
    target draws). ``nfe`` counts target-density evaluations (each with one flow pass).
    """

    name: str = "flow_mh"

    def run(self, target: Target, settings: dict[str, Any], ctx: RunContext) -> MethodOutput:
        from genmodels.hybrids import flow_mh

        flow, info, fit_seconds = self._fit(target, settings, ctx)
        chains, draws, warmup = (int(settings[k]) for k in ("chains", "draws", "warmup"))
        run = flow_mh(
            target.log_prob,
            flow,
            chains=chains,
            draws=warmup + draws,
            generator=torch.Generator().manual_seed(ctx.seed + 1),
        )
        x = run.x[:, warmup:]  # [chains, draws, *event]: the warm-up draws dropped
        samples = Samples(x, chains=chains, nfe=run.nfe, seconds=run.seconds, info=run.info)
        notes = {"accept_rate": run.info["accept_rate"]}
        return self._output(samples, settings, notes, info, fit_seconds)


@dataclasses.dataclass
class NeutraRunner(_FlowHybridRunner):
    """`neutra_hmc`: NUTS (or HMC) in the fitted flow's latent space (Hoffman et al. 2019).

    ``nfe`` counts gradient evaluations of the pulled-back density (each one target gradient
    plus a flow pass), warm-up included, as for the other gradient chains.
    """

    name: str = "neutra_hmc"
    chain_keys: frozenset[str] = frozenset(
        {"chains", "draws", "warmup", "sampler", "kernel_options"}
    )

    def run(self, target: Target, settings: dict[str, Any], ctx: RunContext) -> MethodOutput:
        from genmodels.hybrids import neutra_hmc

        flow, info, fit_seconds = self._fit(target, settings, ctx)
        samples = neutra_hmc(
            target.log_prob,
            flow,
            sampler=str(settings["sampler"]),
            chains=int(settings["chains"]),
            draws=int(settings["draws"]),
            warmup=int(settings["warmup"]),
            seed=ctx.seed + 1,
            kernel_options=dict(settings.get("kernel_options") or {}),
            progress=ctx.progress,
            max_seconds=_chain_allowance(ctx, fit_seconds),
        )
        notes = {
            **_chain_budget_notes(samples.info),
            "divergences": int(samples.info["divergences"]),
            "accept_rate": samples.info["accept_rate"],
            "step_size": samples.info["step_size_mean"],
        }
        return self._output(samples, settings, notes, info, fit_seconds)


RUNNERS.add("flow_mh", FlowMHRunner())
RUNNERS.add("neutra_hmc", NeutraRunner())
