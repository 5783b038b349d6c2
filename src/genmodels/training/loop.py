"""`fit`: the one training loop every learned model uses.

The loop only draws batches, steps each player's optimiser, keeps the EMA and writes
checkpoints; logging, progress, evaluation and previews are callbacks (`genmodels.training.
callbacks`). Multi-player models (GANs) describe their players through
`GenerativeModel.training_players`; the loop stays the same.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import LambdaLR

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
)
from genmodels.training.config import TrainConfig, config_to_dict
from genmodels.training.distributed import DistInfo, init_distributed
from genmodels.training.ema import EMA

__all__ = ["Callback", "TrainState", "fit", "method_name", "warmup_cosine"]


@dataclass
class TrainState:
    """What callbacks see after every step.

    Attributes:
        step: steps completed.
        losses: player name → loss of its last update in this step.
        lr: player name → current learning rate.
        logs: extra scalars for this step (evaluation callbacks add here, loggers write them).
    """

    model: GenerativeModel
    ema: EMA
    target: Target
    config: TrainConfig
    out_dir: Path | None
    dist: DistInfo
    step: int = 0
    start_step: int = 0
    losses: dict[str, float] = field(default_factory=dict)
    lr: dict[str, float] = field(default_factory=dict)
    logs: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    @property
    def is_last(self) -> bool:
        return self.step >= self.config.steps


class Callback:
    """Hooks called on rank 0 only: ``on_start``, ``on_step`` (after each step), ``on_end``."""

    def on_start(self, state: TrainState) -> None:
        """Called before the first step (after a resume, before the first new step)."""

    def on_step(self, state: TrainState) -> None:
        """Called after every step."""

    def on_end(self, state: TrainState) -> None:
        """Called after the last step and the final checkpoint (also on errors)."""


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float):
    """LR multiplier: linear warm-up to 1, then cosine decay to ``min_ratio`` at the end."""

    def factor(i: int) -> float:
        if i < warmup_steps:
            return (i + 1) / warmup_steps
        progress = min(1.0, (i - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


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

    def __init__(self, model: GenerativeModel, players: list[Player]) -> None:
        super().__init__()
        self.model = model
        self._losses = [p.loss for p in players]

    def forward(self, batch: Tensor, index: int, labels: Tensor | None = None) -> Tensor:
        if labels is None:
            return self._losses[index](batch)
        return self._losses[index](batch, labels=labels)


def _batch_sampler(model: GenerativeModel, target: Target):
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


def fit(
    model: GenerativeModel,
    target: Target,
    config: TrainConfig,
    out_dir: str | Path | None = None,
    *,
    callbacks: Sequence[Callback] = (),
    resume: bool = False,
) -> TrainState:
    """Train ``model`` on batches ``target.sample(batch_size, generator)``.

    A class-conditional model (`GenerativeModel.num_classes` > 0) trains on labelled batches
    ``target.sample_labelled(batch_size, generator)`` through ``loss(batch, labels=labels)``.

    Per step, every player (`GenerativeModel.training_players`) takes ``player.steps``
    AdamW updates on fresh batches, with linear warm-up + cosine decay of the learning rate,
    gradient-norm clipping and bf16 autocast on CUDA; then the EMA is updated and callbacks
    run. Under `torchrun` the model is wrapped in DDP and each rank draws its own data;
    rank 0 writes checkpoints every ``checkpoint_every`` steps and at the end.

    Args:
        model: a registered `GenerativeModel` (its class decides the method name).
        target: where batches come from (image targets sample their training split).
        config: the `TrainConfig`.
        out_dir: run directory for checkpoints (None: keep nothing on disk).
        callbacks: logging, progress, evaluation, previews (run on rank 0).
        resume: continue from the checkpoint in ``out_dir`` when there is one.

    Returns:
        the final `TrainState` (``state.model`` holds the raw weights, ``state.ema`` the EMA).

    Raises:
        TrainingDivergedError: a loss became NaN or infinite (the last checkpoint is kept).
        CheckpointError: ``resume`` found a checkpoint of another method or shape.
        ConfigError: a class-conditional model on a target without (enough) labels.

    Example:
        >>> from genmodels.models import Flow, FlowConfig  # doctest: +SKIP
        >>> flow = Flow(FlowConfig(), (2,))  # doctest: +SKIP
        >>> target = get_target("two_moons")  # doctest: +SKIP
        >>> fit(flow, target, TrainConfig(steps=500), "runs/flow")  # doctest: +SKIP
    """
    if tuple(target.event_shape) != tuple(model.event_shape):
        raise InvalidInputError(
            f"model event shape {model.event_shape} does not match target "
            f"{target.name!r} {tuple(target.event_shape)}"
        )
    draw = _batch_sampler(model, target)
    device = resolve_device(config.device)
    info = init_distributed(device)
    device = info.device
    out = Path(out_dir) if out_dir is not None else None
    method = method_name(model)
    resuming = bool(resume and out is not None and has_checkpoint(out))
    if out is not None and not resume and has_checkpoint(out):
        raise InvalidInputError(
            f"{out} already holds a checkpoint; pass --resume to continue it or pick another --out"
        )

    if not resuming:
        init_gen = torch.Generator().manual_seed(_seed(config.seed, 0, 1))
        model.init_from_data(target.sample(config.batch_size, generator=init_gen))
    model.to(device).train()
    players = model.training_players()
    optimizers = {
        p.name: torch.optim.AdamW(
            p.parameters,
            lr=p.lr if p.lr is not None else config.lr,
            betas=p.betas if p.betas is not None else config.betas,
            weight_decay=config.weight_decay,
        )
        for p in players
    }
    factor = warmup_cosine(config.warmup_steps, config.steps, config.min_lr_ratio)
    schedulers = {name: LambdaLR(opt, factor) for name, opt in optimizers.items()}
    data_gen = torch.Generator().manual_seed(_seed(config.seed, info.rank, 2))
    torch.manual_seed(_seed(config.seed, info.rank, 3))  # training noise (z, ε, t, dequant)

    # DDP broadcasts rank 0's weights and buffers, so the EMA is taken after wrapping.
    wrapped: nn.Module = _PlayerLosses(model, players)
    if info.distributed:
        wrapped = DistributedDataParallel(
            wrapped,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=len(players) > 1,
        )

    ema = EMA(model, config.ema_decay)
    start = 0
    run_config = {
        "method": method,
        "model_config": config_to_dict(model.config),
        "train_config": config_to_dict(config),
        "target": target.name,
        "event_shape": list(model.event_shape),
        "seed": config.seed,
        "world_size": info.world_size,
    }
    if resuming:
        assert out is not None
        saved = read_checkpoint_config(out)
        if saved["method"] != method or list(saved["event_shape"]) != list(model.event_shape):
            raise CheckpointError(
                f"{out} holds a {saved['method']!r} checkpoint of shape {saved['event_shape']}, "
                f"not {method!r} of shape {list(model.event_shape)}"
            )
        start, rng = load_training_state(
            out, model=model, ema=ema, optimizers=optimizers, schedulers=schedulers
        )
        if f"data.{info.rank}" in rng:
            data_gen.set_state(rng[f"data.{info.rank}"])
            torch.set_rng_state(rng[f"torch.{info.rank}"])

    def checkpoint(step: int) -> None:
        if out is None:
            return
        data_states = _gather_rng(data_gen.get_state(), info)
        torch_states = _gather_rng(torch.get_rng_state(), info)
        if info.rank == 0:
            rng_states = {f"data.{r}": s for r, s in enumerate(data_states)}
            rng_states.update({f"torch.{r}": s for r, s in enumerate(torch_states)})
            save_checkpoint(
                out,
                model=model,
                ema_state=ema.state_dict(),
                optimizers=optimizers,
                schedulers=schedulers,
                rng_states=rng_states,
                step=step,
                config=run_config,
            )
        if info.distributed:
            dist.barrier()

    state = TrainState(model, ema, target, config, out, info, step=start, start_step=start)
    active = list(callbacks) if info.rank == 0 else []
    for cb in active:
        cb.on_start(state)
    try:
        for step in range(start, config.steps):
            state.losses = {}
            state.logs = {}
            for index, player in enumerate(players):
                for _ in range(player.steps):
                    batch, labels = draw(config.batch_size, generator=data_gen)
                    batch = batch.to(device)
                    labels = None if labels is None else labels.to(device)
                    with _autocast(config, device):
                        loss = wrapped(batch, index, labels)
                    _check_finite(loss, player.name, step, out, info)
                    model.zero_grad(set_to_none=True)
                    loss.backward()
                    if config.grad_clip > 0:
                        nn.utils.clip_grad_norm_(player.parameters, config.grad_clip)
                    optimizers[player.name].step()
                state.losses[player.name] = float(loss.detach())
                state.lr[player.name] = schedulers[player.name].get_last_lr()[0]
                schedulers[player.name].step()
            ema.update(model, step + 1)
            state.step = step + 1
            # checkpoint before the callbacks, so a failing callback cannot lose the step
            if state.step % config.checkpoint_every == 0 or state.is_last:
                checkpoint(state.step)
            for cb in active:
                cb.on_step(state)
        if start >= config.steps and not resuming:
            checkpoint(start)  # steps=0: still leave a loadable run directory
    finally:
        for cb in active:
            cb.on_end(state)
    model.eval()
    return state


def _check_finite(loss: Tensor, player: str, step: int, out: Path | None, info: DistInfo) -> None:
    bad = (~torch.isfinite(loss.detach())).float().reshape(1)
    if info.distributed:
        dist.all_reduce(bad)  # every rank stops together
    if bad.item() > 0:
        kept = (
            f"the last good checkpoint in {out} is kept"
            if out is not None and has_checkpoint(out)
            else "no checkpoint was written yet"
        )
        raise TrainingDivergedError(
            f"{player} loss became {float(loss.detach())} at step {step + 1}; {kept} "
            "(try a lower lr, grad_clip or mixed_precision=off)"
        )
