"""Settings of a comparison: run-wide `CompareSettings`, and each method's typed settings.

A settings file (``--config FILE.toml``) may set the run-wide keys and any method's keys::

    seed = 1
    n_samples = 2000
    budget_seconds = 300

    [methods.nuts]            # genmodels.mcmc.ChainSettings fields
    draws = 2000

    [methods.ddpm.train]      # TrainConfig fields
    steps = 4000
    [methods.ddpm.model]      # the model's Config fields
    hidden = 256
    [methods.ddpm.sample]     # options of model.sample(...)
    steps = 200

Every method's settings are its catalogue entry's dataclass: chains take `ChainSettings`
(``chains``, ``draws``, ``warmup``, ``kernel_options``), learned models `LearnedSettings`
(``model``, ``train``, ``sample`` tables), hybrids their own (``genmodels.hybrids``
``FlowMHSettings`` / ``NeutraSettings``, with a ``fit`` table). `method_settings` builds
them from the method's defaults for the target's kind (a learned model's own
`kind_defaults`, the chains' and hybrids' table below) and the user's values, all through
one override path (`genmodels.training.config.config_from_dict`: types coerced, unknown keys
answered with a did-you-mean). Unknown top-level keys are errors.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genmodels.catalogue import MethodSpec
from genmodels.errors import ConfigError, InvalidInputError
from genmodels.io import load_toml
from genmodels.targets.base import Target
from genmodels.training.config import TrainConfig, config_from_dict
from genmodels.training.defaults import kind_defaults
from genmodels.training.setup import model_config

__all__ = [
    "CAMP_WEIGHTS",
    "DEFAULT_BUDGET_SECONDS",
    "DEFAULT_METHODS",
    "CompareSettings",
    "LearnedSettings",
    "load_settings",
    "merge",
    "method_settings",
]

# The default `make demo` run: every camp on eight_gaussians in at most 10 minutes on 2 cores.
DEFAULT_METHODS = ("nuts", "mala", "smc", "gan", "vae", "flow", "ncsn", "ddpm", "flow_matching")
DEFAULT_BUDGET_SECONDS = 540.0

# How the budget is shared: a diffusion model needs more training than a map, a chain on a
# 2-D density needs little. Unused time of earlier methods goes to later ones.
CAMP_WEIGHTS = {"chain": 0.5, "map": 1.0, "diffusion": 1.6, "hybrid": 1.0, "density": 1.0}

# Per-(method, target kind) values of the chains and hybrids over their own defaults, sized
# so that the default demo fits DEFAULT_BUDGET_SECONDS on 2 CPU cores. A learned model's
# values are its own (`GenerativeModel.kind_defaults`, read through
# `genmodels.training.defaults.kind_defaults`), the same that `genmodels train` uses; the
# budget caps its steps (keeping its learning-rate schedule whole) on a machine too slow
# for them.
_TARGET_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("nuts", "toy2d"): {"chains": 8, "draws": 500, "warmup": 300},
    ("hmc", "toy2d"): {"chains": 8, "draws": 1000, "warmup": 300},
    ("mala", "toy2d"): {"chains": 8, "draws": 1500, "warmup": 500},
    ("rwmh", "toy2d"): {"chains": 8, "draws": 3000, "warmup": 1000},
    ("ula", "toy2d"): {"chains": 8, "draws": 1500, "warmup": 500},
    # an independence proposal needs every mode: a maximum-likelihood fit on samples
    # (see genmodels.hybrids.run); the proposal is cheap, so many draws cost little
    ("flow_mh", "toy2d"): {"chains": 8, "draws": 2000, "fit": {"steps": 1000}},
    ("neutra_hmc", "toy2d"): {"chains": 8, "draws": 500, "warmup": 300, "fit": {"steps": 1000}},
    # posteriors: a longer fit; fewer NeuTra draws, since every gradient also passes the flow
    # and its draws are nearly independent
    ("neutra_hmc", "posterior"): {"draws": 500, "warmup": 300, "fit": {"steps": 1500}},
    ("flow_mh", "posterior"): {"fit": {"steps": 1500}},
}

_RUN_KEYS = {"seed", "n_samples", "budget_seconds", "methods"}
_LEARNED_KEYS = ("model", "train", "sample")


@dataclass
class LearnedSettings:
    """A learned model's settings in a comparison.

    Attributes:
        model: the model's ``Config`` (its catalogue entry's settings).
        train: how it is trained (`TrainConfig`; the run's seed and progress replace those).
        sample: keyword options of ``model.sample`` (e.g. ``{"sampler": "ddim", "steps": 50}``).
    """

    model: Any
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: dict[str, Any] = field(default_factory=dict)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base`` (tables merge, other values replace).

    Example:
        >>> merge({"train": {"steps": 1, "lr": 0.1}}, {"train": {"steps": 5}})
        {'train': {'steps': 5, 'lr': 0.1}}
    """
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def method_settings(
    spec: MethodSpec, target: Target, overrides: dict[str, Any] | None = None
) -> Any:
    """The typed settings of method ``spec`` on ``target``: defaults, then ``overrides``.

    Raises:
        ConfigError: an unknown key (with a suggestion) or a value of the wrong type.

    Example:
        >>> from genmodels.catalogue import get_method
        >>> from genmodels.targets import get_target
        >>> method_settings(get_method("nuts"), get_target("banana"), {"draws": 50}).draws
        50
    """
    if spec.camp not in ("map", "diffusion"):
        values = merge(_TARGET_DEFAULTS.get((spec.name, target.kind), {}), overrides or {})
        return config_from_dict(spec.settings, values, where=spec.name)
    values = merge(kind_defaults(spec.name, target.kind), overrides or {})
    unknown = set(values) - set(_LEARNED_KEYS)
    if unknown:
        raise ConfigError(
            f"{spec.name}: unknown setting(s) {', '.join(sorted(unknown))} "
            f"(a learned model takes the tables {', '.join(_LEARNED_KEYS)})"
        )
    for key in _LEARNED_KEYS:
        if not isinstance(values.get(key, {}), dict):
            raise ConfigError(f"{spec.name}.{key} must be a table")
    return LearnedSettings(
        model=model_config(spec.name, values.get("model"), num_levels=target.num_levels),
        train=config_from_dict(TrainConfig, values.get("train", {}), where=f"{spec.name}.train"),
        sample=dict(values.get("sample", {})),
    )


@dataclass
class CompareSettings:
    """Run-wide settings of a comparison.

    Attributes:
        seed: base seed; each method's seed is derived from it and the method's name.
        n_samples: independent samples drawn per learned model (and exact reference size).
        budget_seconds: total wall-clock allowance, shared by the methods (None: unlimited:
            every method runs its configured steps and draws, so that a run repeats
            bit-for-bit at the same thread count; ``genmodels compare --no-budget``).
        methods: per-method values (``{name: {key: value}}``), over the defaults; they are
            checked against each method's settings dataclass when it runs.
    """

    seed: int = 0
    n_samples: int = 2000
    budget_seconds: float | None = DEFAULT_BUDGET_SECONDS
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.n_samples < 10:
            raise InvalidInputError(f"n_samples must be >= 10, got {self.n_samples}")
        b = self.budget_seconds
        if b is not None and not 0 < b < math.inf:  # NaN fails both comparisons
            raise InvalidInputError(
                f"budget_seconds must be a finite number of seconds > 0, got {b} "
                "(--no-budget, or None, for no limit)"
            )


def load_settings(path: str | Path | None, **overrides: Any) -> CompareSettings:
    """Read a TOML settings file (optional) and apply command-line ``overrides`` (not None).

    Raises:
        ConfigError: the file is missing or not TOML, or has unknown keys / wrong types.
    """
    values: dict[str, Any] = {}
    if path is not None:
        values = load_toml(path)
        unknown = set(values) - _RUN_KEYS
        if unknown:
            raise ConfigError(
                f"{path}: unknown key(s) {', '.join(sorted(unknown))} "
                f"(known: {', '.join(sorted(_RUN_KEYS))})"
            )
        methods = values.get("methods", {})
        if not isinstance(methods, dict) or not all(isinstance(v, dict) for v in methods.values()):
            raise ConfigError(f"{path}: [methods.NAME] must be tables")
    values.update({k: v for k, v in overrides.items() if v is not None})
    methods = values.pop("methods", {})
    settings = config_from_dict(CompareSettings, values, where="comparison settings")
    settings.methods = methods
    return settings
