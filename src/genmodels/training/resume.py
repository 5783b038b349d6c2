"""Honest resume: a run continues with its own settings, or with changes asked for by name.

Resuming a run with settings other than the ones it was trained with used to keep the old
optimiser settings silently (the optimiser's saved state carries its lr) while recording the
new ones. Now `resume_changes` lists what would change, `fit` refuses such a resume unless
the caller passes ``override=True`` (``genmodels train --resume --override``), and then
`apply_overrides_after_restore` makes the new settings take effect on the restored optimisers
and schedule; ``config.json`` records them, with a history entry under ``"overrides"``.

Keys that do not change what is learned (`RUNTIME_KEYS`: progress bar, device, logging,
evaluation and checkpoint cadence, the time budget's minimum) may change freely, and so may
``steps`` as long as it does not shrink: extending a run is the common reason to resume.
The target, the method and the model config never change on resume, override or not.

Example:
    >>> from genmodels.training.config import TrainConfig, config_to_dict
    >>> saved = config_to_dict(TrainConfig(steps=100))
    >>> resume_changes(saved, TrainConfig(steps=200, progress=False))
    {}
    >>> resume_changes(saved, TrainConfig(steps=100, lr=1e-4))
    {'lr': (0.001, 0.0001)}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch.optim import Optimizer

from genmodels.errors import ConfigError
from genmodels.io import to_jsonable
from genmodels.training.config import TrainConfig, config_to_dict

__all__ = [
    "RUNTIME_KEYS",
    "apply_overrides_after_restore",
    "check_same_run",
    "describe_changes",
    "fresh_hyperparameters",
    "resume_changes",
]

RUNTIME_KEYS = frozenset(
    {
        "progress",
        "device",
        "distributed",
        "log_every",
        "eval_every",
        "eval_samples",
        "checkpoint_every",
        "min_steps",
    }
)
"""`TrainConfig` keys a resume may change without ``--override``: none changes the weights."""


def resume_changes(saved: Mapping[str, Any], config: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """``{key: (saved value, new value)}`` for every setting a resume with ``config`` changes.

    ``saved`` is the run's ``train_config`` from ``config.json``. `RUNTIME_KEYS` and a
    ``steps`` that grows (or stays) are not changes; keys the saved run lacks are skipped.
    """
    now = to_jsonable(config_to_dict(config))
    changes: dict[str, tuple[Any, Any]] = {}
    for key, value in now.items():
        if key in RUNTIME_KEYS or key not in saved:
            continue
        old = to_jsonable(saved[key])
        if key == "steps" and isinstance(old, int) and value >= old:
            continue
        if old != value:
            changes[key] = (old, value)
    return changes


def describe_changes(changes: Mapping[str, tuple[Any, Any]]) -> str:
    """``"lr 0.001 -> 0.0001, batch_size 16 -> 32"``."""
    return ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in changes.items())


def check_same_run(
    out: Any, saved: Mapping[str, Any], *, target: str, model_config: Mapping[str, Any]
) -> None:
    """Refuse a resume on another target or with another model config (never overridable).

    Raises:
        ConfigError: naming the run's target, or the model keys that differ.
    """
    if saved.get("target") is not None and saved["target"] != target:
        raise ConfigError(
            f"{out} is a run on {saved['target']!r}; --resume cannot continue it on "
            f"{target!r} (train it into another --out)"
        )
    old, new = to_jsonable(dict(saved["model_config"])), to_jsonable(dict(model_config))
    changed = sorted(k for k in new if k in old and old[k] != new[k])
    if changed:
        raise ConfigError(
            f"cannot change model config on --resume: {changed} (the saved weights fit "
            "only the run's own model; train it into another --out)"
        )


def fresh_hyperparameters(optimizers: Mapping[str, Optimizer]) -> dict[str, list[dict[str, Any]]]:
    """The optimisers' group settings (all but the parameters), taken before a restore."""
    return {
        name: [{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups]
        for name, opt in optimizers.items()
    }


def apply_overrides_after_restore(
    optimizers: Mapping[str, Optimizer], fresh: Mapping[str, list[dict[str, Any]]]
) -> None:
    """Put the new config's settings (lr, betas, weight decay) back on restored optimisers.

    Loading an optimiser's state also loads the old run's group settings; the moments stay,
    the settings become the ones of ``fresh`` (`fresh_hyperparameters` before the restore).
    The caller then rebuilds the schedule from the new ``initial_lr``.
    """
    for name, opt in optimizers.items():
        for group, settings in zip(opt.param_groups, fresh[name], strict=True):
            group.update(settings)
