"""`sample_chains`: the driver. Resolve the density and the start, warm up with
`window_adaptation`, then run the tuned kernel (`run_kernel`) and summarise.

A target with constrained parameter blocks (`genmodels.targets.constraints`) is sampled in
unconstrained space (`genmodels.targets.unconstrained`): the kernels get log p(T(z)) +
log |det dT/dz|, and the draws come back constrained, with the blocks in ``space``."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor
from tqdm.auto import tqdm

from genmodels.budget import Budget
from genmodels.catalogue import get_method
from genmodels.errors import InvalidInputError, NotApplicableError
from genmodels.mcmc.base import ChainState, Info, Kernel, LogDensity
from genmodels.mcmc.start import as_log_density, initial_positions
from genmodels.mcmc.warmup import AdaptationInfo, window_adaptation
from genmodels.memory import check_allocation, tensor_bytes
from genmodels.samples import Samples
from genmodels.targets.base import Target
from genmodels.targets.constraints import ParamSpace
from genmodels.targets.unconstrained import unconstrained

__all__ = [
    "MIN_DRAWS",
    "STAT_KEYS",
    "ChainSamples",
    "DrawRecorder",
    "chain_bytes",
    "run_kernel",
    "sample_chains",
]

MIN_DRAWS = 100
"""Draws per chain a time allowance never cuts below (enough for split-R-hat and ESS)."""


@dataclass
class ChainSamples(Samples):
    """`Samples` in chain layout plus per-draw statistics of the sampling phase.

    Attributes:
        stats: ``{"accept_prob", "divergent", "num_grad_evals", "tree_depth", "log_prob"}``
            and, for kernels with momentum, ``"energy"``, each ``[chains, draws]``;
            ``log_prob`` is the density the kernel ran on (unconstrained, Jacobian included).
        step_size: the adapted step size per chain ``[chains]``.
        inverse_mass: the adapted diagonal inverse mass matrix ``[chains, d]``.
        space: the parameter blocks of ``x`` (constrained values), None for a plain callable.
        warmup_x, warmup_stats: the warm-up's draws (constrained) and statistics, kept when
            ``save_warmup=True``; else None and empty.
        attrs: what produced the draws (``sampler``, ``seed``), for InferenceData.
    """

    stats: dict[str, Tensor] = field(default_factory=dict)
    step_size: Tensor | None = None
    inverse_mass: Tensor | None = None
    space: ParamSpace | None = None
    warmup_x: Tensor | None = None
    warmup_stats: dict[str, Tensor] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)


STAT_KEYS = ("accept_prob", "divergent", "num_grad_evals", "tree_depth", "energy")
"""The `Info` fields recorded per draw in `ChainSamples.stats` (``energy`` when the kernel
reports one), beside the chain state's ``log_prob``."""


class DrawRecorder:
    """Every position and per-draw statistic of ``num_draws`` transitions, preallocated.

    Example:
        >>> from genmodels.mcmc import RWMH, LogDensity
        >>> kernel = RWMH(LogDensity(lambda x: -0.5 * (x**2).sum(-1), (2,)), step_size=1.0)
        >>> state = kernel.init(torch.zeros(3, 2))
        >>> rec = DrawRecorder(state.position, 5)
        >>> for i in range(5):
        ...     state, info = kernel.step(state, torch.Generator().manual_seed(i))
        ...     rec.add(i, state, info)
        >>> rec.positions().shape, sorted(rec.stats())[:2]
        (torch.Size([3, 5, 2]), ['accept_prob', 'divergent'])
    """

    def __init__(self, like: Tensor, num_draws: int) -> None:
        chains, d = like.shape
        self.xs = like.new_empty(chains, num_draws, d)  # [chains, draws, d]
        self.values: dict[str, Tensor] = {}
        self.done = 0

    def add(self, i: int, state: ChainState, info: Info) -> None:
        """Record draw ``i``: the state's position and log-density, the info's fields."""
        self.xs[:, i] = state.position
        fields = {key: getattr(info, key) for key in STAT_KEYS}
        fields["log_prob"] = state.log_prob
        for key, value in fields.items():
            if value is None:
                continue
            if key not in self.values:
                self.values[key] = value.new_empty(self.xs.shape[:2])
            self.values[key][:, i] = value
        self.done = i + 1

    def positions(self) -> Tensor:
        return self.xs[:, : self.done]

    def stats(self) -> dict[str, Tensor]:
        return {key: value[:, : self.done] for key, value in self.values.items()}


def run_kernel(
    kernel: Kernel,
    state: ChainState,
    num_draws: int,
    generator: torch.Generator,
    *,
    budget: Budget | None = None,
    min_draws: int = MIN_DRAWS,
    callback: Callable[[int, ChainState, Info], None] | None = None,
) -> tuple[ChainState, Tensor, dict[str, Tensor]]:
    """Run ``num_draws`` transitions of ``kernel`` from ``state`` and keep every position.

    With a ``budget``, the loop stops once it has expired, but never before ``min_draws``.

    Returns:
        ``(last state, positions [chains, draws, d], stats)``; ``stats`` maps each of
        `STAT_KEYS` the kernel reports, and ``log_prob``, to ``[chains, draws]``;
        ``draws <= num_draws``.

    Example:
        >>> from genmodels.mcmc import RWMH, LogDensity
        >>> kernel = RWMH(LogDensity(lambda x: -0.5 * (x**2).sum(-1), (2,)), step_size=1.0)
        >>> g = torch.Generator().manual_seed(0)
        >>> state, xs, stats = run_kernel(kernel, kernel.init(torch.zeros(3, 2)), 50, g)
        >>> xs.shape, stats["accept_prob"].shape
        (torch.Size([3, 50, 2]), torch.Size([3, 50]))
    """
    recorder = DrawRecorder(state.position, num_draws)
    for i in range(num_draws):
        state, info = kernel.step(state, generator)
        recorder.add(i, state, info)
        if callback is not None:
            callback(i, state, info)
        if i + 1 >= min_draws and budget is not None and budget.expired():
            break
    return state, recorder.positions(), recorder.stats()


_WORKING_COPIES = 64
"""Positions-sized tensors a transition holds at once (momenta, gradients, a NUTS tree's
edges and proposals, the warm-up's running moments): a generous bound."""


def chain_bytes(chains: int, draws: int, dim: int, itemsize: int = 4) -> int:
    """Bytes a run of ``chains`` × ``draws`` in ``dim`` dimensions allocates: the kept draws
    ``[chains, draws, dim]``, the per-draw statistics and the transitions' working tensors."""
    kept = tensor_bytes(chains, draws, dim + len(STAT_KEYS) + 1, itemsize=itemsize)
    return kept + tensor_bytes(chains, dim, _WORKING_COPIES, itemsize=itemsize)


def _placement(
    init: Tensor | None, device: str | torch.device | None, dtype: torch.dtype | None
) -> tuple[torch.device, torch.dtype]:
    """Device and dtype of the chains: as asked, else ``init``'s, else torch's defaults
    (`torch.set_default_device`), where a target's constants were made too."""
    if isinstance(init, Tensor):
        device = device or init.device
        dtype = dtype or (init.dtype if init.is_floating_point() else None)
    device = torch.device(device) if device is not None else torch.get_default_device()
    return device, dtype or torch.get_default_dtype()


def _generator(
    generator: torch.Generator | None, seed: int, device: torch.device
) -> torch.Generator:
    """The chains' generator, on their device (a caller's one must already be there)."""
    if generator is None:
        return torch.Generator(device=device).manual_seed(seed)
    if torch.device(generator.device).type != device.type:
        raise InvalidInputError(
            f"the generator is on {generator.device} but the chains run on {device}; "
            f"pass a generator on {device} (or seed=)"
        )
    return generator


class _Start(NamedTuple):
    density: LogDensity
    position: Tensor  # [chains, d] (unconstrained)
    generator: torch.Generator
    step_size: float | None
    adapt_step_size: bool
    space: ParamSpace | None  # the blocks of a target (draws are mapped back through it)
    save_warmup: bool
    attrs: dict[str, Any]  # what produced the draws: sampler, seed


class _Phase(NamedTuple):
    """What one phase (warm-up or sampling) recorded."""

    xs: Tensor  # [chains, draws, d], unconstrained
    stats: dict[str, Tensor]


def _constrained(xs: Tensor, start: _Start) -> Tensor:
    """Draws ``[chains, draws, d_u]`` as constrained values in event shape."""
    chains, done = xs.shape[:2]
    if start.space is not None:
        xs = start.space.constrain(xs)  # [chains, draws, d]
        return xs.reshape(chains, done, start.space.dim)
    return xs.reshape(chains, done, *start.density.event_shape)


def _summary(
    sampling: _Phase,
    warmup: _Phase | None,
    warm: AdaptationInfo,
    start: _Start,
    draws: int,
    times: tuple[float, float, float, float, float],
) -> ChainSamples:
    """The `ChainSamples` of a run: draws in event shape, cost, scalar and per-draw stats."""
    t_start, t_warm, cpu_warm, t_end, cpu_end = times
    stats = sampling.stats
    chains, done = sampling.xs.shape[:2]
    grad_evals_sampling = int(stats["num_grad_evals"].sum())
    accept = stats["accept_prob"]
    info = {
        "accept_rate": float(accept.nanmean()) if accept.isfinite().any() else math.nan,
        "divergences": float(stats["divergent"].sum()),
        "step_size_mean": float(warm.step_size.mean()),
        "grad_evals_warmup": float(warm.num_grad_evals),
        "grad_evals_sampling": float(grad_evals_sampling),
        "seconds_warmup": t_warm - t_start,
        "seconds_sampling": t_end - t_warm,
        # CPU time of this process: less sensitive than wall time to a shared machine
        "cpu_seconds_sampling": cpu_end - cpu_warm,
        "draws": float(done),
        "stopped_by_budget": float(done < draws),
    }
    return ChainSamples(
        x=_constrained(sampling.xs, start),  # [chains, draws, *event]
        chains=chains,
        nfe=warm.num_grad_evals + grad_evals_sampling,
        seconds=t_end - t_start,
        info=info,
        stats=stats,
        step_size=warm.step_size,
        inverse_mass=warm.inverse_mass,
        space=start.space,
        warmup_x=_constrained(warmup.xs, start) if warmup is not None else None,
        warmup_stats=warmup.stats if warmup is not None else {},
        attrs=dict(start.attrs),
    )


def _resolve(
    log_prob_or_target: Target | Callable[[Tensor], Tensor] | None,
    score: Callable[[Tensor], Tensor] | None,
    event_shape: tuple[int, ...] | None,
    init: Tensor | None,
) -> tuple[LogDensity, ParamSpace | None, Tensor | None]:
    """The density the kernels run on (a target's, in unconstrained space), the target's
    blocks, and ``init`` moved to unconstrained space (a target's init is constrained)."""
    if not isinstance(log_prob_or_target, Target):
        return as_log_density(log_prob_or_target, score, event_shape, init), None, init
    target = log_prob_or_target
    space = target.param_space()
    view = unconstrained(target)
    event = tuple(target.event_shape)
    if init is not None and view is not target:
        init = torch.as_tensor(init)
        batch = init.shape[: init.ndim - len(event)]
        if tuple(init.shape[len(batch) :]) == event and len(batch) <= 1:  # else: refused later
            flat = init.reshape(*batch, space.dim).to(torch.get_default_dtype())
            init = space.unconstrain(flat)
    return as_log_density(view, score, event_shape, init), space, init


def _prepare(
    kernel_cls: Any,
    sampler: str,
    log_prob_or_target: Target | Callable[[Tensor], Tensor] | None,
    *,
    chains: int,
    draws: int,
    warmup: int,
    init: Tensor | None,
    init_spread: float,
    event_shape: tuple[int, ...] | None,
    score: Callable[[Tensor], Tensor] | None,
    step_size: float | None,
    adapt_step_size: bool,
    generator: torch.Generator | None,
    seed: int,
    device: str | torch.device | None,
    dtype: torch.dtype | None,
    save_warmup: bool = False,
) -> _Start:
    """Check the run, resolve the density and draw (or place) the start points."""
    if chains < 1 or draws < 1 or warmup < 0:
        raise InvalidInputError(
            f"need chains >= 1, draws >= 1, warmup >= 0 (got {chains}, {draws}, {warmup})"
        )
    device, dtype = _placement(init, device, dtype)
    density, space, init = _resolve(log_prob_or_target, score, event_shape, init)
    if not density.has_log_prob and getattr(kernel_cls, "needs_log_prob", True):
        raise NotApplicableError(
            f"sampler {sampler!r} needs a log-density; with only a score use 'ula'"
        )
    dim = math.prod(density.event_shape)
    itemsize = torch.empty((), dtype=dtype).element_size()
    kept = draws + (warmup if save_warmup else 0)
    what = f"{chains} chains x {kept} draws in {dim} dimensions"
    check_allocation(chain_bytes(chains, kept, dim, itemsize), what, device)
    caller_generator = generator is not None
    generator = _generator(generator, seed, device)
    x0 = initial_positions(
        init,
        chains,
        density.event_shape,
        spread=init_spread,
        generator=generator,
        device=device,
        dtype=dtype,
    )  # [chains, d]
    density.check_init(x0)
    if not density.has_log_prob:  # no acceptance to adapt to: a fixed step
        adapt_step_size = False
        step_size = 1e-2 if step_size is None else step_size
    attrs = {"sampler": sampler, "seed": None if caller_generator else seed}
    return _Start(density, x0, generator, step_size, adapt_step_size, space, save_warmup, attrs)


def _run(
    kernel_cls: Any,
    sampler: str,
    start: _Start,
    warmup: int,
    draws: int,
    adapt_mass: bool,
    kernel_options: dict[str, Any] | None,
    progress: bool,
    budget: Budget | None,
) -> ChainSamples:
    """Warm up (`window_adaptation`), sample (`run_kernel`), time both and summarise."""
    # disable=None: no bar when stderr is not a terminal (CI logs, pipes)
    bar = tqdm(total=warmup + draws, disable=None if progress else True, leave=False)
    bar.set_description(f"{sampler} warm-up")
    recorder = DrawRecorder(start.position, warmup) if start.save_warmup else None

    def warmup_step(t: int, state: ChainState, info: Info) -> None:
        bar.update(1)
        if recorder is not None:
            recorder.add(t, state, info)

    t_start = time.perf_counter()
    # a kernel may bring its own warm-up (`Kernel.adaptation`, e.g. ChEES's cross-chain one)
    adaptation = getattr(kernel_cls, "adaptation", None) or window_adaptation
    kernel, state, warm = adaptation(
        kernel_cls,
        start.density,
        start.position,
        num_steps=warmup,
        generator=start.generator,
        step_size=start.step_size,
        adapt_step_size=start.adapt_step_size,
        adapt_mass=adapt_mass,
        kernel_options=kernel_options,
        callback=warmup_step,
    )
    t_warm, cpu_warm = time.perf_counter(), time.process_time()
    bar.set_description(f"{sampler} sampling")
    state, xs, stats = run_kernel(
        kernel, state, draws, start.generator, budget=budget, callback=lambda *_: bar.update(1)
    )
    bar.close()
    times = (t_start, t_warm, cpu_warm, time.perf_counter(), time.process_time())
    warm_phase = _Phase(recorder.positions(), recorder.stats()) if recorder else None
    return _summary(_Phase(xs, stats), warm_phase, warm, start, draws, times)


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
    budget: Budget | None = None,
    save_warmup: bool = False,
) -> ChainSamples:
    """Run ``chains`` chains of ``sampler`` together: warm-up (`window_adaptation`: per-chain
    step size and diagonal mass matrix, Stan's schedule), then ``draws`` draws (`run_kernel`).

    Args:
        log_prob_or_target: a `Target` with a density, or any callable
            ``log_prob(x: [chains, *event]) -> [chains]`` (need not be normalised); a target's
            constrained blocks run unconstrained, draws and ``init`` are constrained.
        sampler: any chain of `genmodels.catalogue` (``rwmh``, ``mala``, ``nuts``, ...), with
            ``kernel_options``: its fields, e.g. ``{"num_steps": 20}`` (HMC).
        init: start points ``[chains, *event]`` or ``[*event]``; default uniform on
            ``(-init_spread, init_spread)``. ``event_shape``: for a callable without init.
        score: ∇ log p; alone it runs ``ula`` only, with a fixed ``step_size`` (default 0.01).
        step_size: fixed or starting step size (default: found by a doubling search).
        generator: randomness, on ``device`` (wins over ``seed``, used without one).
        adapt_step_size: whether warm-up tunes the step size (``adapt_mass``: the mass).
        budget: a time allowance: sampling stops once it has expired, never before
            `MIN_DRAWS` draws (warm-up always completes: a half-adapted kernel is worse
            than fewer draws); ``info`` records ``draws`` and ``stopped_by_budget``.
        save_warmup: keep the warm-up's draws and stats (``warmup_x``, ``warmup_stats``).

    Returns:
        `ChainSamples`: ``x`` ``[chains, draws, *event]``, ``nfe`` the gradient (RWMH:
        density) evaluations of warm-up and sampling, ``info`` and per-draw ``stats``.

    Raises:
        InvalidInputError: non-finite log-density at the start, bad shapes or init;
        NotApplicableError: no density, or a kernel that needs one given only a score.

    Example:
        >>> s = sample_chains(lambda x: -0.5 * (x**2).sum(-1), "nuts", event_shape=(2,),
        ...                   chains=2, draws=50, warmup=50, progress=False)
        >>> tuple(s.x.shape)
        (2, 50, 2)
    """
    kernel_cls = get_method(sampler, "chain").build
    start = _prepare(
        kernel_cls,
        sampler,
        log_prob_or_target,
        chains=chains,
        draws=draws,
        warmup=warmup,
        init=init,
        init_spread=init_spread,
        event_shape=event_shape,
        score=score,
        step_size=step_size,
        adapt_step_size=adapt_step_size,
        generator=generator,
        seed=seed,
        device=device,
        dtype=dtype,
        save_warmup=save_warmup,
    )
    return _run(
        kernel_cls, sampler, start, warmup, draws, adapt_mass, kernel_options, progress, budget
    )
