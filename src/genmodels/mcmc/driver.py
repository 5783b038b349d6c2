"""`sample_chains`: warm-up and sampling of batched chains on any log-density or score."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from genmodels.catalogue import get_method
from genmodels.errors import InvalidInputError, NotApplicableError
from genmodels.mcmc.adaptation import (
    DualAveraging,
    WelfordVariance,
    find_reasonable_step_size,
    warmup_windows,
)
from genmodels.mcmc.base import Kernel, LogDensity, ScoreOnly
from genmodels.samples import Samples
from genmodels.targets.base import Target

__all__ = ["MIN_DRAWS", "ChainSamples", "sample_chains"]

MIN_DRAWS = 100
"""Draws per chain a time allowance never cuts below (enough for split-R-hat and ESS)."""


@dataclass
class ChainSamples(Samples):
    """`Samples` in chain layout plus per-draw statistics of the sampling phase.

    Attributes:
        stats: ``{"accept_prob", "divergent", "num_grad_evals", "tree_depth"}``, each
            ``[chains, draws]``.
        step_size: the adapted step size per chain ``[chains]``.
        inverse_mass: the adapted diagonal inverse mass matrix ``[chains, d]``.
    """

    stats: dict[str, Tensor] = field(default_factory=dict)
    step_size: Tensor | None = None
    inverse_mass: Tensor | None = None


def _resolve_density(
    log_prob_or_target: Target | Callable[[Tensor], Tensor] | None,
    score: Callable[[Tensor], Tensor] | None,
    event_shape: tuple[int, ...] | None,
    init: Tensor | None,
) -> LogDensity:
    if isinstance(log_prob_or_target, Target):
        target = log_prob_or_target
        if not target.has_log_prob:
            raise NotApplicableError(
                f"target {target.name!r} has no density; chains need a log-density or score"
            )
        # a closed-form score saves the autograd pass
        closed_form = type(target).score is not Target.score
        return LogDensity(
            target.log_prob, tuple(target.event_shape), target.score if closed_form else None
        )
    if event_shape is None:
        if init is None:
            raise InvalidInputError(
                "a plain log-density callable needs event_shape= or an init tensor"
            )
        event_shape = tuple(init.shape[1:]) if init.ndim > 1 else tuple(init.shape)
    if log_prob_or_target is not None:
        if not callable(log_prob_or_target):
            raise InvalidInputError(
                f"expected a Target or a callable log-density, got "
                f"{type(log_prob_or_target).__name__}"
            )
        return LogDensity(log_prob_or_target, tuple(event_shape), score_fn=score)
    if score is None:
        raise InvalidInputError("give a log-density (or Target) or score=")
    return ScoreOnly(score, tuple(event_shape))


def _initial_positions(
    init: Tensor | None,
    chains: int,
    event_shape: tuple[int, ...],
    init_spread: float,
    generator: torch.Generator,
    device: torch.device,
    dtype: torch.dtype,
) -> Tensor:
    d = math.prod(event_shape)
    if init is None:  # Stan's default: uniform on (-2, 2) in unconstrained space
        u = torch.rand(chains, d, generator=generator, device=device, dtype=dtype)
        return (2 * u - 1) * init_spread
    init = torch.as_tensor(init).to(device=device, dtype=dtype)
    if tuple(init.shape) == tuple(event_shape):
        return init.reshape(1, d).repeat(chains, 1)
    if tuple(init.shape) == (chains, *event_shape):
        return init.reshape(chains, d)  # [chains, *event] -> [chains, d]
    raise InvalidInputError(
        f"init must have shape {list(event_shape)} or {[chains, *event_shape]}, "
        f"got {list(init.shape)}"
    )


def sample_chains(
    log_prob_or_target: Target | Callable[[Tensor], Tensor] | None = None,
    sampler: str = "nuts",
    *,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 500,
    init: Tensor | None = None,
    init_spread: float = 2.0,
    event_shape: tuple[int, ...] | None = None,
    score: Callable[[Tensor], Tensor] | None = None,
    step_size: float | None = None,
    adapt_step_size: bool = True,
    adapt_mass: bool = True,
    kernel_options: dict[str, Any] | None = None,
    generator: torch.Generator | None = None,
    seed: int = 0,
    progress: bool = True,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    max_seconds: float | None = None,
) -> ChainSamples:
    """Run ``chains`` chains of ``sampler`` together: warm-up, then ``draws`` draws each.

    Warm-up (when ``warmup > 0``) tunes a per-chain step size by dual averaging to the
    kernel's target acceptance (0.8 HMC/NUTS, 0.574 MALA, 0.234 RWMH) and a per-chain
    diagonal inverse mass matrix from Stan's windows (75 / 25, 50, ... / 50 iterations).

    Args:
        log_prob_or_target: a `Target` with a density, or any callable
            ``log_prob(x: [chains, *event]) -> [chains]`` (need not be normalised).
        sampler: ``rwmh``, ``mala``, ``ula``, ``hmc`` or ``nuts``: any chain
            of `genmodels.catalogue`.
        chains, draws, warmup: layout and length of the run.
        init: start points ``[chains, *event]`` or ``[*event]``; default uniform on
            ``(-init_spread, init_spread)``.
        event_shape: needed for a plain callable when ``init`` is not given.
        score: ∇ log p; alone (no log-density) it runs ``ula`` only, with a fixed
            ``step_size`` (default 0.01) since there is no acceptance to adapt to.
        step_size: fixed or starting step size (default: found by a doubling search).
        kernel_options: extra kernel fields, e.g. ``{"num_steps": 20}`` for HMC or
            ``{"max_tree_depth": 8}`` for NUTS.
        generator / seed: randomness (a generator wins over the seed).
        progress: show a tqdm progress bar.
        max_seconds: a time allowance for the whole run: sampling stops early, with fewer
            draws, once it is used up (never before `MIN_DRAWS` draws; warm-up always
            completes, since a half-adapted kernel is worse than fewer draws). ``info``
            records ``draws`` and ``stopped_by_budget``.

    Returns:
        `ChainSamples` with ``x`` ``[chains, draws, *event]``, ``nfe`` the gradient (for
        RWMH: density) evaluations of warm-up and sampling summed over chains,
        ``seconds``, ``info`` scalar summaries and ``stats`` per-draw tensors.

    Raises:
        InvalidInputError: non-finite log-density at the start, a log-density of the
            wrong output shape, bad init.
        NotApplicableError: a target without a density, or a kernel that needs a
            log-density given only a score.

    Example:
        >>> s = sample_chains(lambda x: -0.5 * (x**2).sum(-1), "nuts", event_shape=(2,),
        ...                   chains=2, draws=50, warmup=50, progress=False)
        >>> tuple(s.x.shape)
        (2, 50, 2)
    """
    kernel_cls = get_method(sampler, "chain").build
    if chains < 1 or draws < 1 or warmup < 0:
        raise InvalidInputError(
            f"need chains >= 1, draws >= 1, warmup >= 0 (got {chains}, {draws}, {warmup})"
        )
    density = _resolve_density(log_prob_or_target, score, event_shape, init)
    if not density.has_log_prob and kernel_cls.needs_log_prob:
        raise NotApplicableError(
            f"sampler {sampler!r} needs a log-density; with only a score use 'ula'"
        )
    if isinstance(init, Tensor):
        device = device or init.device
        dtype = dtype or (init.dtype if init.is_floating_point() else None)
    device = torch.device(device or "cpu")
    dtype = dtype or torch.get_default_dtype()
    if generator is None:
        generator = torch.Generator(device=device).manual_seed(seed)

    x0 = _initial_positions(
        init, chains, density.event_shape, init_spread, generator, device, dtype
    )  # [chains, d]
    density.check_init(x0)
    if not density.has_log_prob:
        adapt_step_size = False
        step_size = 1e-2 if step_size is None else step_size
    eps = torch.full((chains,), 1.0 if step_size is None else step_size, device=device, dtype=dtype)
    sampling_kernel: Kernel = kernel_cls(density, eps, None, **(kernel_options or {}))
    kernel = sampling_kernel.for_warmup()
    state = kernel.init(x0)

    def search_step_size(kernel: Kernel, eps: Tensor) -> Tensor:
        trial = kernel.trial()
        return find_reasonable_step_size(
            lambda e: replace(trial, step_size=e).step(state, generator)[1].accept_prob, eps
        )

    t_start = time.perf_counter()
    # disable=None: no bar when stderr is not a terminal (CI logs, pipes)
    bar = tqdm(
        total=warmup + draws,
        disable=None if progress else True,
        desc=f"{sampler} warm-up",
        leave=False,
    )
    grad_evals_warmup = torch.zeros((), dtype=torch.long, device=device)
    if warmup > 0 and adapt_step_size and step_size is None:
        eps = search_step_size(kernel, eps)
    dual = DualAveraging(kernel.target_accept)
    dual_state = dual.init(eps)
    windows = warmup_windows(warmup) if adapt_mass else []
    window_ends = {end: start for start, end in windows}
    window_starts = {start for start, _ in windows}
    welford: WelfordVariance | None = None
    for t in range(warmup):
        kernel = replace(kernel, step_size=eps)
        state, info = kernel.step(state, generator)
        grad_evals_warmup += info.num_grad_evals.sum()
        if adapt_step_size:
            dual_state = dual.update(dual_state, info.accept_prob)
            eps = dual_state.log_step.exp()
        if t in window_starts:
            welford = WelfordVariance()
        if welford is not None:
            welford.update(state.position)
        if t + 1 in window_ends and welford is not None:
            kernel = replace(kernel, inverse_mass=welford.variance())
            welford = None
            if adapt_step_size:
                # Restart dual averaging around the averaged step size (as NumPyro does);
                # a fresh doubling search here overshoots and biases the short final phase.
                eps = dual.final_step_size(dual_state)
                dual_state = dual.init(eps)
        bar.update(1)
    if warmup > 0 and adapt_step_size:
        eps = dual.final_step_size(dual_state)
    kernel = replace(sampling_kernel, step_size=eps, inverse_mass=kernel.inverse_mass)
    t_warm, cpu_warm = time.perf_counter(), time.process_time()

    d = x0.shape[1]
    xs = x0.new_empty(chains, draws, d)
    stats = {
        "accept_prob": x0.new_empty(chains, draws),
        "divergent": torch.empty(chains, draws, dtype=torch.bool, device=device),
        "num_grad_evals": torch.empty(chains, draws, dtype=torch.long, device=device),
        "tree_depth": torch.empty(chains, draws, dtype=torch.long, device=device),
    }
    bar.set_description(f"{sampler} sampling")
    deadline = math.inf if max_seconds is None else t_start + max_seconds
    done = draws
    for i in range(draws):
        state, info = kernel.step(state, generator)
        xs[:, i] = state.position
        for key in stats:
            stats[key][:, i] = getattr(info, key)
        bar.update(1)
        if i + 1 >= MIN_DRAWS and time.perf_counter() > deadline:
            done = i + 1
            break
    bar.close()
    if done < draws:
        xs = xs[:, :done]
        stats = {key: value[:, :done] for key, value in stats.items()}
    t_end, cpu_end = time.perf_counter(), time.process_time()

    grad_evals_sampling = int(stats["num_grad_evals"].sum())
    nfe = int(grad_evals_warmup) + grad_evals_sampling
    accept = stats["accept_prob"]
    info_summary = {
        "accept_rate": float(accept.nanmean()) if accept.isfinite().any() else math.nan,
        "divergences": float(stats["divergent"].sum()),
        "step_size_mean": float(eps.mean()),
        "grad_evals_warmup": float(grad_evals_warmup),
        "grad_evals_sampling": float(grad_evals_sampling),
        "seconds_warmup": t_warm - t_start,
        "seconds_sampling": t_end - t_warm,
        # CPU time of this process: less sensitive than wall time to a shared machine
        "cpu_seconds_sampling": cpu_end - cpu_warm,
        "draws": float(done),
        "stopped_by_budget": float(done < draws),
    }
    return ChainSamples(
        x=xs.reshape(chains, done, *density.event_shape),  # [chains, draws, *event]
        chains=chains,
        nfe=nfe,
        seconds=t_end - t_start,
        info=info_summary,
        stats=stats,
        step_size=eps,
        inverse_mass=kernel.inverse_mass,
    )
