"""Fitting a normalising flow to a target, as the map half of the chain+map hybrids.

Two objectives: maximum likelihood on the target's samples (``"forward"`` KL, when the target
has a sampler) or variational inference on its density (``"reverse"`` KL, the NeuTra recipe,
Hoffman et al. 2019): minimise E_q[log q(x) − log p(x)] with reparameterised draws x ~ q.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from genmodels.errors import InvalidInputError, NotApplicableError
from genmodels.models.flow import Flow, FlowConfig
from genmodels.targets.base import Target

__all__ = ["FlowFitConfig", "fit_flow", "flow_push", "flow_rsample_and_log_prob"]

# Under a time allowance: steps skipped, then steps timed, before the run is re-planned.
_SKIP_STEPS, _TIMED_STEPS = 3, 10


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

    objective: str = "auto"
    steps: int = 1000
    batch_size: int = 256
    lr: float = 2e-3
    kind: str = "realnvp"
    transforms: int = 6
    hidden: int = 64


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


def fit_flow(
    target: Target,
    config: FlowFitConfig | None = None,
    *,
    seed: int = 0,
    max_seconds: float | None = None,
    min_steps: int = 0,
) -> tuple[Flow, dict[str, Any]]:
    """Train a flow on ``target``; returns the flow (eval mode) and what the fit did.

    The learning rate follows a cosine from ``lr`` to ``0.05 lr`` over the run. With
    ``max_seconds``, the first steps are timed and, when ``steps`` would not fit, the run is
    shortened to what does (the cosine still decays fully instead of being cut at a high
    rate); training also stops outright once ``max_seconds`` have passed.

    Args:
        target: what to fit: its samples (forward KL) or its density (reverse KL).
        config: objective, optimiser and flow architecture.
        seed: initial weights, data order and the flow's own draws.
        max_seconds: wall-clock allowance of the optimisation (None: no limit).
        min_steps: steps done whatever ``max_seconds`` says (at most ``config.steps``).

    Returns:
        ``(flow, info)``; ``info`` has ``loss`` (last batch), ``seconds``, ``steps`` (done),
        ``planned_steps``, ``objective`` (``"forward"`` or ``"reverse"``, as resolved) and
        ``stopped_by_budget`` (1.0 when the allowance shortened or stopped the run).

    Raises:
        NotApplicableError: the objective needs samples or a density the target lacks, or
            the target is not a vector.

    Example:
        >>> from genmodels.targets import get_target
        >>> flow, info = fit_flow(get_target("banana"), FlowFitConfig(steps=5, transforms=2))
        >>> flow.log_prob(torch.zeros(3, 2)).shape
        torch.Size([3])
    """
    start = time.perf_counter()  # the allowance covers set-up too
    config = config or FlowFitConfig()
    objective = config.objective
    if objective == "auto":
        objective = "forward" if target.has_samples else "reverse"
    if objective not in ("forward", "reverse"):
        raise InvalidInputError(f"objective must be forward, reverse or auto, got {objective!r}")
    if objective == "forward" and not target.has_samples:
        raise NotApplicableError(f"target {target.name!r} has no sampler for a forward-KL fit")
    if objective == "reverse" and not target.has_log_prob:
        raise NotApplicableError(f"target {target.name!r} has no density for a reverse-KL fit")
    if len(target.event_shape) != 1:
        raise NotApplicableError("the flow hybrids work on vector targets")
    torch.manual_seed(seed)  # initial weights and the flow's own draws
    g = torch.Generator().manual_seed(seed)
    flow = Flow(
        FlowConfig(kind=config.kind, transforms=config.transforms, hidden=config.hidden),
        tuple(target.event_shape),
    )
    if objective == "forward":
        flow.init_from_data(target.sample(4096, g))
    opt = torch.optim.Adam(flow.parameters(), lr=config.lr)
    planned = config.steps
    timed_from: float | None = None
    loss = torch.zeros(())
    step = 0
    while step < planned:
        # cosine from lr to 0.05 lr over the planned run (re-planned once under a budget)
        progress = step / max(1, planned - 1)
        lr_t = config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in opt.param_groups:
            group["lr"] = lr_t
        if objective == "forward":
            loss = -flow.log_prob(target.sample(config.batch_size, g)).mean()
        else:
            x, log_q = flow_rsample_and_log_prob(flow, config.batch_size)
            loss = (log_q - target.log_prob(x)).mean()  # KL(q‖p) up to log Z
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(flow.parameters(), 10.0)
        opt.step()
        step += 1
        if max_seconds is None:
            continue
        elapsed = time.perf_counter() - start
        if step == _SKIP_STEPS:  # the first steps pay for one-time set-up
            timed_from = elapsed
        elif step == _SKIP_STEPS + _TIMED_STEPS and timed_from is not None:
            per_step = (elapsed - timed_from) / _TIMED_STEPS
            affordable = step + int(0.95 * (max_seconds - elapsed) / max(per_step, 1e-9))
            planned = max(step, min_steps, min(planned, affordable))
        if elapsed > max_seconds and step >= min_steps:
            break
    flow.eval()
    for p in flow.parameters():
        p.requires_grad_(False)
    info = {
        "loss": float(loss.detach()),
        "seconds": time.perf_counter() - start,
        "steps": step,
        "planned_steps": planned,
        "objective": objective,
        "stopped_by_budget": float(step < config.steps),
    }
    return flow, info
