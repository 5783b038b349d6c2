"""Checkpoints: safetensors for tensors, JSON for everything else; nothing is unpickled.

A checkpoint directory holds

- ``model.safetensors`` — the weights (``model.*``) and their EMA (``ema.*``);
- ``config.json`` — method, model and train configs, target, event shape, step, seed;
- ``training_state.safetensors`` + ``training_state.json`` — optimiser moments, scheduler
  state and random-generator states, so that `--resume` continues bit-for-bit.

Every file is written atomically (`genmodels.io.atomic_path`); ``config.json`` goes last and
every file records the step, so a directory caught between two writes is detected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from genmodels.catalogue import get_method
from genmodels.errors import CheckpointError
from genmodels.io import atomic_path, write_json

__all__ = [
    "CHECKPOINT_FORMAT",
    "has_checkpoint",
    "load_model",
    "load_training_state",
    "read_checkpoint_config",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "genmodels-checkpoint"
CHECKPOINT_VERSION = 1


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
    """Write a complete checkpoint of a training run into ``out_dir`` (atomically per file).

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
    out.mkdir(parents=True, exist_ok=True)
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
    cfg = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **config, "step": step}
    # config.json goes last: a directory caught between two writes has files of two steps,
    # which the step recorded in every file reveals.
    _write_tensors(out / "training_state.safetensors", state_tensors, step)
    write_json(out / "training_state.json", state_json)
    _write_tensors(out / "model.safetensors", weights, step)
    write_json(out / "config.json", cfg)


def has_checkpoint(out_dir: str | Path) -> bool:
    """Whether ``out_dir`` holds a checkpoint (a ``config.json``)."""
    return (Path(out_dir) / "config.json").is_file()


def read_checkpoint_config(out_dir: str | Path) -> dict[str, Any]:
    """Read and validate ``config.json``; missing, corrupt or foreign → CheckpointError."""
    path = Path(out_dir) / "config.json"
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
    return cfg


def _read_tensors(path: Path, step: int) -> dict[str, Tensor]:
    if not path.is_file():
        raise CheckpointError(f"checkpoint file missing: {path}")
    try:
        from safetensors import safe_open

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
    """Restore a run in place from ``out_dir``.

    Returns:
        ``(step, rng_states)`` — the steps completed and the saved generator states.
    """
    out = Path(out_dir)
    cfg = read_checkpoint_config(out)
    step = int(cfg["step"])
    weights = _read_tensors(out / "model.safetensors", step)
    _load_weights(model, weights, "model.", out / "model.safetensors")
    ema.load_state_dict({k[4:]: v for k, v in weights.items() if k.startswith("ema.")})
    state_tensors = _read_tensors(out / "training_state.safetensors", step)
    try:
        state_json = json.loads((out / "training_state.json").read_text())
        if state_json.get("step") != step:
            raise CheckpointError(f"{out}/training_state.json is not from step {step}")
        for name, opt in optimizers.items():
            opt.load_state_dict(_optimizer_from_json(state_json["optimizers"][name], state_tensors))
        for name, sched in schedulers.items():
            sched.load_state_dict(state_json["schedulers"][name])
    except (OSError, json.JSONDecodeError, KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"corrupt training state in {out}: {e!r}") from None
    rng = {k[4:]: v for k, v in state_tensors.items() if k.startswith("rng.")}
    return step, rng


def load_model(
    out_dir: str | Path, *, ema: bool = True, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a trained model from its checkpoint directory, ready for sampling.

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
    cfg = read_checkpoint_config(out)
    model_cls = get_method(cfg["method"], ("map", "diffusion")).build
    try:
        model_config = config_from_dict(model_cls.Config, cfg["model_config"], where="model config")
    except Exception as e:  # a config the model class no longer accepts
        raise CheckpointError(f"{out}/config.json: {e}") from None
    model = model_cls(model_config, tuple(cfg["event_shape"]))
    weights = _read_tensors(out / "model.safetensors", int(cfg["step"]))
    _load_weights(model, weights, "ema." if ema else "model.", out / "model.safetensors")
    return model.to(device).eval(), cfg
