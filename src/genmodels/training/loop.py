"""`fit`: the one training loop every learned model uses.

The loop only draws batches, steps each player's optimiser, keeps the EMA, writes
checkpoints and keeps to a time `Budget`; logging, progress, evaluation and previews are
callbacks (`genmodels.training.callbacks`). Multi-player models (GANs) describe their players
through `GenerativeModel.training_players`; the loop stays the same. Helper networks that are
not generative models train through it as an `genmodels.training.objective.Objective`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim import Optimizer

from genmodels.budget import Budget
from genmodels.catalogue import list_methods
from genmodels.device import resolve_device
from genmodels.errors import (
    CheckpointError,
    ConfigError,
    InvalidInputError,
    TrainingDivergedError,
)
from genmodels.models.base import GenerativeModel, Player
from genmodels.targets.base import Target
from genmodels.training.checkpoint import (
    has_checkpoint,
    load_training_state,
    read_checkpoint_config,
    save_checkpoint,
    tidy_run_dir,
)
from genmodels.training.config import TrainConfig, config_to_dict
from genmodels.training.distributed import DistInfo, init_distributed
from genmodels.training.ema import EMA
from genmodels.training.objective import Objective
from genmodels.training.resume import (
    apply_overrides_after_restore,
    check_same_run,
    describe_changes,
    fresh_hyperparameters,
    resume_changes,
)
from genmodels.training.rundir import exclusive_run
from genmodels.training.schedule import StepPlanner, make_schedulers, schedule_for, warmup_cosine

__all__ = ["Callback", "TrainState", "fit", "method_name", "warmup_cosine"]


@dataclass
class TrainState:
    """What callbacks see after every step.

    Attributes:
        step: steps completed.
        start_step: the step this call of `fit` started from (after a resume).
        planned_steps: the steps this run will do: ``config.steps``, or fewer when a time
            budget re-planned the run (`fit`'s ``budget``); the schedule decays over them.
        stopped_by_budget: the budget's deadline stopped training before ``planned_steps``.
        losses: player name → loss of its last update in this step.
        lr: player name → current learning rate.
        logs: extra scalars for this step (evaluation callbacks add here, loggers write them).
    """

    model: GenerativeModel | Objective
    ema: EMA
    target: Target
    config: TrainConfig
    out_dir: Path | None
    dist: DistInfo
    step: int = 0
    start_step: int = 0
    planned_steps: int = 0
    stopped_by_budget: bool = False
    losses: dict[str, float] = field(default_factory=dict)
    lr: dict[str, float] = field(default_factory=dict)
    logs: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    @property
    def is_last(self) -> bool:
        """Whether this is the run's last step (planned, or stopped by the budget)."""
        return self.step >= self.planned_steps or self.stopped_by_budget


class Callback:
    """Hooks called on rank 0 only: ``on_start``, ``on_step`` (after each step), ``on_end``."""

    def on_start(self, state: TrainState) -> None:
        """Called before the first step (after a resume, before the first new step)."""

    def on_step(self, state: TrainState) -> None:
        """Called after every step."""

    def on_end(self, state: TrainState) -> None:
        """Called after the last step and the final checkpoint (also on errors)."""


def method_name(model: GenerativeModel) -> str:
    """The registry name of a model's class (``"flow"``, ``"ddpm"``, ...)."""
    for spec in list_methods(("map", "diffusion")):
        if spec.build is type(model):
            return spec.name
    raise InvalidInputError(
        f"{type(model).__name__} is not a registered method (see genmodels.catalogue)"
    )


class _PlayerLosses(nn.Module):
    """Routes ``forward(batch, i, labels)`` to player ``i``'s loss so DDP sees every forward
    pass; ``labels`` (class-conditional models) go to the loss as ``labels=``."""

    def __init__(self, model: nn.Module, players: list[Player]) -> None:
        super().__init__()
        self.model = model
        self._losses = [p.loss for p in players]

    def forward(self, batch: Tensor, index: int, labels: Tensor | None = None) -> Tensor:
        if labels is None:
            return self._losses[index](batch)
        return self._losses[index](batch, labels=labels)


def _batch_sampler(model: GenerativeModel | Objective, target: Target) -> Callable[..., Any]:
    """``draw(n, generator) -> (batch, labels or None)``: labelled batches for a
    class-conditional model (`GenerativeModel.num_classes` > 0), plain ones otherwise."""
    k = model.num_classes
    if k == 0:
        return lambda n, generator: (target.sample(n, generator=generator), None)
    if target.num_classes == 0:
        raise ConfigError(
            f"a class-conditional model (num_classes={k}) needs a labelled target; "
            f"{target.name!r} has no labels"
        )
    if target.num_classes > k:
        raise ConfigError(
            f"{target.name!r} has {target.num_classes} classes but the model has num_classes={k}"
        )
    return target.sample_labelled


def _seed(seed: int, rank: int, stream: int) -> int:
    # Distinct, reproducible streams per (seed, rank, purpose); ranks draw different data.
    return (seed * 1_000_003 + rank * 7_919 + stream) % (2**63)


def _autocast(config: TrainConfig, device: torch.device):
    use_bf16 = config.mixed_precision == "bf16" or (
        config.mixed_precision == "auto" and device.type == "cuda"
    )
    if use_bf16 and device.type in ("cuda", "cpu"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _gather_rng(state: Tensor, info: DistInfo) -> list[Tensor]:
    if not info.distributed:
        return [state]
    gathered = [torch.empty_like(state) for _ in range(info.world_size)]
    dist.all_gather(gathered, state)  # gloo-safe: CPU byte tensors; NCCL needs device tensors
    return gathered


@dataclass
class _Run:
    """What one call of `fit` trains with, built by `_setup`."""

    model: GenerativeModel | Objective
    config: TrainConfig
    players: list[Player]
    optimizers: dict[str, Optimizer]
    schedulers: dict[str, Any]
    wrapped: nn.Module
    ema: EMA
    draw: Callable[..., Any]
    data_gen: torch.Generator
    info: DistInfo
    out: Path | None
    description: dict[str, Any] | None  # config.json of a run that keeps checkpoints
    start: int = 0
    resumed: bool = False
    override: bool = False

    @property
    def device(self) -> torch.device:
        return self.info.device

    def reschedule(self, total_steps: int, done: int) -> None:
        """Follow the warm-up + cosine of a run of ``total_steps`` from step ``done`` on."""
        factor = schedule_for(self.config, total_steps)
        self.schedulers.update(make_schedulers(self.optimizers, factor, done))


def _check_shapes(model: GenerativeModel | Objective, target: Target) -> None:
    if tuple(target.event_shape) != tuple(model.event_shape):
        raise InvalidInputError(
            f"model event shape {model.event_shape} does not match target "
            f"{target.name!r} {tuple(target.event_shape)}"
        )


def _optimizers(players: list[Player], config: TrainConfig) -> dict[str, Optimizer]:
    return {
        p.name: torch.optim.AdamW(
            p.parameters,
            lr=p.lr if p.lr is not None else config.lr,
            betas=p.betas if p.betas is not None else config.betas,
            weight_decay=config.weight_decay,
        )
        for p in players
    }


def _wrap(model: nn.Module, players: list[Player], info: DistInfo) -> nn.Module:
    wrapped: nn.Module = _PlayerLosses(model, players)
    if info.distributed:
        wrapped = DistributedDataParallel(
            wrapped,
            device_ids=[info.device.index] if info.device.type == "cuda" else None,
            find_unused_parameters=len(players) > 1,
        )
    return wrapped


def _describe(
    model: GenerativeModel, target: Target, config: TrainConfig, info: DistInfo
) -> dict[str, Any]:
    """The run description written to ``config.json`` (method, configs, target, seed, and
    what `Target.run_record` keeps: a data set's split and standardisation)."""
    description = {
        "method": method_name(model),
        "model_config": config_to_dict(model.config),
        "train_config": config_to_dict(config),
        "target": target.name,
        "event_shape": list(model.event_shape),
        "seed": config.seed,
        "world_size": info.world_size,
    }
    record = target.run_record() if hasattr(target, "run_record") else {}
    if record:
        description["data"] = record
    return description


def _dist_info(config: TrainConfig) -> DistInfo:
    device = resolve_device(config.device)
    return init_distributed(device) if config.distributed else DistInfo(0, 1, 0, device)


def _setup(
    model: GenerativeModel | Objective,
    target: Target,
    config: TrainConfig,
    out: Path | None,
    resume: bool,
    info: DistInfo,
    override: bool = False,
) -> _Run:
    """Check the inputs, initialise (or restore) the model, build optimisers and schedules.

    Rank 0 holds the run directory's lock already (`fit`), so what a killed writer left
    there is tidied before anything is read (`genmodels.training.checkpoint.tidy_run_dir`).
    """
    _check_shapes(model, target)
    draw = _batch_sampler(model, target)
    if out is not None and info.rank == 0:
        tidy_run_dir(out)
    resuming = bool(resume and out is not None and has_checkpoint(out))
    if out is not None and not resume and has_checkpoint(out):
        raise InvalidInputError(
            f"{out} already holds a checkpoint; pass --resume to continue it or pick another --out"
        )
    description = None
    if out is not None:
        if isinstance(model, Objective):
            raise InvalidInputError("an Objective is not a method: fit it without out_dir")
        description = _describe(model, target, config, info)
    if not resuming:
        init_gen = torch.Generator().manual_seed(_seed(config.seed, 0, 1))
        model.init_from_data(target.sample(config.batch_size, generator=init_gen))
    model.to(info.device).train()
    players = model.training_players()
    optimizers = _optimizers(players, config)
    schedulers = make_schedulers(optimizers, schedule_for(config, config.steps))
    data_gen = torch.Generator().manual_seed(_seed(config.seed, info.rank, 2))
    torch.manual_seed(_seed(config.seed, info.rank, 3))  # training noise (z, ε, t, dequant)
    # DDP broadcasts rank 0's weights and buffers, so the EMA is taken after wrapping.
    wrapped = _wrap(model, players, info)
    ema = EMA(model, config.ema_decay)
    run = _Run(
        model, config, players, optimizers, schedulers, wrapped, ema, draw, data_gen, info, out,
        description, override=override,
    )  # fmt: skip
    if resuming:
        _restore(run)
        run.resumed = True
    return run


def _check_resume(run: _Run, saved: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The train settings this resume changes; refused unless ``run.override`` (see
    `genmodels.training.resume`). Another method, shape, target or model config is refused
    whatever ``override`` says."""
    assert run.description is not None
    method, shape = run.description["method"], run.description["event_shape"]
    if saved["method"] != method or list(saved["event_shape"]) != shape:
        raise CheckpointError(
            f"{run.out} holds a {saved['method']!r} checkpoint of shape {saved['event_shape']}, "
            f"not {method!r} of shape {shape}"
        )
    description = run.description
    check_same_run(
        run.out, saved, target=description["target"], model_config=description["model_config"]
    )
    changes = resume_changes(saved["train_config"], run.config)
    if changes and not run.override:
        raise ConfigError(
            f"--resume would change {describe_changes(changes)} in {run.out}; pass --override "
            "to apply them (recorded in config.json), or resume with the run's own settings"
        )
    return changes


def _restore(run: _Run) -> None:
    """Load weights, EMA, optimiser and schedule state and generator states from ``run.out``.

    Changed settings that ``run.override`` allows take effect on the restored optimisers
    and schedule, and join the run's ``overrides`` history in ``config.json``.
    """
    assert run.out is not None and run.description is not None
    saved = read_checkpoint_config(run.out)
    changes = _check_resume(run, saved)
    fresh = fresh_hyperparameters(run.optimizers)
    run.start, rng = load_training_state(
        run.out,
        model=run.model,
        ema=run.ema,
        optimizers=run.optimizers,
        schedulers=run.schedulers,
    )
    history = list(saved.get("overrides") or [])
    if changes:
        apply_overrides_after_restore(run.optimizers, fresh)
        run.reschedule(run.config.steps, run.start)
        changed = {k: {"from": old, "to": new} for k, (old, new) in changes.items()}
        history.append({"step": run.start, "changed": changed})
    if history:
        run.description["overrides"] = history
    rank = run.info.rank
    if f"data.{rank}" in rng:
        run.data_gen.set_state(rng[f"data.{rank}"])
        torch.set_rng_state(rng[f"torch.{rank}"])


def _checkpoint(run: _Run, state: TrainState) -> None:
    """Write the run's checkpoint at ``state.step`` (rank 0; every rank waits for it)."""
    if run.out is None or run.description is None:
        return
    _check_finite_weights(run, state.step)  # a checkpoint is only written of usable weights
    data_states = _gather_rng(run.data_gen.get_state(), run.info)
    torch_states = _gather_rng(torch.get_rng_state(), run.info)
    if run.info.rank == 0:
        rng_states = {f"data.{r}": s for r, s in enumerate(data_states)}
        rng_states.update({f"torch.{r}": s for r, s in enumerate(torch_states)})
        save_checkpoint(
            run.out,
            model=run.model,
            ema_state=run.ema.state_dict(),
            optimizers=run.optimizers,
            schedulers=run.schedulers,
            rng_states=rng_states,
            step=state.step,
            config={**run.description, "planned_steps": state.planned_steps},
        )
    if run.info.distributed:
        dist.barrier()


def _train_step(run: _Run, state: TrainState) -> None:
    """One training step: every player's ``steps`` updates on fresh batches, then the EMA.

    Batches are drawn on the CPU with the loop's CPU generator (the same data order on every
    device) and then moved to the training device: the one documented conversion.
    """
    config, step = run.config, state.step
    state.losses, state.logs = {}, {}
    for index, player in enumerate(run.players):
        for _ in range(player.steps):
            batch, labels = run.draw(config.batch_size, generator=run.data_gen)
            batch = batch.to(run.device)
            labels = None if labels is None else labels.to(run.device)
            with _autocast(config, run.device):
                loss = run.wrapped(batch, index, labels)
            _check_finite(loss, player.name, step, run.out, run.info)
            run.model.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                nn.utils.clip_grad_norm_(player.parameters, config.grad_clip)
            run.optimizers[player.name].step()
        state.losses[player.name] = float(loss.detach())
        state.lr[player.name] = run.schedulers[player.name].get_last_lr()[0]
        run.schedulers[player.name].step()
    run.ema.update(run.model, step + 1)
    state.step = step + 1


def _kept(out: Path | None) -> str:
    if out is not None and has_checkpoint(out):
        return f"the last good checkpoint in {out} is kept"
    return "no checkpoint was written yet"


def _diverged(what: str, out: Path | None) -> TrainingDivergedError:
    return TrainingDivergedError(
        f"{what}; {_kept(out)} (to continue from it with a lower lr, train again with "
        "--resume --override --set train.lr=SMALLER; grad_clip or mixed_precision=off may help)"
    )


def _check_finite(loss: Tensor, player: str, step: int, out: Path | None, info: DistInfo) -> None:
    bad = (~torch.isfinite(loss.detach())).float().reshape(1)
    if info.distributed:
        dist.all_reduce(bad)  # every rank stops together
    if bad.item() > 0:
        raise _diverged(f"{player} loss became {float(loss.detach())} at step {step + 1}", out)


def _check_finite_weights(run: _Run, step: int) -> None:
    """Raise `TrainingDivergedError` (writing nothing) unless the weights of ``step`` are usable.

    A finite loss at the last update does not make the weights it produced usable: they can be
    NaN or inf, or finite and yet give a NaN loss (a sampler then draws NaN). So every weight
    and EMA value must be finite, and so must each player's loss of the raw and the EMA weights
    on a probe batch. The probe changes nothing training sees: it runs in eval mode on its own
    data generator, inside `torch.random.fork_rng`, and buffers are restored after it.
    """
    problem = _nonfinite_weights(run) or _nonfinite_probe(run)
    bad = torch.tensor([0.0 if problem is None else 1.0], device=run.device)
    if run.info.distributed:
        dist.all_reduce(bad)  # every rank stops together
    if bad.item() > 0:
        raise _diverged(f"{problem or 'the weights on another rank'} after step {step}", run.out)


def _nonfinite_weights(run: _Run) -> str | None:
    for kind, tensors in (("weights", run.model.state_dict()), ("EMA weights", run.ema.shadow)):
        values = [t.detach() for t in tensors.values() if t.is_floating_point()]
        if values and not bool(torch.stack([torch.isfinite(t).all() for t in values]).all()):
            bad = sum(int((~torch.isfinite(t)).sum()) for t in values)
            return f"{bad} of the {kind} became NaN or inf"
    return None


def _nonfinite_probe(run: _Run) -> str | None:
    """Each player's loss of the raw, then the EMA weights on one probe batch (see above)."""
    model, device = run.model, run.device
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    training = model.training
    forked = [] if device.type == "cpu" else [device.index or 0]
    try:
        with torch.random.fork_rng(forked, device_type=device.type):
            gen = torch.Generator().manual_seed(_seed(run.config.seed, run.info.rank, 4))
            batch, labels = run.draw(run.config.batch_size, generator=gen)
            batch = batch.to(device)
            options = {} if labels is None else {"labels": labels.to(device)}
            model.eval()
            for kind, weights in (("", contextlib.nullcontext()), ("EMA ", run.ema.applied(model))):
                with weights, _autocast(run.config, device):
                    for player in run.players:
                        loss = player.loss(batch, **options).detach()
                        if not bool(torch.isfinite(loss).all()):
                            return f"the {kind}weights give a {player.name} loss of {float(loss)}"
    finally:
        model.train(training)
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
    return None


def _agree(value: int, info: DistInfo, *, smallest: bool) -> int:
    """``value`` reduced over the ranks (min or max), so that every rank plans alike."""
    if not info.distributed:
        return value
    t = torch.tensor([value], dtype=torch.int64, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN if smallest else dist.ReduceOp.MAX)
    return int(t.item())


def _keep_to_budget(run: _Run, planner: StepPlanner, state: TrainState) -> None:
    """After a step: make the one plan when it is due, and stop at the deadline."""
    if not planner.budget.limited:
        return
    total = planner.after_step(state.step)
    if run.info.distributed:  # rank 0's plan, every step: ranks' clocks make it at other steps
        plan = -1 if total is None or run.info.rank != 0 else total
        total = _agree(plan, run.info, smallest=False)
        total = None if total < 0 else total
    if total is not None and total != state.planned_steps:
        state.planned_steps = total
        run.reschedule(total, state.step)
    stop = planner.should_stop(state.step, state.planned_steps)
    state.stopped_by_budget = bool(_agree(int(stop), run.info, smallest=False))


def fit(
    model: GenerativeModel | Objective,
    target: Target,
    config: TrainConfig,
    out_dir: str | Path | None = None,
    *,
    callbacks: Sequence[Callback] = (),
    resume: bool = False,
    budget: Budget | None = None,
    override: bool = False,
) -> TrainState:
    """Train ``model`` on batches ``target.sample(batch_size, generator)``.

    A class-conditional model (`GenerativeModel.num_classes` > 0) trains on labelled batches
    ``target.sample_labelled(batch_size, generator)`` through ``loss(batch, labels=labels)``.

    Per step, every player (`GenerativeModel.training_players`) takes ``player.steps``
    AdamW updates on fresh batches, with linear warm-up + cosine decay of the learning rate,
    gradient-norm clipping and bf16 autocast on CUDA; then the EMA is updated and callbacks
    run. Under `torchrun` the model is wrapped in DDP and each rank draws its own data;
    rank 0 writes checkpoints every ``checkpoint_every`` steps and at the end, after that
    step's callbacks (`genmodels.training.checkpoint` commits each one atomically), and
    holds the run directory's lock (`genmodels.training.rundir`) until `fit` returns.

    With a limited ``budget``, the first steps are timed and the run is planned once
    (`genmodels.training.schedule.StepPlanner`, `Budget.plan`): when ``config.steps`` would
    not fit, the warm-up + cosine schedule is stretched over the steps that do
    (``state.planned_steps``), so it still decays fully. Training also stops at the deadline
    once ``config.min_steps`` are done (``state.stopped_by_budget``), with the checkpoint and
    callbacks of a normal last step.

    Args:
        model: a registered `GenerativeModel` (its class decides the method name), or an
            `Objective` (no checkpoints).
        target: where batches come from (image targets sample their training split).
        config: the `TrainConfig`.
        out_dir: run directory for checkpoints (None: keep nothing on disk).
        callbacks: logging, progress, evaluation, previews (run on rank 0).
        resume: continue from the checkpoint in ``out_dir`` when there is one (its newest
            complete one: see `genmodels.training.checkpoint`).
        override: on ``resume``, apply train settings that differ from the run's saved ones
            (and record them) instead of refusing; see `genmodels.training.resume`.
        budget: the wall-clock allowance (None: no limit); its clock started when it was made.

    Returns:
        the final `TrainState` (``state.model`` holds the raw weights, ``state.ema`` the EMA).

    Raises:
        TrainingDivergedError: a loss became NaN or infinite (the last checkpoint is kept).
        CheckpointError: ``resume`` found a checkpoint of another method or shape.
        ConfigError: ``resume`` with changed train settings and no ``override``, or with
            another target or model config.
        RunLockedError: another process is writing ``out_dir`` (it holds the run's lock).
        ConfigError: a class-conditional model on a target without (enough) labels.

    Example:
        >>> from genmodels.models import Flow, FlowConfig  # doctest: +SKIP
        >>> flow = Flow(FlowConfig(), (2,))  # doctest: +SKIP
        >>> target = get_target("two_moons")  # doctest: +SKIP
        >>> state = fit(flow, target, TrainConfig(steps=500), budget=Budget(60))  # doctest: +SKIP
        >>> state.planned_steps, state.stopped_by_budget  # doctest: +SKIP
    """
    out = Path(out_dir) if out_dir is not None else None
    info = _dist_info(config)
    with exclusive_run(out if info.rank == 0 else None):  # the one writer, until it returns
        run = _setup(model, target, config, out, resume, info, override)
        state = _train(run, target, callbacks, budget if budget is not None else Budget())
    model.eval()
    return state


def _train(run: _Run, target: Target, callbacks: Sequence[Callback], budget: Budget) -> TrainState:
    """`fit`'s loop: steps, budget, checkpoints, callbacks."""
    model, config, out = run.model, run.config, run.out
    planner = StepPlanner(budget, start=run.start, planned=config.steps, min_steps=config.min_steps)
    state = TrainState(
        model, run.ema, target, config, out, run.info, step=run.start, start_step=run.start,
        planned_steps=config.steps,
    )  # fmt: skip
    active = list(callbacks) if run.info.rank == 0 else []
    for cb in active:
        cb.on_start(state)
    try:
        while state.step < state.planned_steps and not state.stopped_by_budget:
            _train_step(run, state)
            _keep_to_budget(run, planner, state)
            # Callbacks first (the step's metrics.jsonl row exists before the checkpoint that
            # a resume would continue after, and evaluation's draws are in its RNG state);
            # the checkpoint is written even when a callback fails.
            try:
                for cb in active:
                    cb.on_step(state)
            finally:
                if state.step % config.checkpoint_every == 0 or state.is_last:
                    _checkpoint(run, state)
        if run.start >= config.steps and not run.resumed:
            _checkpoint(run, state)  # steps=0: still leave a loadable run directory
    finally:
        for cb in active:
            cb.on_end(state)
    return state
