"""Checkpoints: safetensors for tensors, JSON for everything else; nothing is unpickled.

A run directory holds

- ``config.json`` — method, model and train configs, target, event shape, step, seed, and
  ``checkpoint_set``: the name of the current checkpoint set;
- ``checkpoints/step-NNNNNNNN-<hex>/`` — that set: ``model.safetensors`` (the weights,
  ``model.*``, and their EMA, ``ema.*``), ``training_state.safetensors`` and
  ``training_state.json`` (optimiser moments, scheduler state and random-generator states,
  so that ``--resume`` continues bit-for-bit);
- ``model.safetensors`` — the current set's weights again (a hard link, or a copy where
  links are not possible), for tools that read the weights by their usual name;
- ``metrics.jsonl``, ``samples.png``, ``.genmodels.lock`` (`genmodels.training.rundir`).

The commit protocol makes a checkpoint crash-consistent: a new set is written into a new
directory (every file through `genmodels.io.atomic_path`, then the directory is synced);
then ``config.json``, which names the new set, replaces the old one in one atomic rename —
the commit; only then is ``model.safetensors`` re-linked and the superseded set removed.
A process killed at any instant leaves a ``config.json`` naming a complete set (the old one
or the new one), plus perhaps an uncommitted set, a superseded set or temporaries, which
`tidy_run_dir` removes when the next writer starts. Every file still records its step, so
a set damaged by hand is reported, not half-loaded.

Run directories written before sets existed (``config.json`` without ``checkpoint_set``,
the files beside it) load and resume as they are; their first new checkpoint converts them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from genmodels.catalogue import get_method
from genmodels.errors import CheckpointError
from genmodels.io import TEMP_MARKER, atomic_path, write_json
from genmodels.training.config import check_run_config
from genmodels.training.rundir import idle_run

__all__ = [
    "CHECKPOINT_FORMAT",
    "CONFIG_FILE",
    "MODEL_FILE",
    "SETS_DIR",
    "has_checkpoint",
    "load_model",
    "load_training_state",
    "read_checkpoint_config",
    "save_checkpoint",
    "tidy_run_dir",
]

CHECKPOINT_FORMAT = "genmodels-checkpoint"
CHECKPOINT_VERSION = 1
CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
SETS_DIR = "checkpoints"
_STATE_FILE = "training_state.safetensors"
_STATE_JSON = "training_state.json"
_SET_NAME = re.compile(r"step-[0-9]{8,}-[0-9a-f]{8}")


def _write_tensors(path: Path, tensors: dict[str, Tensor], step: int) -> None:
    # safetensors refuses views and shared storage: store independent contiguous CPU copies.
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": CHECKPOINT_FORMAT, "step": str(step)})


def _optimizer_to_json(
    name: str, state: dict[str, Any], tensors: dict[str, Tensor]
) -> dict[str, Any]:
    per_param: dict[str, dict[str, Any]] = {}
    for idx, entries in state["state"].items():
        row: dict[str, Any] = {}
        for key, value in entries.items():
            if isinstance(value, Tensor):
                tensor_name = f"opt.{name}.{idx}.{key}"
                tensors[tensor_name] = value
                row[key] = {"tensor": tensor_name}
            else:
                row[key] = {"value": value}
        per_param[str(idx)] = row
    return {"state": per_param, "param_groups": state["param_groups"]}


def _optimizer_from_json(obj: dict[str, Any], tensors: dict[str, Tensor]) -> dict[str, Any]:
    state = {
        int(idx): {
            key: tensors[v["tensor"]] if "tensor" in v else v["value"] for key, v in row.items()
        }
        for idx, row in obj["state"].items()
    }
    groups = [
        {k: tuple(v) if k == "betas" else v for k, v in group.items()}
        for group in obj["param_groups"]
    ]
    return {"state": state, "param_groups": groups}


# -- the layout and its commit ------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    """Make the names in ``path`` durable (renames and new files survive a power cut)."""
    with contextlib.suppress(OSError):  # not every file system lets a directory be synced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _new_set(out: Path, step: int) -> Path:
    """A new, empty set directory ``checkpoints/step-NNNNNNNN-<hex>`` (never reused)."""
    sets = out / SETS_DIR
    sets.mkdir(parents=True, exist_ok=True)
    while True:
        path = sets / f"step-{step:08d}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def _set_files(out: Path, cfg: dict[str, Any]) -> dict[str, Path]:
    """The files of the set ``cfg`` (a parsed config.json) names: model, state, state_json."""
    name = cfg.get("checkpoint_set")
    if name is None:  # written before sets existed: the files sit beside config.json
        base = out
    elif isinstance(name, str) and _SET_NAME.fullmatch(name):
        base = out / SETS_DIR / name
    else:
        raise CheckpointError(f"{out}/{CONFIG_FILE} names no valid checkpoint set: {name!r}")
    return {
        "model": base / MODEL_FILE,
        "state": base / _STATE_FILE,
        "state_json": base / _STATE_JSON,
    }


def _publish_weights(out: Path, source: Path) -> None:
    """Make ``out/model.safetensors`` the file ``source`` (a hard link; a copy if need be)."""
    top = out / MODEL_FILE
    with contextlib.suppress(OSError):
        if top.is_file() and os.path.samefile(top, source):
            return
    with atomic_path(top) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:  # no hard links here (some network or FAT file systems)
            shutil.copyfile(source, tmp)


def _prune(out: Path, keep: str | None) -> None:
    """Remove every set but ``keep`` and, once a set is current, pre-set state files."""
    sets = out / SETS_DIR
    if sets.is_dir():
        for entry in sets.iterdir():
            if entry.name != keep:
                _remove(entry)
    if keep is not None:
        for name in (_STATE_FILE, _STATE_JSON):
            (out / name).unlink(missing_ok=True)


def _remove_temporaries(directory: Path) -> None:
    """Remove what interrupted `genmodels.io.atomic_path` writes left (`TEMP_MARKER` names)."""
    if directory.is_dir():
        for entry in directory.iterdir():
            if entry.name.startswith(".") and TEMP_MARKER in entry.name:
                _remove(entry)


def tidy_run_dir(out_dir: str | Path) -> None:
    """Remove what a killed writer left in a run directory; call only as its writer.

    Temporaries go, and so does every set that ``config.json`` does not name (uncommitted
    or superseded); ``model.safetensors`` is re-linked to the current set. A ``config.json``
    that cannot be read leaves every set in place: nothing it might name is deleted.
    """
    out = Path(out_dir)
    if not out.is_dir():
        return
    _remove_temporaries(out)
    keep = None
    if has_checkpoint(out):
        try:
            cfg = read_checkpoint_config(out)
            files = _set_files(out, cfg)
        except CheckpointError:
            return
        keep = cfg.get("checkpoint_set")
        if keep is not None:
            _remove_temporaries(files["model"].parent)
            if files["model"].is_file():
                _publish_weights(out, files["model"])
    _prune(out, keep)


def save_checkpoint(
    out_dir: str | Path,
    *,
    model: nn.Module,
    ema_state: dict[str, Tensor],
    optimizers: dict[str, torch.optim.Optimizer],
    schedulers: dict[str, Any],
    rng_states: dict[str, Tensor],
    step: int,
    config: dict[str, Any],
) -> None:
    """Write a complete checkpoint of a training run into ``out_dir`` and commit it.

    The new set is complete on disk before ``config.json`` names it (see the module
    docstring); the caller must be the run's only writer (`genmodels.training.rundir`).

    Args:
        out_dir: the run directory.
        model: the (unwrapped) model.
        ema_state: the EMA state dict (same keys as the model's).
        optimizers: player name → optimiser.
        schedulers: player name → learning-rate scheduler.
        rng_states: name → generator state (``torch.Generator.get_state()``).
        step: training steps completed.
        config: the run description for ``config.json`` (method, configs, target, seed, ...).
    """
    out = Path(out_dir)
    weights = {f"model.{k}": v for k, v in model.state_dict().items()}
    weights.update({f"ema.{k}": v for k, v in ema_state.items()})
    state_tensors: dict[str, Tensor] = {f"rng.{k}": v for k, v in rng_states.items()}
    state_json = {
        "step": step,
        "optimizers": {
            n: _optimizer_to_json(n, o.state_dict(), state_tensors) for n, o in optimizers.items()
        },
        "schedulers": {n: s.state_dict() for n, s in schedulers.items()},
    }
    set_dir = _new_set(out, step)
    try:
        _write_tensors(set_dir / _STATE_FILE, state_tensors, step)
        write_json(set_dir / _STATE_JSON, state_json)
        _write_tensors(set_dir / MODEL_FILE, weights, step)
        _fsync_dir(set_dir)
        _fsync_dir(set_dir.parent)
    except BaseException:
        _remove(set_dir)  # never committed: the previous set stays current
        raise
    cfg = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **config, "step": step}
    write_json(out / CONFIG_FILE, {**cfg, "checkpoint_set": set_dir.name})  # the commit
    _fsync_dir(out)
    _publish_weights(out, set_dir / MODEL_FILE)
    _prune(out, keep=set_dir.name)


def has_checkpoint(out_dir: str | Path) -> bool:
    """Whether ``out_dir`` holds a checkpoint (a ``config.json``)."""
    return (Path(out_dir) / CONFIG_FILE).is_file()


def read_checkpoint_config(out_dir: str | Path) -> dict[str, Any]:
    """Read and validate ``config.json``; missing, corrupt or foreign → CheckpointError."""
    path = Path(out_dir) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"no checkpoint in {out_dir} (no config.json)")
    try:
        cfg = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"corrupt checkpoint {path}: {e}") from None
    if not isinstance(cfg, dict) or cfg.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a genmodels checkpoint")
    if cfg.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} has unsupported checkpoint version {cfg.get('version')!r}")
    for key in ("method", "model_config", "train_config", "event_shape", "step"):
        if key not in cfg:
            raise CheckpointError(f"{path} lacks {key!r}")
    check_run_config(cfg, path)
    return cfg


# -- reading -------------------------------------------------------------------------------------


def _read_tensors(path: Path, step: int) -> dict[str, Tensor]:
    if not path.is_file():
        raise CheckpointError(f"checkpoint file missing: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"corrupt checkpoint file {path}: {e}") from None
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} was not written by genmodels")
    if metadata.get("step") != str(step):
        raise CheckpointError(
            f"{path} is from step {metadata.get('step')} but config.json says {step} "
            "(interrupted write?)"
        )
    return tensors


def _load_weights(model: nn.Module, tensors: dict[str, Tensor], prefix: str, path: Path) -> None:
    state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not fit this model (written by another version or model?): "
            f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        detail = " ".join(line.strip() for line in str(e).strip().splitlines()[1:3])
        raise CheckpointError(f"{path} does not fit this model: {detail}") from None


def load_training_state(
    out_dir: str | Path,
    *,
    model: nn.Module,
    ema: Any,
    optimizers: dict[str, torch.optim.Optimizer],
    schedulers: dict[str, Any],
) -> tuple[int, dict[str, Tensor]]:
    """Restore a run in place from the current set of ``out_dir`` (as its writer).

    Returns:
        ``(step, rng_states)`` — the steps completed and the saved generator states.
    """
    out = Path(out_dir)
    cfg = read_checkpoint_config(out)
    step = int(cfg["step"])
    files = _set_files(out, cfg)
    weights = _read_tensors(files["model"], step)
    _load_weights(model, weights, "model.", files["model"])
    ema.load_state_dict({k[4:]: v for k, v in weights.items() if k.startswith("ema.")})
    state_tensors = _read_tensors(files["state"], step)
    try:
        state_json = json.loads(files["state_json"].read_text())
        if state_json.get("step") != step:
            raise CheckpointError(f"{files['state_json']} is not from step {step}")
        for name, opt in optimizers.items():
            opt.load_state_dict(_optimizer_from_json(state_json["optimizers"][name], state_tensors))
        for name, sched in schedulers.items():
            sched.load_state_dict(state_json["schedulers"][name])
    except (OSError, json.JSONDecodeError, KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"corrupt training state in {out}: {e!r}") from None
    rng = {k[4:]: v for k, v in state_tensors.items() if k.startswith("rng.")}
    return step, rng


def _current_weights(out: Path) -> tuple[dict[str, Any], dict[str, Tensor], Path]:
    """``(config, tensors, path)`` of the current set, read while a writer may be committing.

    A writer removes the superseded set right after its commit, so a reader that read the
    old ``config.json`` may find its set gone: it then reads the new ``config.json`` again.
    """
    for _ in range(5):
        cfg = read_checkpoint_config(out)
        path = _set_files(out, cfg)["model"]
        try:
            return cfg, _read_tensors(path, int(cfg["step"])), path
        except CheckpointError:
            if read_checkpoint_config(out) == cfg:  # no commit in between: really broken
                raise
    raise CheckpointError(f"{out} kept changing while it was read; try again")


def load_model(
    out_dir: str | Path, *, ema: bool = True, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a trained model from its run directory, ready for sampling.

    Reads the set ``config.json`` names, so a run that is being written or was killed
    mid-checkpoint loads its newest complete checkpoint. A directory no writer holds is
    tidied first (`tidy_run_dir`).

    Args:
        out_dir: a directory written by `genmodels train` / `fit`.
        ema: load the EMA weights (default) instead of the raw ones.
        device: where to put the model.

    Returns:
        ``(model, config)`` with the model in eval mode and ``config`` the parsed config.json.

    Example:
        >>> model, cfg = load_model("runs/flow")  # doctest: +SKIP
        >>> model.sample(1000, generator=torch.Generator().manual_seed(0)).x.shape
    """
    from genmodels.training.config import config_from_dict

    out = Path(out_dir)
    with idle_run(out) as idle, contextlib.suppress(OSError):
        if idle:
            tidy_run_dir(out)
    cfg, weights, path = _current_weights(out)
    model_cls = get_method(cfg["method"], ("map", "diffusion")).build
    try:
        model_config = config_from_dict(model_cls.Config, cfg["model_config"], where="model config")
    except Exception as e:  # a config the model class no longer accepts
        raise CheckpointError(f"{out}/config.json: {e}") from None
    model = model_cls(model_config, tuple(cfg["event_shape"]))
    _load_weights(model, weights, "ema." if ema else "model.", path)
    return model.to(device).eval(), cfg
