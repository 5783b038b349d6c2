"""How each camp runs on a target: one runner class per camp, built from a catalogue entry.

`get_runner(name)` looks ``name`` up in `genmodels.catalogue` and returns the runner of its
camp: `ChainRunner` (MCMC kernels), `ModelRunner` (maps and diffusion models),
`HybridRunner` (the chain+map hybrids) or `DensityRunner` (samplers of a density that
estimate log Z). A method registered anywhere — in genmodels or in a user's own module —
runs in ``compare`` with no edit here. Every runner says what its method cost in
evaluations of the target (`MethodOutput.target_cost`), the unit in which a sampler of a
density and a chain are compared.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genmodels.catalogue import MethodSpec, get_method
from genmodels.compare.base import MethodOutput, MethodRunner, RunContext
from genmodels.compare.settings import LearnedSettings, method_settings
from genmodels.density.base import Cost, WeightedSamples
from genmodels.errors import ConfigError, GenmodelsError, NotApplicableError
from genmodels.models.common import check_map_sample_options
from genmodels.targets.base import Target

__all__ = [
    "ChainRunner",
    "DensityRunner",
    "HybridRunner",
    "ModelRunner",
    "check_sample_options",
    "discard_run",
    "get_runner",
]


def get_runner(name: str) -> MethodRunner:
    """The runner of method ``name`` (any camp of the catalogue).

    Raises:
        UnknownNameError: no registered method has that name (with a suggestion).
    """
    spec = get_method(name)
    return _CAMP_RUNNERS[spec.camp](spec)


def chain_budget_notes(info: dict[str, Any]) -> dict[str, Any]:
    """``{"stopped_by_budget": True, "draws": n}`` when the chains' time allowance cut them."""
    if not info.get("stopped_by_budget"):
        return {}
    return {"stopped_by_budget": True, "draws": int(info["draws"])}


def _run_chains(name: str, target: Target, settings: Any, ctx: RunContext) -> Any:
    """The chains of kernel ``name``; under `torchrun` (``ctx.dist``) each rank's share from
    its own seed, gathered on rank 0 (`genmodels.distributed.sharded_chains`; None on the
    other ranks)."""
    from genmodels.distributed import sharded_chains
    from genmodels.mcmc import sample_chains

    def draw(chains: int, seed: int, part: range) -> Any:
        return sample_chains(
            target,
            name,
            chains=chains,
            draws=settings.draws,
            warmup=settings.warmup,
            kernel_options=dict(settings.kernel_options),
            seed=seed,
            progress=ctx.progress,
            budget=ctx.budget,
        )

    if ctx.dist is None or not ctx.dist.distributed:
        return draw(settings.chains, ctx.seed, range(settings.chains))
    return sharded_chains(draw, settings.chains, ctx.seed, ctx.dist)


def _sample_sharded(model: Any, ctx: RunContext, options: dict[str, Any]) -> Any:
    """``ctx.n_samples`` draws split over the ranks of ``ctx.dist`` in about one chunk per
    rank (`genmodels.distributed.sample_sharded`; chunk 0, rank 0's, records the path);
    None on the ranks other than 0."""
    from genmodels.distributed import default_batch_size, sample_sharded

    assert ctx.dist is not None
    per_rank = -(-ctx.n_samples // ctx.dist.world_size)
    batch = min(per_rank, default_batch_size(tuple(model.event_shape)))
    rest = dict(options)
    callback = rest.pop("callback", None)
    return sample_sharded(
        model, ctx.n_samples, seed=ctx.seed + 1, batch_size=batch, info=ctx.dist,
        callback=callback, **rest,
    )  # fmt: skip


@dataclasses.dataclass
class _SpecRunner:
    """What every camp's runner shares: its catalogue entry and typed settings."""

    spec: MethodSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def camp(self) -> str:
        return self.spec.camp

    def parse_settings(self, target: Target, values: dict[str, Any]) -> Any:
        return method_settings(self.spec, target, values)


class ChainRunner(_SpecRunner):
    """Runs chains of one MCMC kernel on the target's density (`genmodels.mcmc.ChainSettings`).

    Chains need a log-density: a target with samples only is not applicable.
    """

    def check(self, target: Target) -> None:
        if not target.has_log_prob:
            raise NotApplicableError(
                f"a chain needs a density and target {target.name!r} has samples only"
            )

    def shards(self, settings: Any, world_size: int) -> str | None:
        """Under `torchrun` the chains are split over the ranks when each gets one."""
        if settings.chains < world_size:
            return None
        return f"{settings.chains} chains split over {world_size} ranks"

    def run(self, target: Target, settings: Any, ctx: RunContext) -> MethodOutput | None:
        samples = _run_chains(self.name, target, settings, ctx)
        if samples is None:  # another rank's share of the chains: rank 0 gathered them
            return None
        notes = chain_budget_notes(samples.info)
        return MethodOutput(
            samples=samples,
            settings=settings,
            notes=notes,
            target_cost=chain_target_cost(self.spec, samples.nfe),
        )


def chain_target_cost(spec: MethodSpec, nfe: int) -> Cost:
    """A chain's ``nfe`` (warm-up included) as target evaluations: gradient evaluations for a
    kernel that uses the gradient (each with its value), density evaluations for one that
    does not (random-walk Metropolis)."""
    if getattr(spec.build, "uses_gradient", True):
        return Cost(grad_evals=int(nfe))
    return Cost(density_evals=int(nfe))


def hybrid_target_cost(name: str, nfe: int, fit_info: dict[str, Any], batch_size: int) -> Cost:
    """A hybrid's target evaluations: its chains' ``nfe`` (flow_mh: density evaluations;
    neutra_hmc: gradients of the pulled-back density, one target gradient each) plus a
    reverse-KL fit's, one gradient per base draw of each step (a forward-KL fit uses
    samples, no evaluations)."""
    fit = int(fit_info["steps"]) * batch_size if fit_info["objective"] == "reverse" else 0
    if name == "flow_mh":
        return Cost(density_evals=int(nfe), grad_evals=fit)
    return Cost(grad_evals=int(nfe) + fit)


class HybridRunner(_SpecRunner):
    """Runs a chain+map hybrid (`genmodels.hybrids.run`): the flow fit is the row's training,
    the chains its sampling; the draws are in chain layout, so R-hat, ESS and trace plots are
    those of any chain."""

    def check(self, target: Target) -> None:
        from genmodels.hybrids.run import check_hybrid_target

        check_hybrid_target(self.name, target)

    def run(self, target: Target, settings: Any, ctx: RunContext) -> MethodOutput:
        run = self.spec.build(
            target, settings, seed=ctx.seed, budget=ctx.budget, progress=ctx.progress
        )
        info = run.fit_info
        notes: dict[str, Any] = {
            **chain_budget_notes(run.samples.info),
            **run.notes,
            "flow_objective": "forward KL (ML on samples)"
            if info["objective"] == "forward"
            else "reverse KL (on the density)",
            "flow_loss": info["loss"],
        }
        if info["stopped_by_budget"]:
            notes["stopped_by_budget"] = True
            notes["requested_steps"] = info["requested_steps"]
        return MethodOutput(
            samples=run.samples,
            train_seconds=run.fit_seconds,
            train_steps=int(info["steps"]),
            settings=settings,
            notes=notes,
            target_cost=hybrid_target_cost(
                self.name, run.samples.nfe, info, settings.fit.batch_size
            ),
        )


@dataclasses.dataclass
class ModelRunner(_SpecRunner):
    """Trains a learned model (map or diffusion) with `genmodels.training.fit`, then samples.

    Settings: `LearnedSettings` (the model's ``Config``, a `TrainConfig`, options of
    ``model.sample``). Training gets the method's budget less ``sampling_reserve`` of it: `fit`
    plans the steps that fit (its learning-rate schedule decays fully) and stops at the
    deadline. A diffusion model's sampling process is recorded for an animation.

    With a ``ctx.out_dir`` (``compare`` gives ``DIR/METHOD``) the model is trained into it as
    ``genmodels train`` trains: checkpoint, ``config.json`` and ``metrics.jsonl``, so that
    ``genmodels sample DIR/METHOD`` draws from it again. The model an earlier comparison left
    there is replaced.
    """

    # share of the method's budget kept for sampling and evaluation
    sampling_reserve: float = 0.25

    def check(self, target: Target) -> None:
        if not target.has_samples:
            raise NotApplicableError(
                f"{self.name} learns from data and target {target.name!r} has no sampler"
            )

    def shards(self, settings: LearnedSettings, world_size: int) -> str | None:
        """Under `torchrun` a learned model trains data-parallel and samples sharded."""
        batch = settings.train.batch_size
        return (
            f"trained data-parallel on {world_size} ranks (DDP, batch {batch} per rank); "
            "samples drawn sharded"
        )

    def parse_settings(self, target: Target, values: dict[str, Any]) -> LearnedSettings:
        """`LearnedSettings`, with the ``sample`` options checked too (the sampler's name and
        its options), so that a typo there is answered before anything trains."""
        settings = method_settings(self.spec, target, values)
        try:
            check_sample_options(self.spec, settings.sample)
        except GenmodelsError as e:
            raise ConfigError(f"{self.name}.sample: {e}") from None
        return settings

    def run(
        self, target: Target, settings: LearnedSettings, ctx: RunContext
    ) -> MethodOutput | None:
        from genmodels.distributed import barrier
        from genmodels.training import JsonlLogger, fit
        from genmodels.training.defaults import limited_threads, training_threads
        from genmodels.training.rundir import exclusive_run
        from genmodels.training.setup import build_model

        model = build_model(self.name, tuple(target.event_shape), settings.model, seed=ctx.seed)
        train = dataclasses.replace(settings.train, seed=ctx.seed, progress=ctx.progress)
        budget = ctx.budget.share(ctx.budget.remaining() * (1.0 - self.sampling_reserve))
        out = ctx.out_dir
        callbacks = [] if out is None else [JsonlLogger(out / "metrics.jsonl", train.log_every)]
        writer = ctx.dist is None or ctx.dist.rank == 0  # under torchrun (DDP) rank 0 writes
        # the threads `genmodels train` uses, so that a row repeats what train gives
        threads = limited_threads(training_threads(target.kind, train.device))
        with exclusive_run(out if writer else None), threads:
            if out is not None and writer:
                discard_run(out)
            barrier(ctx.dist)  # the other ranks look for a checkpoint once it is gone
            state = fit(model, target, train, out, callbacks=callbacks, budget=budget)
        notes: dict[str, Any] = {}
        if state.planned_steps < train.steps:
            notes.update(planned_steps=state.planned_steps, requested_steps=train.steps)
        if state.stopped_by_budget:
            notes["stopped_by_budget"] = True
        samples, trajectory = self._sample(state, settings, ctx)
        if samples is None:  # another rank's share of the samples: rank 0 scores them
            return None
        label = "sampling path"
        if self.camp == "diffusion":
            label = "annealed Langevin dynamics" if self.name == "ncsn" else "reverse diffusion"
        return MethodOutput(
            samples=samples,
            train_seconds=state.seconds,
            train_steps=int(state.step),
            trajectory=trajectory or None,
            trajectory_label=label,
            settings=settings,
            notes=notes,
            # trained on exact draws, not on the density: no target evaluations
            target_cost=Cost(),
            target_draws=int(state.step) * train.batch_size,
        )

    def _sample(self, state: Any, settings: LearnedSettings, ctx: RunContext) -> tuple[Any, list]:
        """Draw ``ctx.n_samples`` with the EMA weights; a diffusion model's frames recorded.
        Under `torchrun` the draws are sharded and the ranks other than 0 get None."""
        trained = state.model
        trajectory: list[Tensor] = []
        options = dict(settings.sample)
        if self.camp == "diffusion":

            def record(step: dict[str, Any]) -> None:
                frame = step["x"][: ctx.frame_points]
                trajectory.append(frame.detach().float().cpu().clone())

            options["callback"] = record
        trained.eval()
        ema = getattr(state, "ema", None)
        weights = ema.applied(trained) if ema is not None else contextlib.nullcontext()
        with torch.no_grad(), weights:
            if ctx.dist is not None and ctx.dist.distributed:
                samples = _sample_sharded(trained, ctx, options)
            else:
                generator = torch.Generator().manual_seed(ctx.seed + 1)
                samples = trained.sample(ctx.n_samples, generator=generator, **options)
        if samples is not None:
            samples.x = samples.x.detach().float().cpu()
        return samples, trajectory


class DensityRunner(_SpecRunner):
    """Runs a sampler of a density (the catalogue's ``density`` camp, `genmodels.density`).

    Its run function returns a `WeightedSamples`; the report gets ``ctx.n_samples``
    equally weighted draws from it by systematic resampling (scored like every other
    method's samples), its log Z estimate with standard error and kind, the ESS/N of its
    weights, and its cost in target evaluations. Like the hybrids it needs a density on a
    vector space.
    """

    def check(self, target: Target) -> None:
        if not target.has_log_prob:
            raise NotApplicableError(
                f"{self.name} samples a density and target {target.name!r} has samples only"
            )
        if len(target.event_shape) != 1:
            raise NotApplicableError(
                f"{self.name} samples a density on vectors; target {target.name!r} has "
                f"event shape {tuple(target.event_shape)}"
            )

    def run(self, target: Target, settings: Any, ctx: RunContext) -> MethodOutput:
        weighted = self.spec.build(
            target, settings, seed=ctx.seed, budget=ctx.budget, progress=ctx.progress
        )
        if not isinstance(weighted, WeightedSamples):
            raise TypeError(
                f"{self.name} returned {type(weighted).__name__}, not a WeightedSamples"
            )
        generator = torch.Generator().manual_seed(ctx.seed + 1)  # CPU: the same on any device
        samples = weighted.to_samples(ctx.n_samples, generator)
        samples.x = samples.x.detach().float().cpu()
        # cost_summary's columns: the sampling seconds apart from training, and the target
        # evaluations per particle as the "NFE per sample" of an independent sampler
        samples.seconds = max(weighted.seconds - weighted.train_seconds, 0.0)
        samples.nfe = -(-weighted.cost.target_evals // max(int(weighted.x.shape[0]), 1))
        notes = {k: v for k, v in weighted.info.items() if isinstance(v, bool | int | float | str)}
        notes["particles"] = int(weighted.x.shape[0])
        return MethodOutput(
            samples=samples,
            train_seconds=weighted.train_seconds,
            train_steps=int(weighted.info.get("train_steps", 0) or 0),
            settings=settings,
            notes=notes,
            target_cost=weighted.cost,
            log_z={
                "estimate": float(weighted.log_z),
                "se": float(weighted.log_z_se),
                "kind": weighted.log_z_kind,
                "ess_fraction": weighted.ess,
            },
        )


def discard_run(out: Path) -> None:
    """Remove the checkpoint of an earlier run from run directory ``out`` (its writer).

    ``config.json`` goes first: without it the directory holds no checkpoint, and the sets it
    named are removed as uncommitted (`genmodels.training.checkpoint.tidy_run_dir`), so an
    interruption here leaves a directory a new run starts in. Other files stay.
    """
    from genmodels.training.checkpoint import CONFIG_FILE, MODEL_FILE, tidy_run_dir

    for name in (CONFIG_FILE, MODEL_FILE, "metrics.jsonl"):
        (out / name).unlink(missing_ok=True)
    tidy_run_dir(out)


def check_sample_options(spec: MethodSpec, options: dict[str, Any]) -> None:
    """Raise a `GenmodelsError` for ``model.sample`` options the method cannot take: a
    one-pass map takes none; a diffusion model a solver of its families and that solver's
    options (a model class that does not declare its solver families is not checked)."""
    if spec.camp == "map":
        check_map_sample_options(spec.name, options, trajectory=True)
        return
    if not hasattr(spec.build, "families"):
        return
    from genmodels.diffusion.drivers import check_options, solvers_for
    from genmodels.diffusion.solvers import get_solver

    rest = dict(options)
    model = spec.build  # families and default_sampler are class attributes
    solver = get_solver(rest.pop("sampler", None) or model.default_sampler)
    if solver.family not in model.families:
        raise ConfigError(
            f"{spec.name} cannot sample with {solver.name!r} (a {solver.family} solver; "
            f"available: {', '.join(solvers_for(model))})"
        )
    steps = rest.pop("steps", None)
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ConfigError(f"steps must be an integer >= 1, got {steps!r}")
    for key in ("grid", "labels", "guidance"):
        rest.pop(key, None)
    check_options(solver, rest)


_CAMP_RUNNERS: dict[str, type[_SpecRunner]] = {
    "chain": ChainRunner,
    "map": ModelRunner,
    "diffusion": ModelRunner,
    "hybrid": HybridRunner,
    "density": DensityRunner,
}
