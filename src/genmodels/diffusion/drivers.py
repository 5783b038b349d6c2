"""One driver per solver family: model → the callable its solvers need → grid → solver.

`sample(model, n, sampler=NAME)` looks NAME up in `SOLVERS`, checks that the model offers
its family (``type(model).families``), and hands a `SolverRun` to the family's driver, which

1. turns the model into the function the family consumes — ε̂(x_t, t) (``discrete``),
   s(x_t, t) (``sde``), D(x̂; σ̂) (``ode``), s(x̂; σ̂) = (D − x̂)/σ̂² (``langevin``) — wrapped in
   the run's classifier-free `Guidance` and an `NFECounter`;
2. builds the grid from the model's noise process (`NoiseProcess`): the spec's default grid,
   unless the process overrides it (`grid_for`) or the caller passes ``grid=``;
3. draws the starting noise (device policy: `noise_like`) and calls the solver, the
   callback receiving `StepState` dicts with ``x`` in the model's native coordinates.

A model only has to provide ``process``, ``config``, ``event_shape``, ``families``,
``default_sampler``, and the functions of its families (``denoiser``; ``predict_eps`` for
``discrete``, ``score`` for ``sde``).
"""

from __future__ import annotations

import inspect
import math
import time
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from genmodels.diffusion.draws import model_tensor
from genmodels.diffusion.guidance import Guidance, guidance_for
from genmodels.diffusion.parameterization import denoiser_to_score
from genmodels.diffusion.samplers import Callback, NFECounter, StepState, noise_like
from genmodels.diffusion.solvers import SOLVERS, SolverSpec, get_solver
from genmodels.errors import InvalidInputError, NotApplicableError
from genmodels.registry import Registry
from genmodels.samples import Samples

__all__ = [
    "DRIVERS",
    "SolverRun",
    "check_options",
    "native_callback",
    "resolve_solver",
    "sample",
    "solvers_for",
    "value_fits",
]


@dataclass
class SolverRun:
    """Everything a driver needs for one sampling run (built by `sample`)."""

    model: Any
    spec: SolverSpec
    n: int
    steps: int
    grid: str | None = None
    generator: torch.Generator | None = None
    callback: Callback | None = None
    guide: Guidance = field(default_factory=Guidance)
    options: dict[str, Any] = field(default_factory=dict)

    def start_noise(self) -> Tensor:
        """z ~ N(0, I) of shape ``[n, *event]`` on the model's device and dtype."""
        like = model_tensor(self.model)
        return noise_like(like.new_empty((self.n, *self.model.event_shape)), self.generator)

    def grid_name(self) -> str:
        """The caller's grid, else the one the process picks for the spec's default."""
        return self.grid or self.model.process.grid_for(self.spec.grid)

    def solver_kwargs(self, callback: Callback | None) -> dict[str, Any]:
        """Keyword arguments of the solver: the spec's fixed options, defaults from the
        model's config (``spec.config_options``), then the caller's options."""
        config = self.model.config
        defaults = {k: getattr(config, k) for k in self.spec.config_options if hasattr(config, k)}
        check_options(self.spec, self.options)
        return {
            **self.spec.options, **defaults, **self.options,
            "generator": self.generator, "callback": callback,
        }  # fmt: skip


Driver = Callable[[SolverRun], tuple[Tensor, int]]
DRIVERS: Registry[Driver] = Registry("solver family")
"""family → ``driver(run) -> (x₀, network calls)``."""


def check_options(spec: SolverSpec, options: dict[str, Any]) -> None:
    """Raise `InvalidInputError` for options ``spec.fn`` does not take, or values it cannot
    run with, before it runs (and, from ``compare``, before anything trains): names against
    its signature, types against its annotations (`value_fits`), ranges by ``spec.check``."""
    params = inspect.signature(spec.fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    keyword = {n: p for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    taken = set(keyword) - {"generator", "callback", *spec.options}
    unknown = sorted(set(options) - taken)
    if unknown:
        raise InvalidInputError(
            f"sampler {spec.name!r} does not take option(s) {', '.join(map(repr, unknown))} "
            f"(it takes: grid, {', '.join(sorted(taken)) or 'nothing else'})"
        )
    hints = typing.get_type_hints(inspect.unwrap(spec.fn))
    for name, value in options.items():
        if name in hints and not value_fits(value, hints[name]):
            raise InvalidInputError(
                f"sampler {spec.name!r}: option {name}={value!r} is not {_describe(hints[name])}"
            )
    if spec.check is not None:
        defaults = {n: p.default for n, p in keyword.items() if p.default is not p.empty}
        spec.check({**defaults, **spec.options, **options})


def value_fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` (from TOML or a caller) is of type ``hint``: bool, int (not a bool),
    float (a finite int or float), str, None, a ``Literal`` of choices, or a union of these;
    any other annotation is not checked (True).

    Example:
        >>> value_fits(2, float), value_fits(True, int), value_fits("bh3", Literal["bh1", "bh2"])
        (True, False, False)
    """
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(value_fits(value, arg) for arg in typing.get_args(hint))
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return number and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    return True


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if origin is Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(hint)))
    if hint is type(None):
        return "None"
    return {bool: "true/false", int: "an integer", float: "a finite number"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def native_callback(callback: Callback | None, process: Any) -> Callback | None:
    """``callback`` seeing x̂ (EDM coordinates) as the native x_t = α(σ̂) x̂ (None: None)."""
    if callback is None:
        return None

    def native(state: StepState) -> None:
        alpha = process.alpha_of_sigma_hat(state["sigma"])
        callback({**state, "x": state["x"] * alpha})

    return native


@DRIVERS.register("ode")
def drive_ode(run: SolverRun) -> tuple[Tensor, int]:
    """PF-ODE solvers on the denoiser D(x̂; σ̂), from x̂ ~ N(0, start_std_hat² I)."""
    process = run.model.process
    sigmas = run.spec.sigmas_on(process, run.steps, run.grid)
    denoiser = NFECounter(run.guide(run.model.denoiser))
    x_hat = run.start_noise() * process.start_std_hat(float(sigmas[0]))
    kwargs = run.solver_kwargs(native_callback(run.callback, process))
    return run.spec.fn(denoiser, x_hat, sigmas, **kwargs), denoiser.nfe


@DRIVERS.register("discrete")
def drive_discrete(run: SolverRun) -> tuple[Tensor, int]:
    """Discrete-schedule samplers on ε̂(x_t, t) at the schedule's timesteps, from N(0, I)."""
    schedule = run.model.process
    timesteps = schedule.timesteps(run.steps, run.grid_name())
    eps_model = NFECounter(run.guide(run.model.predict_eps))
    x = run.spec.fn(
        eps_model, run.start_noise(), schedule, timesteps, **run.solver_kwargs(run.callback)
    )
    return x, eps_model.nfe


@DRIVERS.register("sde")
def drive_sde(run: SolverRun) -> tuple[Tensor, int]:
    """Reverse-SDE samplers on s(x_t, t), times uniform from T to ε, from the SDE's prior."""
    if run.grid not in (None, "uniform"):
        raise InvalidInputError(f"the SDE samplers step uniformly in time, not on {run.grid!r}")
    sde = run.model.process
    score = NFECounter(run.guide(run.model.score))
    x_T = run.start_noise() * sde.prior_std
    x = run.spec.fn(score, sde, x_T, sde.times(run.steps), **run.solver_kwargs(run.callback))
    return x, score.nfe


@DRIVERS.register("langevin")
def drive_langevin(run: SolverRun) -> tuple[Tensor, int]:
    """Langevin samplers on s(x̂; σ̂) = (D − x̂)/σ̂² (= −ε̂/σ̂) over σ̂ levels, from N(0, σ̂_1² I)."""
    model, process = run.model, run.model.process
    sigmas = process.sigmas(run.steps, run.grid_name())

    def score_hat(x_hat: Tensor, sigma_hat: Tensor, labels: Tensor | None = None) -> Tensor:
        return denoiser_to_score(x_hat, model.denoiser(x_hat, sigma_hat, labels), sigma_hat)

    score = NFECounter(run.guide(score_hat))
    x_init = run.start_noise() * float(sigmas[0])
    kwargs = run.solver_kwargs(native_callback(run.callback, process))
    out = run.spec.fn(score, x_init, sigmas, **kwargs)
    return (out if isinstance(out, Tensor) else out.x), score.nfe


def solvers_for(model: Any) -> tuple[str, ...]:
    """Names of the registered solvers whose family ``model`` offers, in registration order."""
    return tuple(name for name, spec in SOLVERS.items() if spec.family in model.families)


def resolve_solver(model: Any, name: str | None) -> SolverSpec:
    """The spec of ``name`` (default: the model's ``default_sampler``) if it applies.

    Raises:
        UnknownNameError: no solver of that name (with a did-you-mean hint).
        NotApplicableError: a solver of a family the model does not offer.
    """
    spec = get_solver(name or model.default_sampler)
    if spec.family not in model.families:
        raise NotApplicableError(
            f"{type(model).__name__} cannot sample with {spec.name!r} (a {spec.family} "
            f"solver; available: {', '.join(solvers_for(model))})"
        )
    return spec


def sample(
    model: Any,
    n: int,
    *,
    sampler: str | None = None,
    steps: int | None = None,
    grid: str | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    labels: Tensor | int | None = None,
    guidance: float = 0.0,
    **options: Any,
) -> Samples:
    """Draw ``n`` samples of ``model`` with solver ``sampler`` (see `DiffusionModel.sample`)."""
    spec = resolve_solver(model, sampler)
    guide = guidance_for(model, labels, n, guidance)
    run = SolverRun(
        model, spec, n, steps or spec.steps_for(model.process), grid, generator, callback,
        guide, options,
    )  # fmt: skip
    start = time.perf_counter()
    with torch.no_grad():
        x, calls = DRIVERS.get(spec.family)(run)
    info: dict[str, float] = {"steps": run.steps}
    if guide.labels is not None:
        info["guidance"] = guide.w
    nfe = calls * guide.evaluations_per_call
    return Samples(x, nfe=nfe, seconds=time.perf_counter() - start, info=info)
