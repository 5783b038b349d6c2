"""`TrainConfig` and the one path every typed setting goes through: dict/TOML/flags → dataclass.

`config_from_dict` builds a config dataclass from plain values and `apply_overrides` replaces
some fields of one; both coerce each value to its field's annotation (`coerce_value`) and
refuse unknown keys with a did-you-mean hint. The CLI (`genmodels train`, ``--set``), the
checkpoint loader and `compare`'s per-method settings all use them, so a setting is checked
the same way wherever it comes from. Enum-like fields are annotated ``Literal[...]`` and are
checked generically (`check_choices`) instead of by ``if`` chains.

Example:
    >>> apply_overrides(TrainConfig(), {"steps": "300", "betas": [0.5, 0.9]}).steps
    300
    >>> try:
    ...     apply_overrides(TrainConfig(), {"stpes": 3}, where="train config")
    ... except ConfigError as e:
    ...     print(str(e)[:60])
    unknown train config key 'stpes'; did you mean 'steps'? (kno
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

from genmodels.checks import at_least, check_betas, check_range, check_seed
from genmodels.errors import CheckpointError, ConfigError
from genmodels.io import load_toml, parse_toml_value

__all__ = [
    "TrainConfig",
    "apply_overrides",
    "check_choices",
    "check_run_config",
    "coerce_value",
    "config_from_dict",
    "config_to_dict",
    "did_you_mean",
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
        min_steps: steps done whatever a time budget says (see `fit`'s ``budget``): a run cut
            to nothing is worth less than one that overruns a little.
        distributed: join the `torchrun` process group when launched under one; False trains
            in this process alone (a helper network fitted on one rank, e.g. the image
            metrics' classifier inside an evaluation callback).
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
    mixed_precision: Literal["auto", "bf16", "off"] = "auto"
    checkpoint_every: int = 1000
    log_every: int = 50
    eval_every: int = 0
    eval_samples: int = 2000
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    min_steps: int = 0
    distributed: bool = True

    def __post_init__(self) -> None:
        check_choices(self)
        at_least(self, 0, "steps", "min_steps", "warmup_steps", "eval_every", where="train")
        at_least(self, 1, "batch_size", "checkpoint_every", "log_every", where="train")
        at_least(self, 1, "eval_samples", where="train")
        check_range(self.lr, "train.lr", gt=0)
        check_range(self.weight_decay, "train.weight_decay", ge=0)
        check_range(self.grad_clip, "train.grad_clip", ge=0)
        check_range(self.min_lr_ratio, "train.min_lr_ratio", ge=0, le=1)
        check_range(self.ema_decay, "train.ema_decay", ge=0, lt=1)
        check_betas(self.betas, "train.betas")
        check_seed(self.seed, "train.seed")


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``known`` to ``name`` (or ``""``)."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


@functools.cache
def _field_names(cls: type) -> list[str]:
    return [f.name for f in fields(cls) if f.init]  # type: ignore[arg-type]


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except NameError:  # a class whose annotations name something local: only what resolves
        return {f.name: f.type for f in fields(cls) if not isinstance(f.type, str)}


def _check_known(values: Mapping[str, Any], names: list[str], where: str) -> None:
    unknown = [k for k in values if k not in names]
    if not unknown:
        return
    keys = ", ".join(map(repr, unknown))
    hint = did_you_mean(unknown[0], names)
    raise ConfigError(
        f"unknown {where} key{'s' if len(unknown) > 1 else ''} {keys}{hint} "
        f"(known: {', '.join(sorted(names))})"
    )


def check_choices(config: Any) -> None:
    """Check every ``Literal[...]`` field of a config dataclass; ConfigError lists the choices.

    Call it from ``__post_init__`` so that a config built directly (not through
    `config_from_dict`) is checked too.
    """
    hints = _hints(type(config))
    for name in _field_names(type(config)):
        annotation = hints.get(name)
        if typing.get_origin(annotation) is Literal:
            _coerce_literal(getattr(config, name), annotation, name)


# --- coercion of one value to its annotation -------------------------------------------

_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def _fail(key: str, wants: str, value: Any) -> ConfigError:
    return ConfigError(f"{key!r} takes {wants}, got {value!r}")


def _coerce_literal(value: Any, annotation: Any, key: str) -> Any:
    choices = typing.get_args(annotation)
    for choice in choices:
        if value == choice and type(value) is type(choice):
            return choice
    for choice in choices:  # "3" for Literal[3], from a flag
        if isinstance(value, str) and not isinstance(choice, str) and str(choice) == value:
            return choice
    listed = ", ".join(map(repr, choices))
    hint = did_you_mean(value, [c for c in choices if isinstance(c, str)])
    raise ConfigError(f"{key!r} must be one of {listed}, got {value!r}{hint}")


def _coerce_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _fail(key, "true or false", value)


def _coerce_int(value: Any, key: str) -> int:
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value.strip())
        except ValueError:
            raise _fail(key, "an integer", value) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(key, "an integer", value)
    if isinstance(value, float) and not value.is_integer():
        raise _fail(key, "an integer", value)
    return int(value)


def _coerce_float(value: Any, key: str) -> float:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise _fail(key, "a number", value) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(key, "a number", value)
    return float(value)


def _coerce_union(value: Any, annotation: Any, key: str) -> Any:
    options = typing.get_args(annotation)
    if value is None and type(None) in options:
        return None
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return coerce_value(value, option, key)
        except ConfigError as e:
            errors.append(str(e))
    raise ConfigError(errors[0] if errors else f"bad value for {key!r}: {value!r}")


def _coerce_sequence(value: Any, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _fail(key, "a list", value)
    args = typing.get_args(annotation)
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        args = args or (Any,) * len(value)  # a bare ``tuple``
        if len(args) != len(value):
            raise ConfigError(f"{key!r} takes {len(args)} values, got {len(value)}")
        return tuple(coerce_value(v, a, key) for v, a in zip(value, args, strict=True))
    item = args[0] if args else Any
    items = [coerce_value(v, item, key) for v in value]
    return tuple(items) if origin is tuple else items


def _coerce_mapping(value: Any, annotation: Any, key: str) -> dict[Any, Any]:
    if not isinstance(value, Mapping):
        raise _fail(key, "a table", value)
    args = typing.get_args(annotation)
    item = args[1] if len(args) == 2 else Any
    return {k: coerce_value(v, item, f"{key}.{k}") for k, v in value.items()}


def _coerce_class(value: Any, annotation: type, key: str) -> Any:
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if isinstance(value, Mapping):
            return config_from_dict(annotation, dict(value), where=key)
        raise _fail(key, f"a table of {annotation.__name__} fields", value)
    if annotation is Path and isinstance(value, str):
        return Path(value)
    if isinstance(value, annotation):
        return value
    raise _fail(key, f"a {annotation.__name__}", value)


_SCALARS = {bool: _coerce_bool, int: _coerce_int, float: _coerce_float}


def coerce_value(value: Any, annotation: Any, key: str) -> Any:
    """``value`` converted to ``annotation`` or a one-line ConfigError naming ``key``.

    ints from ``"3"`` or ``3.0`` (integral only), floats from ints and numeric strings, bools
    from true/false (also as strings), tuples and lists element by element, nested config
    dataclasses from tables, ``Literal[...]`` checked against its choices, ``X | None``.

    Example:
        >>> coerce_value("3", int, "steps"), coerce_value([1, 2], tuple[float, float], "b")
        (3, (1.0, 2.0))
    """
    if annotation is Any or annotation is typing.Any:
        return value
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value, annotation, key)
    if origin is Literal:
        return _coerce_literal(value, annotation, key)
    if origin in (tuple, list) or origin in (Sequence, typing.Sequence):
        return _coerce_sequence(value, annotation, key)
    if origin in (dict, Mapping):
        return _coerce_mapping(value, annotation, key)
    if annotation in _SCALARS:
        return _SCALARS[annotation](value, key)
    if annotation is str:
        if not isinstance(value, str):
            raise _fail(key, "a string", value)
        return value
    if isinstance(annotation, type):
        return _coerce_class(value, annotation, key)
    return value


# --- the public path ---------------------------------------------------------------------


def _coerce_field(value: Any, annotation: Any, key: str, where: str) -> Any:
    """`coerce_value` for field ``key`` of the config called ``where`` (named in errors)."""
    nested = isinstance(annotation, type) and dataclasses.is_dataclass(annotation)
    if nested and isinstance(value, Mapping):
        return config_from_dict(annotation, value, where=f"{where}.{key}")
    try:
        return coerce_value(value, annotation, key)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def _construct(cls: type[C], kwargs: dict[str, Any], where: str) -> C:
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"bad {where}: {e}") from None


def config_from_dict(cls: type[C], values: Mapping[str, Any], *, where: str = "config") -> C:
    """Build dataclass ``cls`` from a dict, coercing every value (`coerce_value`).

    Raises:
        ConfigError: an unknown key (with a did-you-mean hint), a value of the wrong type or
            outside a ``Literal``'s choices, or one the dataclass itself refuses.

    Example:
        >>> config_from_dict(TrainConfig, {"steps": 10, "betas": [0.5, 0.9]}).betas
        (0.5, 0.9)
    """
    _check_known(values, _field_names(cls), where)
    hints = _hints(cls)
    kwargs = {k: _coerce_field(v, hints.get(k, Any), k, where) for k, v in values.items()}
    return _construct(cls, kwargs, where)


def apply_overrides(config: C, values: Mapping[str, Any], *, where: str = "config") -> C:
    """A copy of ``config`` with ``values`` replaced, checked like `config_from_dict`.

    A table given for a nested config dataclass overrides that config's fields one by one
    (``{"fit": {"steps": 10}}`` keeps the other fields of ``fit``).
    """
    cls = type(config)
    _check_known(values, _field_names(cls), where)
    hints = _hints(cls)
    changes: dict[str, Any] = {}
    for key, value in values.items():
        current = getattr(config, key)
        if dataclasses.is_dataclass(current) and isinstance(value, Mapping):
            changes[key] = apply_overrides(current, value, where=f"{where}.{key}")
        else:
            changes[key] = _coerce_field(value, hints.get(key, Any), key, where)
    try:
        return dataclasses.replace(config, **changes)  # type: ignore[type-var]
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"bad {where}: {e}") from None


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-able dict of a config dataclass (tuples become lists, nested configs tables)."""
    return {k: _plain(v) for k, v in dataclasses.asdict(config).items()}


def check_run_config(cfg: Mapping[str, Any], path: str | Path) -> Mapping[str, Any]:
    """Check the types of a run's ``config.json`` (after its keys were found): a tampered
    file is one `CheckpointError` naming the field, not a traceback deep in model building.

    ``method`` a name, ``model_config``/``train_config`` tables, ``event_shape`` a list of
    integers >= 1, ``step`` an integer >= 0.
    """

    def bad(key: str, wants: str) -> CheckpointError:
        return CheckpointError(f"{path}: {key!r} must be {wants}, got {cfg.get(key)!r}")

    if not isinstance(cfg.get("method"), str):
        raise bad("method", "a method name")
    for key in ("model_config", "train_config"):
        if not isinstance(cfg.get(key), Mapping):
            raise bad(key, "a table of settings")
    shape = cfg.get("event_shape")
    if not isinstance(shape, list) or not shape or not all(_positive_int(d) for d in shape):
        raise bad("event_shape", "a list of integers >= 1")
    step = cfg.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise bad("step", "an integer >= 0")
    return cfg


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


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
        out[key] = parse_toml_value(raw)
    return out
