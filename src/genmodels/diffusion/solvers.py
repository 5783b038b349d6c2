"""The solver registry: every diffusion sampler registered once, as a `SolverSpec`.

A solver is a plain function of its family's signature (see `genmodels.diffusion.samplers`)
plus one `register_solver` decorator next to it. The spec names the family, which says what
the solver consumes and so which models it applies to; the family's driver
(`genmodels.diffusion.drivers`) turns a model into that callable and builds the grid:

===========  ==========================================  =====================================
family       signature                                   model function / grid
===========  ==========================================  =====================================
discrete     ``fn(eps_model, x_T, schedule, timesteps)``  ε̂(x_t, t); `DiscreteSchedule`
                                                          timesteps
sde          ``fn(score_fn, sde, x_T, times)``            s(x_t, t); `SDE.times`
ode          ``fn(denoiser, x, sigmas)``                  D(x̂; σ̂); `NoiseProcess.sigmas`
langevin     ``fn(score_fn, x_init, sigmas)``             s(x̂; σ̂) = (D − x̂)/σ̂²; σ̂ levels
===========  ==========================================  =====================================

every solver also taking ``generator=``, ``callback=`` and its own keyword options.

Example — a new ODE solver is one function plus its registration:

    >>> @register_solver("my_euler", family="ode", default_steps=50, grid="karras")
    ... def my_euler(denoiser, x, sigmas, *, generator=None, callback=None):
    ...     for s, s_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
    ...         x = x + (s_next - s) * (x - denoiser(x, x.new_full((len(x),), s))) / s
    ...     return x
    >>> SOLVERS.get("my_euler").family
    'ode'
    >>> SOLVERS.remove("my_euler")
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from genmodels.registry import Registry

__all__ = [
    "FAMILIES",
    "SOLVERS",
    "Family",
    "OptionCheck",
    "SolverSpec",
    "get_solver",
    "langevin_levels_or",
    "one_step_per_timestep",
    "positive",
    "register_solver",
]

Family = Literal["discrete", "sde", "ode", "langevin"]
FAMILIES: tuple[Family, ...] = ("discrete", "sde", "ode", "langevin")

F = TypeVar("F", bound=Callable[..., Any])
StepsRule = int | Callable[[Any], int]
"""A default number of steps: a number, or a function of the model's noise process."""
OptionCheck = Callable[[Mapping[str, Any]], None]
"""A solver's rule on its option values: given every option it would run with, raise
`InvalidInputError` for a value out of range (types are checked from its signature)."""


@dataclass(frozen=True)
class SolverSpec:
    """What the drivers need to know about one solver.

    Attributes:
        name: what users pass as ``sampler=`` / ``--sampler``.
        family: ``"discrete"``, ``"sde"``, ``"ode"`` or ``"langevin"`` (see the module table).
        fn: the solver function.
        default_steps: steps when the caller gives none: an int, or a function of the noise
            process (`one_step_per_timestep`, `langevin_levels_or`).
        grid: the grid it runs on by default (``"karras"``, ``"logsnr"``, ``"langevin"``, or
            None: the noise process's own, e.g. a DDPM's timestep spacing); the process may
            override it (`NoiseProcess.grid_for`), the caller's ``grid=`` overrides both.
        config_options: keyword options whose default the model's config supplies when it
            has a field of that name (``snr``, ``step_lr``, ``clip_x0``).
        options: fixed keyword arguments (a variant is configuration, not a copy).
        description: one line for listings.
        sigma_min: the rule ``(steps, process σ̂_min) -> σ_min`` for where its σ̂ grids end
            before 0 (e.g. `grids.few_step_sigma_min`); None: the process's σ̂_min.
        check: the `OptionCheck` of its option values (ranges), run by
            `drivers.check_options` before anything samples or trains; None: types only.
    """

    name: str
    family: Family
    fn: Callable[..., Any]
    default_steps: StepsRule
    grid: str | None = None
    config_options: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    sigma_min: Callable[[int, float], float] | None = None
    check: OptionCheck | None = None

    def steps_for(self, process: Any) -> int:
        """The default number of steps on ``process``."""
        rule = self.default_steps
        return rule(process) if callable(rule) else int(rule)

    def sigmas_on(self, process: Any, steps: int, grid: str | None = None) -> Any:
        """The σ̂ grid this solver runs on ``process`` (what the ``ode`` driver builds):
        ``grid``, else the process's pick for the spec's; ending at the spec's `sigma_min`."""
        lo = None if self.sigma_min is None else self.sigma_min(steps, process.sigma_hat_min)
        return process.sigmas(steps, grid or process.grid_for(self.grid), sigma_min=lo)


SOLVERS: Registry[SolverSpec] = Registry("diffusion sampler")
"""name → `SolverSpec`; ``SOLVERS.remove(name)`` unregisters (tests clean up with it)."""


def register_solver(
    name: str,
    *,
    family: Family,
    default_steps: StepsRule,
    grid: str | None = None,
    config_options: tuple[str, ...] = (),
    description: str = "",
    sigma_min: Callable[[int, float], float] | None = None,
    check: OptionCheck | None = None,
    **options: Any,
) -> Callable[[F], F]:
    """Decorator: register the decorated solver function under ``name`` (see `SolverSpec`).

    ``options`` become the spec's fixed keyword arguments, so one function can be registered
    twice as two variants. Returns the function unchanged.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown solver family {family!r} ({', '.join(FAMILIES)})")

    def decorator(fn: F) -> F:
        SOLVERS.add(
            name,
            SolverSpec(name, family, fn, default_steps, grid, config_options, options,
                       description or (fn.__doc__ or name).strip().splitlines()[0], sigma_min,
                       check),
        )  # fmt: skip
        return fn

    return decorator


def positive(options: Mapping[str, Any], *names: str, integer: bool = False) -> None:
    """Raise `InvalidInputError` unless each option of ``names`` (when set, not None) is a
    finite number > 0 (``integer``: a whole number ≥ 1): the common `OptionCheck` rule."""
    from genmodels.errors import InvalidInputError

    for name in names:
        value = options.get(name)
        if value is None:
            continue
        if (integer and value < 1) or not (math.isfinite(value) and value > 0):
            what = "an integer ≥ 1" if integer else "a finite number > 0"
            raise InvalidInputError(f"{name} must be {what}, got {value!r}")


def get_solver(name: str) -> SolverSpec:
    """The spec of solver ``name``; an unknown name raises `UnknownNameError` with a hint."""
    return SOLVERS.get(name)


def one_step_per_timestep(schedule: Any) -> int:
    """Default steps of DDPM ancestral sampling: every timestep of the schedule (T)."""
    return int(schedule.num_timesteps)


def langevin_levels_or(default: int) -> Callable[[Any], int]:
    """Default levels of annealed Langevin: the process's own levels (NCSN's L), else
    ``default``."""

    def rule(process: Any) -> int:
        return process.langevin_levels or default

    rule.__doc__ = f"The process's langevin_levels, else {default}."
    return rule
