"""From names, TOML and flags to a model and its configs (what `genmodels train` parses into)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from genmodels.catalogue import get_method
from genmodels.errors import ConfigError
from genmodels.models.base import GenerativeModel
from genmodels.training.config import TrainConfig, config_from_dict, did_you_mean

__all__ = ["build_model", "model_config", "split_config_values"]


def split_config_values(
    method: str, *sources: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sort config values into ``(model_values, train_values)``, later sources winning.

    Each source maps keys to values: ``{"model": {...}, "train": {...}}`` tables (TOML),
    dotted keys ``"model.hidden"`` / ``"train.lr"`` (flags), or bare keys that name a field
    of exactly one of the two configs. Unknown or ambiguous keys → ConfigError.

    Example:
        >>> split_config_values("flow", {"train": {"lr": 1e-3}}, {"kind": "maf"})
        ({'kind': 'maf'}, {'lr': 0.001})
    """
    model_cls = get_method(method, ("map", "diffusion")).build
    model_fields = {f.name for f in dataclasses.fields(model_cls.Config)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    model_values: dict[str, Any] = {}
    train_values: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        section, dot, name = key.partition(".")
        if dot:
            if section == "model":
                if name not in model_fields:
                    raise ConfigError(
                        f"{method} has no model config key {name!r}"
                        f"{did_you_mean(name, sorted(model_fields))} "
                        f"(known: {', '.join(sorted(model_fields))})"
                    )
                model_values[name] = value
            elif section == "train":
                if name not in train_fields:
                    raise ConfigError(
                        f"no train config key {name!r}{did_you_mean(name, sorted(train_fields))} "
                        f"(known: {', '.join(sorted(train_fields))})"
                    )
                train_values[name] = value
            else:
                raise ConfigError(f"config sections are 'model' and 'train', got {section!r}")
            return
        in_model, in_train = key in model_fields, key in train_fields
        if in_model and in_train:
            raise ConfigError(
                f"{key!r} is both a model and a train key; write model.{key} or train.{key}"
            )
        if not (in_model or in_train):
            hint = did_you_mean(key, sorted(model_fields | train_fields))
            raise ConfigError(
                f"unknown config key {key!r} for {method}{hint} (model keys: "
                f"{', '.join(sorted(model_fields))}; train keys: {', '.join(sorted(train_fields))})"
            )
        (model_values if in_model else train_values)[key] = value

    for source in sources:
        for key, value in source.items():
            if key in ("model", "train") and isinstance(value, dict):
                for sub, v in value.items():
                    put(f"{key}.{sub}", v)
            else:
                put(key, value)
    return model_values, train_values


def model_config(
    method: str, values: dict[str, Any] | None = None, *, num_levels: int | None = None
) -> Any:
    """The ``Config`` of a registered model from config values (unknown keys → ConfigError).

    A config with a ``num_levels`` field gets the data's levels unless it was set explicitly:
    on discrete data (digits) the VAE and flow then dequantise, as their densities need.

    Example:
        >>> model_config("flow", {"kind": "maf"}).kind
        'maf'
    """
    model_cls = get_method(method, ("map", "diffusion")).build
    values = dict(values or {})
    names = {f.name for f in dataclasses.fields(model_cls.Config)}
    if "num_levels" in names and "num_levels" not in values and num_levels:
        values["num_levels"] = int(num_levels)
    return config_from_dict(model_cls.Config, values, where=f"{method} model config")


def build_model(
    method: str,
    event_shape: tuple[int, ...],
    model_values: dict[str, Any] | Any = None,
    *,
    num_levels: int | None = None,
    seed: int | None = None,
) -> GenerativeModel:
    """Build a registered model from config values or a ready ``Config`` (see `model_config`).

    ``seed`` seeds the weight initialisation.

    Example:
        >>> build_model("flow", (2,), {"kind": "maf"}, seed=0).config.kind
        'maf'
    """
    model_cls = get_method(method, ("map", "diffusion")).build
    config = model_values
    if not isinstance(config, model_cls.Config):
        config = model_config(method, model_values, num_levels=num_levels)
    if seed is not None:
        torch.manual_seed(seed)
    return model_cls(config, tuple(event_shape))
