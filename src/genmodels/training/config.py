"""`TrainConfig` and the config plumbing shared by the CLI: dataclass ↔ dict ↔ TOML/flags."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from genmodels.errors import ConfigError

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = [
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "load_toml",
    "parse_set_items",
]

C = TypeVar("C")


@dataclass
class TrainConfig:
    """How to train: optimiser, schedule, EMA, precision, logging and checkpoint cadence.

    Attributes:
        steps: training steps (for multi-player models: generator steps).
        batch_size: batch size per process.
        lr: peak AdamW learning rate (a player may override it).
        betas: AdamW betas (a player may override them).
        weight_decay: AdamW decoupled weight decay.
        warmup_steps: linear learning-rate warm-up from 0.
        min_lr_ratio: cosine decay ends at ``lr * min_lr_ratio``.
        grad_clip: clip the global gradient norm per player (0: off).
        ema_decay: EMA of weights, ``θ̄ ← d θ̄ + (1 - d) θ`` with ``d = min(ema_decay,
            (1 + t) / (10 + t))`` (0: off, the EMA copy equals the weights).
        mixed_precision: ``"auto"`` (bf16 autocast on CUDA, off elsewhere), ``"bf16"``, ``"off"``.
        checkpoint_every: write a checkpoint every N steps (and always at the end).
        log_every: write a `metrics.jsonl` line every N steps.
        eval_every: run evaluation callbacks every N steps (0: only at the end).
        eval_samples: samples drawn by the evaluation callback.
        seed: seeds weights, data order and training noise.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``.
        progress: show a tqdm progress bar.
    """

    steps: int = 5000
    batch_size: int = 256
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    mixed_precision: str = "auto"
    checkpoint_every: int = 1000
    log_every: int = 50
    eval_every: int = 0
    eval_samples: int = 2000
    seed: int = 0
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1:
            raise ConfigError("steps must be >= 0 and batch_size >= 1")
        if self.mixed_precision not in ("auto", "bf16", "off"):
            raise ConfigError(
                f"mixed_precision must be auto, bf16 or off, got {self.mixed_precision!r}"
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}")


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check and convert one TOML/JSON value to the annotated type (tuples from lists)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"bad value for {key!r}: {value!r}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key!r} takes a list, got {value!r}")
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], key) for v in value)
        if len(args) != len(value):
            raise ConfigError(f"{key!r} takes {len(args)} values, got {len(value)}")
        return tuple(_coerce(v, a, key) for v, a in zip(value, args, strict=True))
    if origin is typing.Literal:
        if value not in typing.get_args(annotation):
            options = typing.get_args(annotation)
            raise ConfigError(f"{key!r} must be one of {options}, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key!r} takes true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key!r} takes an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key!r} takes a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key!r} takes a string, got {value!r}")
        return value
    return value


def config_from_dict(cls: type[C], values: dict[str, Any], *, where: str = "config") -> C:
    """Build dataclass ``cls`` from a dict, type-checking every key; unknown keys → ConfigError.

    Example:
        >>> config_from_dict(TrainConfig, {"steps": 10, "betas": [0.5, 0.9]}).betas
        (0.5, 0.9)
    """
    types_ = _field_types(cls)
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(
            f"unknown {where} key(s) {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(sorted(names))})"
        )
    kwargs = {k: _coerce(v, types_[k], k) for k, v in values.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"bad {where}: {e}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-able dict of a config dataclass (tuples become lists)."""
    return {
        k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()
    }


def apply_overrides(config: C, values: dict[str, Any], *, where: str = "config") -> C:
    """A copy of ``config`` with ``values`` replaced (checked like `config_from_dict`)."""
    merged = {**config_to_dict(config), **values}
    return config_from_dict(type(config), merged, where=where)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file; a missing or malformed file → ConfigError."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"no such config file: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"cannot parse {path}: {e}") from None


def parse_set_items(items: list[str]) -> dict[str, Any]:
    """Parse ``["train.lr=3e-4", "model.hidden=64", "kind=nsf"]`` into ``{key: value}``.

    Values use TOML syntax (``1e-3``, ``true``, ``[64, 64]``, ``"nsf"``); a bare word that is
    not valid TOML is taken as a string, so ``kind=nsf`` works unquoted.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set takes key=value, got {item!r}")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        out[key] = value
    return out
