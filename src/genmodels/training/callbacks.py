"""Callbacks for `fit`: progress bar, metrics.jsonl, TensorBoard, evaluation, sample previews."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genmodels.errors import NotApplicableError
from genmodels.io import atomic_write_text, to_jsonable
from genmodels.training.loop import Callback, TrainState

__all__ = [
    "Evaluate",
    "JsonlLogger",
    "ProgressBar",
    "SamplePreview",
    "TensorBoardLogger",
    "check_tensorboard",
    "default_callbacks",
]


class ProgressBar(Callback):
    """A tqdm bar with each player's loss; tqdm shows it/s."""

    def on_start(self, state: TrainState) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=state.config.steps,
            initial=state.start_step,
            desc="train",
            dynamic_ncols=True,
            disable=None,  # no bar when stderr is not a terminal (CI logs, pipes)
        )

    def on_step(self, state: TrainState) -> None:
        if self.bar.total != state.planned_steps:  # a time budget re-planned the run
            self.bar.total = state.planned_steps
        self.bar.update(1)
        if state.step % 10 == 0 or state.is_last:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in state.losses.items()}, refresh=False)

    def on_end(self, state: TrainState) -> None:
        self.bar.close()


def _row_step(line: str) -> float:
    """The step of a metrics.jsonl row; a damaged row counts as past every checkpoint."""
    try:
        step = json.loads(line).get("step", 0)
    except (json.JSONDecodeError, AttributeError):
        return float("inf")
    return step if isinstance(step, int) else float("inf")


class JsonlLogger(Callback):
    """Appends one JSON line every ``every`` steps (and whenever a callback logged metrics).

    Lines are strict JSON (`genmodels.io.to_jsonable`: a NaN metric is written as null).

    Each line: ``step``, ``seconds``, ``loss/<player>`` (mean since the previous line),
    ``lr/<player>`` and whatever other callbacks put in ``state.logs``.
    """

    def __init__(self, path: str | Path, every: int = 50) -> None:
        self.path = Path(path)
        self.every = max(1, every)
        self._sums: dict[str, float] = {}
        self._count = 0

    def on_start(self, state: TrainState) -> None:
        if state.start_step == 0:
            atomic_write_text(self.path, "")
        elif self.path.exists():  # drop lines past the checkpoint we resume from
            lines = [ln for ln in self.path.read_text().splitlines() if ln.strip()]
            keep = [ln for ln in lines if _row_step(ln) <= state.start_step]
            atomic_write_text(self.path, "".join(ln + "\n" for ln in keep))

    def on_step(self, state: TrainState) -> None:
        for k, v in state.losses.items():
            self._sums[k] = self._sums.get(k, 0.0) + v
        self._count += 1
        if state.step % self.every and not state.logs and not state.is_last:
            return
        row: dict[str, Any] = {"step": state.step, "seconds": round(state.seconds, 3)}
        row.update({f"loss/{k}": v / self._count for k, v in self._sums.items()})
        row.update({f"lr/{k}": v for k, v in state.lr.items()})
        row.update(state.logs)
        with open(self.path, "a") as f:  # one line appended: readers see whole lines
            f.write(json.dumps(to_jsonable(row), allow_nan=False) + "\n")
        self._sums, self._count = {}, 0


def check_tensorboard() -> None:
    """Raise `NotApplicableError` (one line: how to install it) unless TensorBoard is usable.

    TensorBoard is an extra (``pip install 'genmodels[tensorboard]'``): logging to it is
    asked for explicitly (``genmodels train --tensorboard``), and then its absence is an
    error before the run starts, not a run that silently logs nothing.
    """
    try:
        import torch.utils.tensorboard  # noqa: F401  (needs the tensorboard package)
    except ImportError:
        raise NotApplicableError(
            "TensorBoard logging needs the tensorboard package: "
            "pip install 'genmodels[tensorboard]'"
        ) from None


class TensorBoardLogger(Callback):
    """Writes each player's loss and learning rate, and ``state.logs``, to TensorBoard.

    Scalars are named as in metrics.jsonl (``loss/<player>``, ``lr/<player>``,
    ``eval/<metric>``); view them with ``tensorboard --logdir RUN/tensorboard``.

    Raises:
        NotApplicableError: the tensorboard package is not installed (`check_tensorboard`).
    """

    def __init__(self, log_dir: str | Path, every: int = 50) -> None:
        check_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(log_dir))
        self.every = max(1, every)

    def on_step(self, state: TrainState) -> None:
        if state.step % self.every == 0 or state.logs or state.is_last:
            scalars = {
                **{f"loss/{k}": v for k, v in state.losses.items()},
                **{f"lr/{k}": v for k, v in state.lr.items()},
                **state.logs,
            }
            for k, v in scalars.items():
                self.writer.add_scalar(k, v, state.step)

    def on_end(self, state: TrainState) -> None:
        self.writer.close()


def _ema_samples(
    state: TrainState, n: int, seed: int, options: dict[str, Any] | None = None
) -> Tensor:
    with torch.no_grad(), state.ema.applied(state.model) as model:
        model.eval()
        x = model.sample(n, generator=torch.Generator().manual_seed(seed), **(options or {})).x
        model.train()
    return x.cpu()


class Evaluate(Callback):
    """Scores EMA samples every ``every`` steps (and at the end) with any metrics function.

    Args:
        metrics: ``metrics(x, target, seed=...) -> {name: float}``, e.g.
            `genmodels.metrics.evaluate_samples`.
        every: steps between evaluations (0: only at the end).
        n: samples per evaluation.
        seed: sampling and metric seed (fixed, so evaluations are comparable over time).
        sample: options of ``model.sample`` (e.g. the kind's defaults,
            `genmodels.training.defaults.kind_defaults`).
    """

    def __init__(
        self,
        metrics: Callable[..., dict[str, float]],
        every: int = 0,
        n: int = 2000,
        seed: int = 0,
        sample: dict[str, Any] | None = None,
    ) -> None:
        self.metrics, self.every, self.n, self.seed = metrics, every, n, seed
        self.sample = dict(sample or {})
        self.last: dict[str, float] = {}

    def on_step(self, state: TrainState) -> None:
        if not (state.is_last or (self.every and state.step % self.every == 0)):
            return
        x = _ema_samples(state, self.n, self.seed, self.sample)
        result = self.metrics(x, state.target, seed=self.seed)
        self.last = {k: float(v) for k, v in result.items() if isinstance(v, int | float)}
        state.logs.update({f"eval/{k}": v for k, v in self.last.items()})


class SamplePreview(Callback):
    """Writes ``samples.png`` from the EMA weights: an 8x8 image grid, or a 2-D scatter
    (``sample``: options of ``model.sample``)."""

    def __init__(
        self,
        path: str | Path,
        every: int = 0,
        n: int | None = None,
        seed: int = 0,
        sample: dict[str, Any] | None = None,
    ) -> None:
        self.path, self.every, self.n, self.seed = Path(path), every, n, seed
        self.sample = dict(sample or {})

    def on_step(self, state: TrainState) -> None:
        if not (state.is_last or (self.every and state.step % self.every == 0)):
            return
        from genmodels.report.animate import save_scatter
        from genmodels.report.grid import save_image_grid

        image = len(state.model.event_shape) == 3
        n = self.n or (64 if image else 2000)  # an 8x8 grid, or a dense scatter
        x = _ema_samples(state, n, self.seed, self.sample)
        if x.ndim == 4:
            save_image_grid(x, self.path, nrow=max(1, int(n**0.5)))
        elif x.shape[-1] == 2:
            save_scatter(x, self.path)


def default_callbacks(
    out_dir: str | Path | None,
    config: Any,
    *,
    metrics: Callable[..., dict[str, float]] | None = None,
    preview: bool = True,
    sample: dict[str, Any] | None = None,
    tensorboard: bool = False,
) -> list[Callback]:
    """Progress bar, evaluation (when ``metrics`` is given), preview, metrics.jsonl and, with
    ``tensorboard`` (off by default; an extra), TensorBoard logs in ``out_dir/tensorboard``.

    ``sample``: options of ``model.sample`` for the evaluation and the preview.

    Raises:
        NotApplicableError: ``tensorboard`` is asked for but not installed.
    """
    callbacks: list[Callback] = []
    if config.progress:
        callbacks.append(ProgressBar())
    if metrics is not None:
        callbacks.append(
            Evaluate(metrics, config.eval_every, config.eval_samples, config.seed, sample)
        )
    if out_dir is not None:
        out = Path(out_dir)
        if preview:
            callbacks.append(SamplePreview(out / "samples.png", config.eval_every, sample=sample))
        callbacks.append(JsonlLogger(out / "metrics.jsonl", config.log_every))
        if tensorboard:
            callbacks.append(TensorBoardLogger(out / "tensorboard", config.log_every))
    return callbacks
