"""Flow-proposal Metropolis–Hastings: a trained flow as the independence proposal.

Independence MH (Tierney 1994) with q = the flow: propose x' ~ q independently of the current
state and accept with probability min(1, [p(x') q(x)] / [p(x) q(x')]). The chain leaves p
invariant whatever q is, so a learned map becomes an asymptotically exact sampler; the
better q matches p, the closer the acceptance is to 1 and the draws to independent.
The acceptance uses importance weights w = p/q: accept with min(1, w(x')/w(x)).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import Tensor

from genmodels.errors import InvalidInputError
from genmodels.models.flow import Flow
from genmodels.samples import Samples

__all__ = ["flow_mh"]


@torch.no_grad()
def flow_mh(
    log_prob: Callable[[Tensor], Tensor],
    flow: Flow,
    *,
    chains: int = 4,
    draws: int = 1000,
    generator: torch.Generator | None = None,
    init: Tensor | None = None,
) -> Samples:
    """Run ``chains`` independence-MH chains with the flow as proposal.

    Args:
        log_prob: target log-density ``[n, *event] → [n]`` (unnormalised is fine).
        flow: a trained `Flow` (its ``log_prob`` and ``sample`` are used, not its gradients).
        chains, draws: layout of the output.
        generator: randomness of proposals and accept decisions.
        init: start points ``[chains, *event]`` (default: one draw of the flow per chain).

    Returns:
        `Samples` in chain layout ``[chains, draws, *event]``; ``nfe`` counts target-density
        evaluations; ``info`` has ``accept_rate`` and ``flow_evals``.

    Example:
        >>> from genmodels.models.flow import FlowConfig
        >>> flow = Flow(FlowConfig(kind="realnvp", transforms=2, hidden=8), (2,))
        >>> s = flow_mh(lambda x: -0.5 * (x**2).sum(-1), flow, chains=2, draws=50)
        >>> s.x.shape, 0 < s.info["accept_rate"] <= 1
        (torch.Size([2, 50, 2]), True)
    """
    if chains < 1 or draws < 1:
        raise InvalidInputError(f"need chains >= 1 and draws >= 1, got {chains}, {draws}")
    start = time.perf_counter()
    event = tuple(flow.event_shape)
    # All proposals and their log w = log p − log q at once: they do not depend on the chain.
    proposals = flow.sample(chains * draws, generator=generator).x  # [chains*draws, *event]
    log_w = log_prob(proposals) - flow.log_prob(proposals)  # [chains*draws]
    proposals = proposals.reshape(chains, draws, *event)  # [chains, draws, *event]
    log_w = log_w.reshape(chains, draws)
    if init is None:
        init = flow.sample(chains, generator=generator).x
    x = init.reshape(chains, *event).clone()
    log_w_x = log_prob(x) - flow.log_prob(x)  # [chains]
    log_u = torch.rand(chains, draws, generator=generator).log().to(log_w)
    out = proposals.new_empty(chains, draws, *event)
    accept_prob = log_w.new_empty(chains, draws)
    for t in range(draws):
        log_ratio = log_w[:, t] - log_w_x
        log_ratio = torch.nan_to_num(log_ratio, nan=-math.inf)
        accepted = log_u[:, t] < log_ratio
        accept_prob[:, t] = log_ratio.clamp(max=0).exp()
        x = torch.where(accepted.reshape(-1, *(1,) * len(event)), proposals[:, t], x)
        log_w_x = torch.where(accepted, log_w[:, t], log_w_x)
        out[:, t] = x
    return Samples(
        out,
        chains=chains,
        nfe=chains * (draws + 1),
        seconds=time.perf_counter() - start,
        info={
            "accept_rate": float(accept_prob.mean()),
            "flow_evals": float(chains * (draws + 1)),
        },
    )
