"""Settings of a comparison: per-method defaults sized for the default budget, TOML overrides.

A settings file (``--config FILE.toml``) may set the run-wide keys and any method's keys::

    seed = 1
    n_samples = 2000
    budget_seconds = 300

    [methods.nuts]
    draws = 2000

    [methods.ddpm.train]      # TrainConfig fields
    steps = 4000
    [methods.ddpm.model]      # the model's Config fields
    hidden = 256
    [methods.ddpm.sample]     # options of model.sample(...)
    steps = 200

Chains take ``chains``, ``draws``, ``warmup`` and ``kernel_options``; learned models take the
``train``, ``model`` and ``sample`` tables; the hybrids (``flow_mh``, ``neutra_hmc``) take
``chains``, ``draws``, ``warmup`` and a ``fit`` table (`genmodels.hybrids.FlowFitConfig`).
Unknown top-level keys are errors.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genmodels.errors import ConfigError, InvalidInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "CAMP_WEIGHTS",
    "DEFAULT_BUDGET_SECONDS",
    "DEFAULT_METHODS",
    "CompareSettings",
    "default_method_settings",
    "load_settings",
    "merge",
]

# The default `make demo` run: every camp on eight_gaussians in at most 10 minutes on 2 cores.
DEFAULT_METHODS = ("nuts", "mala", "gan", "vae", "flow", "ncsn", "ddpm", "flow_matching")
DEFAULT_BUDGET_SECONDS = 540.0

# How the budget is shared: a diffusion model needs more training than a map, a chain on a
# 2-D density needs little. Unused time of earlier methods goes to later ones.
CAMP_WEIGHTS = {"chain": 0.5, "map": 1.0, "diffusion": 1.6, "hybrid": 1.0}

_CHAIN_DEFAULTS: dict[str, Any] = {"chains": 4, "draws": 1000, "warmup": 500, "kernel_options": {}}
_MODEL_DEFAULTS: dict[str, Any] = {"train": {}, "model": {}, "sample": {}}
# The chain+map hybrids: a flow fit (`FlowFitConfig` fields under ``fit``), then chains.
_HYBRID_DEFAULTS: dict[str, dict[str, Any]] = {
    "flow_mh": {"chains": 4, "draws": 1000, "warmup": 100, "fit": {}},
    "neutra_hmc": {
        "chains": 4,
        "draws": 1000,
        "warmup": 500,
        # HMC (10 jittered leapfrog steps) in the latent space: there the density is near
        # N(0, I), where one trajectory length fits everywhere; batched NUTS would wait for
        # the deepest tree of all chains at every draw, each gradient passing the flow
        "sampler": "hmc",
        "kernel_options": {},
        "fit": {},
    },
}

# Per-(method, target kind) settings, merged over the camp defaults above. Sized so that the
# default demo fits DEFAULT_BUDGET_SECONDS on 2 CPU cores (see README, "The demo").
_METHOD_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("nuts", "toy2d"): {"chains": 8, "draws": 500, "warmup": 300},
    ("hmc", "toy2d"): {"chains": 8, "draws": 1000, "warmup": 300},
    ("mala", "toy2d"): {"chains": 8, "draws": 1500, "warmup": 500},
    ("rwmh", "toy2d"): {"chains": 8, "draws": 3000, "warmup": 1000},
    ("ula", "toy2d"): {"chains": 8, "draws": 1500, "warmup": 500},
    ("gan", "toy2d"): {"train": {"steps": 3000}},
    ("vae", "toy2d"): {"train": {"steps": 3000}},
    ("flow", "toy2d"): {"train": {"steps": 2000}},
    # A 2-D score needs no 256-wide net: width 128 trains and samples ~3x faster. It does
    # need many steps: ddpm at 4,000 steps stayed ~6x above mmd_floor, at 12,000 (lr 2e-3)
    # it reached 1.0x. The budget caps the steps (keeping the LR schedule whole) when a
    # slower machine cannot fit them.
    ("ncsn", "toy2d"): {
        "train": {"steps": 8000, "lr": 2e-3},
        "model": {"width": 128},
        "sample": {"steps_per_level": 10},
    },
    ("ddpm", "toy2d"): {"train": {"steps": 12000, "lr": 2e-3}, "model": {"width": 128}},
    ("flow_matching", "toy2d"): {
        "train": {"steps": 12000, "lr": 2e-3},
        "model": {"width": 128},
    },
    # flow_mh on eight_gaussians: 1,000 ML steps fit all 8 modes (~8 s on one core); the
    # proposal is cheap, so 8 chains of 2,000 draws cost well under a second and reach
    # R-hat <= 1.01 (a reverse-KL fit drops modes: see genmodels.compare.hybrid_runners).
    ("flow_mh", "toy2d"): {"chains": 8, "draws": 2000, "fit": {"steps": 1000}},
    ("neutra_hmc", "toy2d"): {"chains": 8, "draws": 500, "warmup": 300, "fit": {"steps": 1000}},
    # funnel (10-D): a longer fit; half nuts' draws, since every gradient also passes the
    # flow (~10x a funnel gradient) and near-independent draws need fewer (4 x 300 gave
    # min bulk ESS ~970 against nuts' ~15, with 2 divergences against 17)
    ("neutra_hmc", "posterior"): {"draws": 500, "warmup": 300, "fit": {"steps": 1500}},
    ("flow_mh", "posterior"): {"fit": {"steps": 1500}},
    ("gan", "image"): {"train": {"steps": 2000, "batch_size": 128}},
    ("vae", "image"): {"train": {"steps": 2000, "batch_size": 128}},
    ("flow", "image"): {"train": {"steps": 2000, "batch_size": 128}},
    ("ncsn", "image"): {"train": {"steps": 3000, "batch_size": 128}},
    ("ddpm", "image"): {"train": {"steps": 3000, "batch_size": 128}},
    ("flow_matching", "image"): {"train": {"steps": 3000, "batch_size": 128}},
}

_RUN_KEYS = {"seed", "n_samples", "budget_seconds", "methods"}


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


def default_method_settings(method: str, camp: str, target_kind: str) -> dict[str, Any]:
    """The default settings of ``method`` (of ``camp``) on a target of ``target_kind``."""
    if camp == "chain":
        base = _CHAIN_DEFAULTS
    elif camp == "hybrid":
        base = _HYBRID_DEFAULTS.get(method, {})
    else:
        base = _MODEL_DEFAULTS
    return merge(base, _METHOD_DEFAULTS.get((method, target_kind), {}))


@dataclass
class CompareSettings:
    """Run-wide settings of a comparison.

    Attributes:
        seed: base seed; each method's seed is derived from it and the method's name.
        n_samples: independent samples drawn per learned model (and exact reference size).
        budget_seconds: total wall-clock allowance, shared by the methods (None: unlimited).
        methods: per-method overrides, merged over the defaults.
    """

    seed: int = 0
    n_samples: int = 2000
    budget_seconds: float | None = DEFAULT_BUDGET_SECONDS
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.n_samples < 10:
            raise InvalidInputError(f"n_samples must be >= 10, got {self.n_samples}")
        if self.budget_seconds is not None and self.budget_seconds <= 0:
            raise InvalidInputError(f"budget_seconds must be > 0, got {self.budget_seconds}")


def load_settings(path: str | Path | None, **overrides: Any) -> CompareSettings:
    """Read a TOML settings file (optional) and apply command-line ``overrides`` (not None).

    Raises:
        InvalidInputError: the file is missing.
        ConfigError: the file is not TOML, or has unknown keys / wrong types.
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"no such config file: {path}")
        try:
            values = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path} is not valid TOML: {e}") from None
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
    try:
        settings = CompareSettings(**values)
        settings.seed = int(settings.seed)
        settings.n_samples = int(settings.n_samples)
        if settings.budget_seconds is not None:
            settings.budget_seconds = float(settings.budget_seconds)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"bad comparison setting: {e}") from None
    return settings
