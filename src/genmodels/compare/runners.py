"""How each camp runs on a target: `ChainRunner` (MCMC) and `ModelRunner` (maps, diffusion).

`get_runner(name)` finds the runner of a method: an explicitly registered one in `RUNNERS`
first (hybrids, tests), then the chain kernels of `genmodels.mcmc`, then the learned models
of `genmodels.catalogue` (maps and diffusion models).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import inspect
import time
from typing import Any

import torch
from torch import Tensor

from genmodels.catalogue import get_method, list_methods
from genmodels.compare.base import MethodOutput, MethodRunner, RunContext
from genmodels.errors import ConfigError, NotApplicableError, UnknownNameError
from genmodels.registry import Registry
from genmodels.targets.base import Target

__all__ = ["RUNNERS", "ChainRunner", "ModelRunner", "get_runner", "known_methods"]

RUNNERS: Registry[MethodRunner] = Registry("method")
"""Explicitly registered runners; they take precedence over the automatic ones."""

# Modules that add runners to RUNNERS when imported (the chain+map hybrids).
_RUNNER_MODULES = ("genmodels.compare.hybrid_runners",)


def _runners() -> Registry[MethodRunner]:
    for module in _RUNNER_MODULES:
        importlib.import_module(module)
    return RUNNERS


def _kernels() -> Any:
    return {s.name for s in list_methods("chain")}


def _models() -> Any:
    return {s.name: s.build for s in list_methods(("map", "diffusion"))}


def known_methods() -> list[str]:
    """Every method name `get_runner` resolves."""
    return sorted({*_runners(), *_kernels(), *_models()})


def get_runner(name: str) -> MethodRunner:
    """The runner of method ``name``.

    Raises:
        UnknownNameError: no registered runner, chain kernel or model has that name.
    """
    if name in _runners():
        return RUNNERS.get(name)
    if name in _kernels():
        return ChainRunner(name)
    models = _models()
    if name in models:
        return ModelRunner(name, camp=getattr(models[name], "camp", "map"))
    import difflib

    known = known_methods()
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownNameError(f"unknown method {name!r}{hint} (known: {', '.join(known)})")


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _check_keys(settings: dict[str, Any], allowed: set[str], method: str) -> None:
    unknown = set(settings) - allowed
    if unknown:
        raise ConfigError(
            f"method {method!r}: unknown setting(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(allowed))})"
        )


def _replace_config(config: Any, overrides: dict[str, Any], where: str) -> Any:
    """``dataclasses.replace`` with a one-line `ConfigError` for unknown fields."""
    names = {f.name for f in dataclasses.fields(config)}
    unknown = set(overrides) - names
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(names))})"
        )
    try:
        return dataclasses.replace(config, **overrides)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None


@dataclasses.dataclass
class ChainRunner:
    """Runs ``chains`` chains of one MCMC kernel on the target's density.

    Settings: ``chains``, ``draws``, ``warmup``, ``kernel_options`` (e.g. ``{"num_steps": 20}``
    for HMC). Chains need a log-density: a target with samples only is not applicable.
    """

    name: str
    camp: str = "chain"

    def check(self, target: Target) -> None:
        if not target.has_log_prob:
            raise NotApplicableError(
                f"a chain needs a density and target {target.name!r} has samples only"
            )

    def run(self, target: Target, settings: dict[str, Any], ctx: RunContext) -> MethodOutput:
        from genmodels.budget import Budget
        from genmodels.mcmc import sample_chains

        _check_keys(settings, {"chains", "draws", "warmup", "kernel_options"}, self.name)
        samples = sample_chains(
            target,
            self.name,
            chains=int(settings["chains"]),
            draws=int(settings["draws"]),
            warmup=int(settings["warmup"]),
            kernel_options=dict(settings.get("kernel_options") or {}),
            seed=ctx.seed,
            progress=ctx.progress,
            budget=Budget(ctx.budget_seconds),
        )
        notes = _chain_budget_notes(samples.info)
        return MethodOutput(samples=samples, settings=settings, notes=notes)


def _chain_allowance(ctx: RunContext, spent: float) -> float | None:
    """What is left of the method's budget for its chains after ``spent`` seconds."""
    return None if ctx.budget_seconds is None else max(ctx.budget_seconds - spent, 0.0)


def _chain_budget_notes(info: dict[str, Any]) -> dict[str, Any]:
    """``{"stopped_by_budget": True, "draws": n}`` when the chains' time allowance cut them."""
    if not info.get("stopped_by_budget"):
        return {}
    return {"stopped_by_budget": True, "draws": int(info["draws"])}


class _BudgetReached(Exception):
    """Raised by `_Budget` inside the training loop to stop it at the time allowance."""


class _Budget:
    """Training callback: remembers the state and stops training once ``seconds`` are used."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.state: Any = None

    def on_start(self, state: Any) -> None:
        self.state = state

    def on_step(self, state: Any) -> None:
        self.state = state
        if self.seconds is not None and state.seconds > self.seconds and not state.is_last:
            raise _BudgetReached

    def on_end(self, state: Any) -> None:
        self.state = state


class _StepTimer:
    """Training callback: wall-clock time of every step."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_start(self, state: Any) -> None:
        pass

    def on_step(self, state: Any) -> None:
        self.times.append(time.perf_counter())

    def on_end(self, state: Any) -> None:
        pass


def _seconds_per_step(
    model_cls: Any, config: Any, target: Target, train_config: Any, steps: int = 12
) -> float:
    """Seconds per training step, from a short throw-away run (its first steps are skipped:
    they pay for one-time set-up)."""
    from genmodels.training import fit

    timer = _StepTimer()
    probe = model_cls(config, tuple(target.event_shape))
    probe_config = dataclasses.replace(train_config, steps=steps, progress=False)
    fit(probe, target, probe_config, None, callbacks=[timer])
    skip = min(2, len(timer.times) - 2)
    return max((timer.times[-1] - timer.times[skip]) / (len(timer.times) - 1 - skip), 1e-6)


_TRAJECTORY_LABELS = {"ncsn": "annealed Langevin dynamics"}


@dataclasses.dataclass
class ModelRunner:
    """Trains a learned model (map or diffusion) with `genmodels.training.fit`, then samples.

    Settings: ``train`` (`TrainConfig` fields), ``model`` (the model's ``Config`` fields),
    ``sample`` (options of ``model.sample``). Training stops early when the method's budget
    (minus a reserve for sampling) is used up. When the model's ``sample`` takes a
    ``callback(i, x_i)``, the sampling process is recorded for an animation.
    """

    name: str
    camp: str = "map"
    # share of the method's budget kept for sampling and evaluation
    sampling_reserve: float = 0.25

    def check(self, target: Target) -> None:
        if not target.has_samples:
            raise NotApplicableError(
                f"{self.name} learns from data and target {target.name!r} has no sampler"
            )

    def build(self, target: Target, model_settings: dict[str, Any]) -> Any:
        """The untrained model, built as `genmodels train` builds it: discrete data (digits)
        set its ``num_levels``, so VAE and flow dequantise (without that, their densities
        degenerate on the constant pixels: the digits VAE collapsed to fd 589, recall 0)."""
        from genmodels.training.setup import build_model

        event_shape = tuple(target.event_shape)
        return build_model(self.name, event_shape, model_settings, num_levels=target.num_levels)

    def run(self, target: Target, settings: dict[str, Any], ctx: RunContext) -> MethodOutput:
        from genmodels.training import TrainConfig, fit

        _check_keys(settings, {"train", "model", "sample"}, self.name)
        model_cls = get_method(self.name, ("map", "diffusion")).build
        model = self.build(target, settings["model"])
        config = model.config
        train_overrides = {"seed": ctx.seed, "progress": ctx.progress, **settings["train"]}
        train_config = _replace_config(TrainConfig(), train_overrides, f"{self.name}.train")

        allowance = None
        notes: dict[str, Any] = {}
        t0 = time.perf_counter()
        if ctx.budget_seconds is not None:
            allowance = ctx.budget_seconds * (1.0 - self.sampling_reserve)
            # Plan a run that fits, so the learning-rate schedule decays fully instead of
            # being cut off at its peak; the budget callback stays as the hard stop.
            seconds_per_step = _seconds_per_step(model_cls, config, target, train_config)
            left = allowance - (time.perf_counter() - t0)
            affordable = max(1, int(0.9 * left / seconds_per_step))
            if affordable < train_config.steps:
                notes["planned_steps"] = affordable
                notes["requested_steps"] = train_config.steps
                train_config = dataclasses.replace(
                    train_config,
                    steps=affordable,
                    warmup_steps=min(train_config.warmup_steps, affordable // 10),
                )
        budget = _Budget(None if allowance is None else allowance - (time.perf_counter() - t0))
        with contextlib.suppress(_BudgetReached):
            fit(model, target, train_config, None, callbacks=[budget])
        train_seconds = time.perf_counter() - t0
        state = budget.state
        steps_done = int(state.step) if state is not None else 0
        if steps_done < train_config.steps:
            notes["stopped_by_budget"] = True

        trained = state.model if state is not None else model
        trajectory: list[Tensor] = []
        sample_options = dict(settings["sample"])
        if _accepts_callback(trained):

            def record(i: int, x_i: Tensor) -> None:
                trajectory.append(x_i[: ctx.frame_points].detach().float().cpu().clone())

            sample_options["callback"] = record
        trained.eval()
        ema = getattr(state, "ema", None)
        weights = ema.applied(trained) if ema is not None else contextlib.nullcontext()
        with torch.no_grad(), weights:
            samples = trained.sample(
                ctx.n_samples, generator=_seeded(ctx.seed + 1), **sample_options
            )
        samples.x = samples.x.detach().float().cpu()
        label = _TRAJECTORY_LABELS.get(self.name, "reverse diffusion")
        if self.camp != "diffusion":
            label = "sampling path"
        return MethodOutput(
            samples=samples,
            train_seconds=train_seconds,
            train_steps=steps_done,
            trajectory=trajectory or None,
            trajectory_label=label,
            settings=settings,
            notes=notes,
        )


def _accepts_callback(model: Any) -> bool:
    """Whether ``model.sample`` takes ``callback=``: declared by it, or by a base class whose
    ``sample`` an override forwards ``**kwargs`` to (e.g. NCSN → DiffusionModel)."""
    for cls in type(model).__mro__:
        fn = cls.__dict__.get("sample")
        if fn is None:
            continue
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return False
        if "callback" in params:
            return True
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return False
    return False
