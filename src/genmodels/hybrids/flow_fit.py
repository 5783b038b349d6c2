"""Fitting a normalising flow to a target, as the map half of the chain+map hybrids.

Two objectives: maximum likelihood on the target's samples (``"forward"`` KL, when the target
has a sampler) or variational inference on its density (``"reverse"`` KL, the NeuTra recipe,
Hoffman et al. 2019): minimise E_q[log q(x) − log p(x)] with reparameterised draws x ~ q.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from genmodels.budget import Budget
from genmodels.checks import at_least, check_range
from genmodels.errors import NotApplicableError
from genmodels.models.flow import Flow, FlowConfig
from genmodels.targets.base import Target
from genmodels.training import Objective, TrainConfig, fit
from genmodels.training.config import check_choices

__all__ = ["FlowFitConfig", "fit_flow", "flow_push", "flow_rsample_and_log_prob"]

_INIT_SAMPLES = 4096  # target draws the forward fit standardises the flow on


@dataclass
class FlowFitConfig:
    """How the hybrids train their flow.

    Attributes:
        objective: ``"forward"`` (ML on target samples), ``"reverse"`` (VI on the density)
            or ``"auto"`` (forward when the target has a sampler).
        steps: optimiser steps.
        batch_size: samples per step.
        lr: Adam learning rate.
        kind: flow kind (``realnvp`` is fast in both directions, which both MH and HMC need).
        transforms: number of flow layers.
        hidden: width of the hyper-networks.
    """

    objective: Literal["auto", "forward", "reverse"] = "auto"
    steps: int = 1000
    batch_size: int = 256
    lr: float = 2e-3
    kind: str = "realnvp"
    transforms: int = 6
    hidden: int = 64

    def __post_init__(self) -> None:
        check_choices(self)
        at_least(self, 0, "steps", where="fit")
        at_least(self, 1, "batch_size", "transforms", "hidden", where="fit")
        check_range(self.lr, "fit.lr", gt=0)


def flow_push(flow: Flow, z: Tensor) -> tuple[Tensor, Tensor]:
    """x = T(z) for base noise ``z [n, d]`` and log |det ∂T/∂z|, ``([n, *event], [n])``."""
    y, ladj = flow.flow().transform.inv.call_and_ladj(z)  # zuko: transform maps x → z
    x = flow.standardize.inverse(y.reshape(-1, *flow.event_shape))
    return x, ladj - flow.standardize.log_abs_det()


def flow_rsample_and_log_prob(flow: Flow, n: int) -> tuple[Tensor, Tensor]:
    """Reparameterised draws x ~ q and their log q(x), ``([n, *event], [n])``."""
    dist = flow.flow()
    y, log_q = dist.rsample_and_log_prob((n,))
    x = flow.standardize.inverse(y.reshape(n, *flow.event_shape))
    return x, log_q + flow.standardize.log_abs_det()


class _BaseNoise(Target):
    """The flow's base distribution N(0, I) as the "data" of a reverse-KL fit: the loss
    pushes these draws through the flow (reparameterisation), so no target samples are used."""

    kind = "posterior"

    def __init__(self, event_shape: tuple[int, ...]) -> None:
        self.event_shape = tuple(event_shape)
        self.name = "flow base noise"

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, *self.event_shape, generator=generator)  # (n, d)


def _reverse_kl(flow: Flow, target: Target) -> Objective:
    """E_q[log q(x) − log p(x)] (KL(q‖p) up to log Z) on x = T(z), z ~ N(0, I) the batch."""
    base = torch.distributions.Normal(0.0, 1.0)

    def loss(z: Tensor) -> Tensor:
        x, ladj = flow_push(flow, z)
        log_q = base.log_prob(z).sum(-1) - ladj  # change of variables
        return (log_q - target.log_prob(x)).mean()

    return Objective(flow, loss, tuple(target.event_shape), name="flow")


def _resolve_objective(target: Target, objective: str) -> str:
    """``"forward"`` or ``"reverse"``, checked against what the target offers."""
    if objective == "auto":
        objective = "forward" if target.has_samples else "reverse"
    if objective == "forward" and not target.has_samples:
        raise NotApplicableError(f"target {target.name!r} has no sampler for a forward-KL fit")
    if objective == "reverse" and not target.has_log_prob:
        raise NotApplicableError(f"target {target.name!r} has no density for a reverse-KL fit")
    if len(target.event_shape) != 1:
        raise NotApplicableError("the flow hybrids work on vector targets")
    return objective


def _train_config(config: FlowFitConfig, seed: int, min_steps: int) -> TrainConfig:
    """Adam (no weight decay), a cosine from ``lr`` to ``0.05 lr`` without warm-up, float32
    on the CPU, no averaging: the recipe the hybrids' flows were tuned with."""
    return TrainConfig(
        steps=config.steps, batch_size=config.batch_size, lr=config.lr, weight_decay=0.0,
        warmup_steps=0, min_lr_ratio=0.05, grad_clip=10.0, ema_decay=0.0,
        mixed_precision="off", seed=seed, device="cpu", progress=False,
        min_steps=min(min_steps, config.steps), distributed=False,
    )  # fmt: skip


def fit_flow(
    target: Target,
    config: FlowFitConfig | None = None,
    *,
    seed: int = 0,
    budget: Budget | None = None,
    min_steps: int = 0,
) -> tuple[Flow, dict[str, Any]]:
    """Train a flow on ``target`` with `genmodels.training.fit`; returns it (eval mode, frozen)
    and what the fit did.

    Forward KL trains the flow on the target's samples; reverse KL trains an `Objective`
    whose batches are base draws z and whose loss is KL(q‖p) on x = T(z). The learning rate
    follows a cosine from ``lr`` to ``0.05 lr``; under ``budget`` `fit` shortens the run to
    what fits (the cosine still decays fully) and stops at the deadline.

    Args:
        target: what to fit: its samples (forward KL) or its density (reverse KL).
        config: objective, optimiser and flow architecture.
        seed: initial weights, data order and the flow's own draws.
        budget: the wall-clock allowance of the fit, set-up included (None: no limit).
        min_steps: steps done whatever the budget says (at most ``config.steps``).

    Returns:
        ``(flow, info)``; ``info`` has ``loss`` (last batch), ``seconds``, ``steps`` (done),
        ``planned_steps``, ``objective`` (``"forward"`` or ``"reverse"``, as resolved) and
        ``stopped_by_budget`` (1.0 when the budget shortened or stopped the run).

    Raises:
        NotApplicableError: the objective needs samples or a density the target lacks, or
            the target is not a vector.

    Example:
        >>> from genmodels.targets import get_target
        >>> flow, info = fit_flow(get_target("banana"), FlowFitConfig(steps=5, transforms=2))
        >>> flow.log_prob(torch.zeros(3, 2)).shape
        torch.Size([3])
    """
    start = time.perf_counter()
    config = config or FlowFitConfig()
    objective = _resolve_objective(target, config.objective)
    torch.manual_seed(seed)  # initial weights
    flow = Flow(
        FlowConfig(kind=config.kind, transforms=config.transforms, hidden=config.hidden),
        tuple(target.event_shape),
    )
    train = _train_config(config, seed, min_steps)
    if objective == "forward":
        # standardise on more draws than one batch: the flow then starts near the target
        flow.init_from_data(target.sample(_INIT_SAMPLES, torch.Generator().manual_seed(seed)))
        model, data = Objective(flow, flow.loss, flow.event_shape, name="flow"), target
    else:
        model, data = _reverse_kl(flow, target), _BaseNoise(target.event_shape)
    state = fit(model, data, train, budget=budget)
    flow.eval().requires_grad_(False)
    info = {
        "loss": next(iter(state.losses.values()), float("nan")),
        "seconds": time.perf_counter() - start,
        "steps": state.step,
        "planned_steps": state.planned_steps,
        "objective": objective,
        "stopped_by_budget": float(state.step < config.steps),
    }
    return flow, info
