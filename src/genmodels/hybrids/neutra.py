"""NeuTra HMC: Hamiltonian Monte Carlo in the latent space of a trained flow.

Hoffman et al. (2019), "NeuTra-lizing Bad Geometry in Hamiltonian Monte Carlo Using Neural
Transport". With x = T(z) the flow's map from its base noise, run HMC/NUTS on the pulled-back
density p_z(z) = p(T(z)) |det ∂T/∂z|. If T carries N(0, I) near p, p_z is near a standard
normal: one step size fits everywhere, so funnels and banana ridges stop causing divergences.
Draws are pushed back through T; the chain is exact for p whatever T is (a change of
variables), only its efficiency depends on the fit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from genmodels.budget import Budget
from genmodels.hybrids.flow_fit import flow_push
from genmodels.mcmc import ChainSamples, sample_chains
from genmodels.models.flow import Flow

__all__ = ["neutra_hmc"]


def neutra_hmc(
    log_prob: Callable[[Tensor], Tensor],
    flow: Flow,
    *,
    sampler: str = "nuts",
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 500,
    seed: int = 0,
    kernel_options: dict[str, Any] | None = None,
    step_size: float | None = None,
    progress: bool = False,
    budget: Budget | None = None,
) -> ChainSamples:
    """HMC (``sampler="hmc"``) or NUTS in the flow's latent space, draws mapped back to x.

    Args:
        log_prob: target log-density ``[n, *event] → [n]``.
        flow: a trained `Flow` on the same event shape.
        sampler: the latent-space kernel (any gradient kernel of `genmodels.mcmc`).
        chains: as in `sample_chains` (which does the adaptation).
        draws: as in `sample_chains`.
        warmup: as in `sample_chains`.
        seed: randomness of the chains.
        kernel_options: passed to the kernel, e.g. ``{"num_steps": 10}`` for HMC.
        step_size: fixed (``warmup=0``) or starting step size; default: searched.
        budget: time allowance of the chains (see `sample_chains`).

    Returns:
        `ChainSamples` with ``x`` ``[chains, draws, *event]`` in data space; ``nfe`` counts
        gradient evaluations of p_z (each one target gradient plus one flow pass);
        ``info["latent"]`` marks the run.

    Example:
        >>> from genmodels.models.flow import FlowConfig
        >>> flow = Flow(FlowConfig(kind="realnvp", transforms=2, hidden=8), (2,))
        >>> s = neutra_hmc(lambda x: -0.5 * (x**2).sum(-1), flow, chains=2, draws=20, warmup=20)
        >>> tuple(s.x.shape)
        (2, 20, 2)
    """
    event = tuple(flow.event_shape)
    d = math.prod(event)

    def latent_log_prob(z: Tensor) -> Tensor:  # z: [chains, d]
        x, log_det = flow_push(flow, z)
        return log_prob(x) + log_det

    start = time.perf_counter()
    latent = sample_chains(
        latent_log_prob,
        sampler,
        chains=chains,
        draws=draws,
        warmup=warmup,
        event_shape=(d,),
        seed=seed,
        kernel_options=kernel_options,
        step_size=step_size,
        progress=progress,
        budget=budget,
    )
    kept = latent.x.shape[1]  # draws, fewer when the allowance ran out
    with torch.no_grad():
        z = latent.x.reshape(chains * kept, d)  # [chains*draws, d]
        x = flow_push(flow, z)[0].reshape(chains, kept, *event)
    info = {**latent.info, "latent": 1.0}
    return replace(latent, x=x, seconds=time.perf_counter() - start, info=info)
