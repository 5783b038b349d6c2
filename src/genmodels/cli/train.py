"""`genmodels train`, `genmodels sample` and `genmodels likelihood`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
import typer

from genmodels.cli.app import app, echo_json
from genmodels.errors import CheckpointError, ConfigError, GenmodelsError, InvalidInputError

_SEED_HELP = "Random seed (default: 0, or the checkpoint's on --resume)."
_RESUME_HELP = (
    "Continue from the newest complete checkpoint in --out, with the run's own settings; "
    "--steps may grow (to extend the run), other changed train settings need --override."
)
_N_HELP = "Number of samples (-n under torchrun, whose own parser takes --n for --nnodes)."
_BATCH_HELP = (
    "Samples per chunk (default 1000, images 250): each chunk's noise is seeded by (seed, "
    "chunk), so the samples depend on it but not on the number of torchrun ranks."
)
_OVERRIDE_HELP = (
    "With --resume: apply train settings (--set train.lr=...) that differ from the run's, "
    "and record them in config.json. The target and model config never change."
)
_SHOW_CONFIG_HELP = (
    "Print every model and train setting of METHOD with its default and one line of help, "
    "as TOML to save and pass back with --config, and exit (--data, --config and --set "
    "are applied when given; no --out needed)."
)
_TENSORBOARD_HELP = (
    "Also log losses, learning rates and evaluations to DIR/tensorboard "
    "(needs pip install 'genmodels[tensorboard]')."
)


def _show_config(method: str, data: str | None, config: Path | None, set_: list[str]) -> str:
    """The TOML `--show-config` prints: the method's model config and the train config that
    ``train`` would start from, each key under its help line (`genmodels.training.config_help`).

    Values given with ``--config``/``--set`` are applied; with ``--data`` the defaults of
    the data's kind (`genmodels.training.defaults.kind_defaults`) and its own values
    (``num_levels``) too, and without it those keys are printed commented out, so
    that passing the file back never pins what the data would set.
    """
    from genmodels.training import TrainConfig
    from genmodels.training.config import config_from_dict, load_toml, parse_set_items
    from genmodels.training.config_help import settings_toml
    from genmodels.training.defaults import kind_defaults
    from genmodels.training.setup import model_config, split_config_values

    toml = load_toml(config) if config is not None else {}
    model_values, train_values = split_config_values(method, toml, parse_set_items(set_))
    num_levels = None
    if data is not None:  # the data's kind's defaults, under the given values, as in a run
        from genmodels.targets import get_target

        target = get_target(data)
        num_levels = target.num_levels
        defaults = kind_defaults(method, target.kind)
        model_values, train_values = _under(defaults, model_values, train_values)
    model = model_config(method, model_values, num_levels=num_levels)
    train = config_from_dict(TrainConfig, train_values, where="train config")
    given = ", ".join(a for a, v in (("--data", data), ("--config", config), ("--set", set_)) if v)
    header = (
        f"genmodels train {method}: every setting, at its default"
        f"{f' with {given} applied' if given else ''}, under one line of help.\n"
        "Save it, edit it, pass it back (keys left out keep their defaults):\n"
        f"  genmodels train {method} --show-config > {method}.toml\n"
        f"  genmodels train {method} --data TARGET --out DIR --config {method}.toml\n"
        "One key from the command line: --set model.KEY=VALUE or --set train.KEY=VALUE."
    )
    leave_out = {} if data is not None else {"model": ("num_levels",)}  # the data sets them
    return settings_toml({"model": model, "train": train}, header=header, leave_out=leave_out)


def _under(
    defaults: dict[str, Any], model_values: dict[str, Any], train_values: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``model_values`` and ``train_values`` over a kind's ``defaults`` (`kind_defaults`)."""
    return (
        {**defaults.get("model", {}), **model_values},
        {**defaults.get("train", {}), **train_values},
    )


def _metrics_function():
    """`genmodels.metrics.evaluate_samples` for the evaluation callback; a target it cannot
    score (no exact sampler) skips evaluation with a note instead of failing the run."""
    from genmodels.metrics import evaluate_samples

    def safe(x: torch.Tensor, target: Any, seed: int = 0) -> dict[str, float]:
        try:
            return evaluate_samples(x, target, seed=seed)
        except GenmodelsError as e:  # e.g. a target without an exact sampler
            print(f"genmodels: evaluation skipped: {e}", file=sys.stderr)
            return {}

    return safe


def _resume_values(
    out: Path, method: str, model_values: dict[str, Any], train_values: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's saved configs with the values given on the command line on top.

    Model values must equal the saved ones; which train values may differ is `fit`'s
    decision (`genmodels.training.resume`), made against the saved ``train_config``.
    """
    from genmodels.training.checkpoint import read_checkpoint_config

    saved = read_checkpoint_config(out)
    if saved["method"] != method:
        raise CheckpointError(f"{out} holds a {saved['method']!r} run, not {method!r}")
    changed = {k for k, v in model_values.items() if saved["model_config"].get(k) != v}
    if changed:
        raise ConfigError(f"cannot change model config on --resume: {sorted(changed)}")
    return dict(saved["model_config"]), {**saved["train_config"], **train_values}


def _train_run(
    method: str,
    data: str,
    out: Path,
    config: Path | None,
    set_: list[str],
    flags: dict[str, Any],
    *,
    resume: bool,
    override: bool,
    tensorboard: bool = False,
) -> Any:
    """Parse the configs, build the model and `fit` it (the run's lock is held).

    A fresh run starts from the method's defaults for the target's kind
    (`genmodels.training.defaults.kind_defaults`, the values ``compare`` uses too), under the
    TOML and ``--set`` values; a resumed run from its own saved configs.
    """
    from genmodels.targets import get_target
    from genmodels.training import TrainConfig, default_callbacks, fit
    from genmodels.training.checkpoint import has_checkpoint
    from genmodels.training.config import config_from_dict, load_toml, parse_set_items
    from genmodels.training.defaults import kind_defaults, limited_threads, training_threads
    from genmodels.training.setup import build_model, split_config_values

    toml = load_toml(config) if config is not None else {}
    model_values, train_values = split_config_values(method, toml, parse_set_items(set_), flags)
    target = get_target(data)
    defaults = kind_defaults(method, target.kind)
    fresh = not (resume and has_checkpoint(out))
    if not fresh:
        model_values, train_values = _resume_values(out, method, model_values, train_values)
    else:
        model_values, train_values = _under(defaults, model_values, train_values)
    train_config = config_from_dict(TrainConfig, train_values, where="train config")
    model = build_model(
        method,
        target.event_shape,
        model_values,
        num_levels=target.num_levels,
        seed=train_config.seed,
    )
    with limited_threads(training_threads(target.kind, train_config.device)):
        if fresh and target.kind == "image" and train_config.steps > 0:
            _announce_duration(method, model, target, train_config)
        callbacks = default_callbacks(
            out,
            train_config,
            metrics=_metrics_function(),
            sample=defaults.get("sample"),
            tensorboard=tensorboard,
        )
        return fit(
            model, target, train_config, out, callbacks=callbacks, resume=resume, override=override
        )


def _announce_duration(method: str, model: Any, target: Any, config: Any) -> None:
    """One line on stderr before an image run trains: its steps × the measured s/step."""
    from genmodels.distributed import launched_rank
    from genmodels.training.defaults import estimate_step_seconds, expected_duration_line

    if launched_rank() != 0:  # under torchrun, rank 0 speaks
        return
    seconds = estimate_step_seconds(model, target, config)
    print(f"genmodels: {expected_duration_line(method, config.steps, seconds)}", file=sys.stderr)


def _check_run_options(data: str | None, out: Path | None, tensorboard: bool) -> None:
    """Before anything is read or written: ``--data`` and ``--out`` (optional only for
    ``--show-config``) are given, and TensorBoard, when asked for, is installed."""
    from genmodels.training.callbacks import check_tensorboard

    if data is None or out is None:
        missing = "--data TARGET" if data is None else "--out DIR"
        raise InvalidInputError(f"train needs {missing} (every setting: --show-config)")
    if tensorboard:
        check_tensorboard()  # one line naming the extra to install


@app.command("train")
def train_command(
    method: str = typer.Argument(..., help="Model to train (see `genmodels methods`)."),
    data: str | None = typer.Option(
        None, "--data", help="Target to train on (see `genmodels targets`); required."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Run directory for checkpoints and logs; required."
    ),
    steps: int | None = typer.Option(None, "--steps", help="Training steps."),
    config: Path | None = typer.Option(None, "--config", help="TOML with [model]/[train] keys."),
    set_: list[str] = typer.Option(
        [],
        "--set",
        help="Override a config key: model.hidden=64, train.lr=3e-4, kind=maf "
        "(every key: --show-config).",
    ),
    device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda or mps."),
    resume: bool = typer.Option(False, "--resume", help=_RESUME_HELP),
    override: bool = typer.Option(False, "--override", help=_OVERRIDE_HELP),
    seed: int | None = typer.Option(None, "--seed", help=_SEED_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    show_config: bool = typer.Option(False, "--show-config", help=_SHOW_CONFIG_HELP),
    tensorboard: bool = typer.Option(False, "--tensorboard", help=_TENSORBOARD_HELP),
) -> None:
    """Train a model on a target; writes config.json, model.safetensors, metrics.jsonl.

    Every setting of METHOD, with its default and help: ``genmodels train METHOD
    --show-config`` (TOML: save it, edit it, pass it back with ``--config``).

    The run directory is this process's alone while it runs (a second writer exits 2).
    ``--resume`` continues with the run's saved settings: settings given again with the
    same values are fine, ``--steps`` may grow, and runtime settings (progress, device,
    logging, evaluation and checkpoint cadence) may change; any other changed train setting
    is refused unless ``--override`` is given. Another ``--data`` or model config is refused.
    """
    from genmodels.training.rundir import exclusive_run

    if show_config:
        typer.echo(_show_config(method, data, config, set_), nl=False)
        return
    _check_run_options(data, out, tensorboard)
    if override and not resume:
        raise InvalidInputError("--override only applies with --resume")
    flags: dict[str, Any] = {"progress": progress}
    for key, value in (("steps", steps), ("device", device), ("seed", seed)):
        if value is not None:
            flags[f"train.{key}"] = value
    from genmodels.distributed import launched_rank

    writer = launched_rank() == 0  # under torchrun, rank 0 writes the run
    options = {"resume": resume, "override": override, "tensorboard": tensorboard}
    with exclusive_run(out if writer else None):
        state = _train_run(method, data, out, config, set_, flags, **options)
    if state.dist.distributed:
        import torch.distributed as dist

        dist.barrier()  # the ranks leave together (gloo can abort a rank whose peer left)
        dist.destroy_process_group()
        if state.dist.rank != 0:
            return
    summary = {
        "method": method,
        "target": data,
        "steps": state.step,
        "seconds": round(state.seconds, 2),
        "out": str(out),
        "loss": state.losses,
        "eval": {k[5:]: v for k, v in state.logs.items() if k.startswith("eval/")},
    }
    if as_json:
        echo_json(summary)
    else:
        typer.echo(f"trained {method} on {data} for {state.step} steps -> {out}")


class _Frames:
    """The trajectory `genmodels sample --animate` records: ``keep`` points per frame."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.frames: list[torch.Tensor] = []

    def add(self, x_i: torch.Tensor) -> None:
        self.frames.append(x_i[: self.keep].detach().float().cpu())

    def callback(self, model: Any) -> Any:
        """Diffusion solvers report a `StepState` dict, maps ``(i, x_i)``."""
        if getattr(model, "camp", None) == "diffusion":
            return lambda state: self.add(state["x"])
        return lambda i, x_i: self.add(x_i)

    def save(self, path: Path, method: str) -> None:
        """At most 60 evenly spaced frames, ending with the last, as a GIF."""
        from genmodels.report.animate import save_animation

        if not self.frames:
            raise InvalidInputError(f"{method} reported no trajectory to animate")
        save_animation(self.frames, path, max_frames=60)


# Files `genmodels train` keeps in a run directory; `sample` never writes over them.
_RUN_FILES = frozenset(
    {
        "config.json",
        "model.safetensors",
        "training_state.safetensors",
        "training_state.json",
        "metrics.jsonl",
        "samples.png",
    }
)


def _check_output(path: Path, option: str, run_dir: Path, suffix: str) -> None:
    """Refuse, before anything is computed, an output that would destroy the run being read
    or cannot be written.

    Inside the run directory a known run file, or any existing file that is not a ``suffix``
    (an earlier output of the same kind), is the run's own and stays: checkpoint layouts may
    gain files, so the rule is "existing and foreign", not a fixed list only. The write itself
    replaces ``path`` by a rename (`genmodels.io.atomic_path`), so a symlink at ``path`` is
    replaced, never followed; the destination is therefore ``path``'s resolved parent / name.
    """
    from genmodels.io import check_output_file

    run = run_dir.resolve()
    dest = path.parent.resolve() / path.name
    if dest == run:
        raise InvalidInputError(f"{option} {path} is the run directory; give a file name")
    if run in dest.parents and (
        dest.name in _RUN_FILES or dest.is_dir() or (dest.exists() and dest.suffix != suffix)
    ):
        raise InvalidInputError(
            f"{option} {path} would overwrite a file of the run {run_dir}; write elsewhere"
        )
    check_output_file(path, option)  # not a directory; its parent a writable directory


def _write(path: Path, save: Any) -> None:
    """``save(path)``; an OS error (checked up front, so a full disk or a race) is one line."""
    try:
        save(path)
    except OSError as e:
        raise InvalidInputError(f"cannot write {path}: {e.strerror or e}") from None


def _check_weights(model: torch.nn.Module, run_dir: Path, ema: bool) -> None:
    """A checkpoint with NaN or inf weights (a diverged run) answers nothing: refuse it."""
    values = [t for t in model.state_dict().values() if t.is_floating_point()]
    bad = sum(int((~torch.isfinite(t)).sum()) for t in values)
    if bad:
        which = "EMA weights" if ema else "weights"
        total = sum(t.numel() for t in values)
        raise CheckpointError(
            f"{run_dir} holds {bad} NaN or inf {which} (of {total}): the run diverged; "
            "retrain it with a lower lr" + (" or try --no-ema" if ema else "")
        )


def _check_animation(animate: Path | None, model: Any, run_dir: Path) -> None:
    """Refuse ``--animate`` before sampling when the samples are vectors not in the plane."""
    shape = tuple(model.event_shape)
    if animate is not None and len(shape) == 1 and shape != (2,):
        raise InvalidInputError(
            f"--animate draws points in the plane or images; {run_dir} samples {shape[0]}-D vectors"
        )


def _check_samples(x: torch.Tensor, out: Path) -> None:
    """Refuse to write samples that hold NaN or inf: nothing is written, the count is named."""
    rows = x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(-1, 1)
    bad = int((~torch.isfinite(rows)).any(dim=1).sum())
    if bad:
        raise InvalidInputError(
            f"{bad} of {rows.shape[0]} samples are NaN or inf; nothing was written to {out} "
            "(the model is numerically broken: retrain it, or try another --sampler or --steps)"
        )


def _sample_options(
    model: Any,
    run_dir: Path,
    method: str,
    sampler: str | None,
    steps: int | None,
    label: int | None,
    guidance: float | None,
) -> dict[str, Any]:
    """The options of ``model.sample`` that the command line gave."""
    options: dict[str, Any] = {}
    if label is not None:
        if getattr(model, "num_classes", 0) == 0:
            raise InvalidInputError(
                f"{run_dir} holds a {method} trained without classes; --label needs a "
                "class-conditional model (train it with --set model.num_classes=K)"
            )
        options["labels"] = label
        options["guidance"] = 0.0 if guidance is None else guidance
    if sampler is not None:
        options["sampler"] = sampler
    if steps is not None:
        options["steps"] = steps
    return options


@app.command("sample")
def sample_command(
    run_dir: Path = typer.Argument(..., help="A directory written by `genmodels train`."),
    n: int = typer.Option(1000, "--n", "-n", help=_N_HELP),
    out: Path = typer.Option(..., "--out", help="The .npz to write (array x, nfe, seconds)."),
    sampler: str | None = typer.Option(
        None, "--sampler", help="Solver (diffusion models; any registered one of its families)."
    ),
    steps: int | None = typer.Option(None, "--steps", help="Sampler steps (diffusion models)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    label: int | None = typer.Option(
        None, "--label", help="Class of every sample (class-conditional models)."
    ),
    guidance: float | None = typer.Option(
        None, "--guidance", help="Classifier-free guidance strength w >= 0 (needs --label)."
    ),
    animate: Path | None = typer.Option(None, "--animate", help="Write the trajectory as GIF."),
    ema: bool = typer.Option(True, "--ema/--no-ema", help="Use the EMA weights (default)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
    batch_size: int | None = typer.Option(None, "--batch-size", help=_BATCH_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Sample a trained model; writes FILE.npz (and a GIF of the trajectory with --animate).

    Refused with exit 2 and one line: an output that would overwrite the run's own files, is
    a directory or cannot be written; a checkpoint with NaN or inf weights; and samples that
    come out NaN or inf (their count is named and nothing is written). Under `torchrun`
    the chunks are split over the ranks and rank 0 writes (`genmodels.distributed`).
    """
    from genmodels.checks import check_range, check_seed
    from genmodels.device import resolve_device
    from genmodels.distributed import join, sample_sharded
    from genmodels.memory import check_allocation, tensor_bytes
    from genmodels.targets.data import samples_in_data_units
    from genmodels.training import load_model

    check_seed(seed)
    if n < 1:
        raise InvalidInputError(f"--n must be >= 1, got {n}")
    if steps is not None and steps < 1:
        raise InvalidInputError(f"--steps must be >= 1, got {steps}")
    if batch_size is not None:
        check_range(batch_size, "--batch-size", ge=1, integer=True)
    if guidance is not None and label is None:
        raise InvalidInputError("--guidance needs --label (the class to guide towards)")
    _check_output(out, "--out", run_dir, ".npz")
    if animate is not None:
        _check_output(animate, "--animate", run_dir, ".gif")
    job = join(resolve_device(device))  # under torchrun: this rank's device
    model, cfg = load_model(run_dir, ema=ema, device=job.device)
    check_allocation(tensor_bytes(n, *model.event_shape), f"--n {n} samples")
    _check_animation(animate, model, run_dir)
    _check_weights(model, run_dir, ema)
    options = _sample_options(model, run_dir, cfg["method"], sampler, steps, label, guidance)
    frames = _Frames(64 if len(model.event_shape) == 3 else 2000)  # points shown per frame
    if animate is not None:
        options["callback"] = frames.callback(model)
    samples = sample_sharded(
        model, n, seed=seed, batch_size=batch_size, info=job, progress=not as_json, **options
    )
    if samples is None:  # another rank's samples: rank 0 writes them
        return
    samples = samples_in_data_units(samples, cfg.get("data"))  # a data file's own units
    if label is not None:
        samples.info["label"] = label
    _check_samples(samples.x, out)
    _write(out, samples.save)
    if animate is not None:
        _write(animate, lambda path: frames.save(path, cfg["method"]))
    if as_json:
        summary = {"out": str(out), "n": samples.n, "nfe": samples.nfe, "seconds": samples.seconds}
        if label is not None:
            summary.update(label=label, guidance=options["guidance"])
        echo_json(summary)
    else:
        typer.echo(f"wrote {samples.n} samples ({samples.nfe} NFE) -> {out}")


@app.command("likelihood")
def likelihood_command(
    run_dir: Path = typer.Argument(..., help="A directory written by `genmodels train`."),
    data: str = typer.Option(..., "--data", help="Target whose test set is scored."),
    n: int = typer.Option(10_000, "--n", "-n", help="At most this many test points."),
    seed: int = typer.Option(0, "--seed", help="Seed of dequantisation and bound noise."),
    ema: bool = typer.Option(True, "--ema/--no-ema", help="Use the EMA weights (default)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
    batch_size: int = typer.Option(1000, "--batch-size", help="Test points per batch."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """Test-set negative log-likelihood in nats, and bits/dim (a bound for VAEs); under
    `torchrun` the batches are split over the ranks and rank 0 prints the result."""
    from genmodels.checks import check_range, check_seed
    from genmodels.device import resolve_device
    from genmodels.distributed import join, sharded_nll
    from genmodels.targets import get_target
    from genmodels.targets.data import nll_in_data_units
    from genmodels.training import load_model

    check_seed(seed)
    check_range(batch_size, "--batch-size", ge=1, integer=True)
    model, _ = load_model(run_dir, ema=ema, device=join(resolve_device(device)).device)
    _check_weights(model, run_dir, ema)
    target = get_target(data)
    if tuple(target.event_shape) != tuple(model.event_shape):
        raise InvalidInputError(
            f"{data} has event shape {tuple(target.event_shape)} but the model was trained on "
            f"{tuple(model.event_shape)}"
        )
    result = sharded_nll(
        model, target.test_set(n), num_levels=target.num_levels, seed=seed, batch_size=batch_size
    )
    if result is None:  # another rank's share: rank 0 prints the result
        return
    result = nll_in_data_units(result, target)  # a data file's NLL in its own units
    if as_json:
        echo_json(result)
    else:
        typer.echo(json.dumps(result))
