"""Range checks of typed settings: one helper, so every bad value reads the same way.

A settings dataclass calls these from ``__post_init__``: a value out of range raises
`ConfigError` naming the field, the value and what is allowed, whether the dataclass was built
by the CLI (``--set train.lr=-1``), from a TOML file or directly by a user of the library.

Example:
    >>> check_range(3e-4, "train.lr", gt=0)
    >>> try:
    ...     check_range(float("nan"), "train.lr", gt=0)
    ... except ConfigError as e:
    ...     print(e)
    train.lr must be > 0 (a finite number), got nan
"""

from __future__ import annotations

import math
from typing import Any

from genmodels.errors import ConfigError

__all__ = ["SEED_MAX", "at_least", "check_betas", "check_range", "check_seed"]

SEED_MAX = 2**63 - 1
"""The largest seed: torch's generators take 64-bit seeds, and seed + k must stay in range."""


def _num(bound: float) -> str:
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


def _allowed(
    integer: bool, ge: float | None, gt: float | None, lt: float | None, le: float | None
) -> str:
    """``">= 1 (an integer)"``, ``"> 0 (a finite number)"``, ``"in [0, 1)"``."""
    kind = "an integer" if integer else "a finite number"
    low = f"[{_num(ge)}" if ge is not None else (f"({_num(gt)}" if gt is not None else None)
    high = f"{_num(le)}]" if le is not None else (f"{_num(lt)})" if lt is not None else None)
    if low and high:
        return f"in {low}, {high}" + (" (an integer)" if integer else "")
    if low:
        return f"{'>=' if ge is not None else '>'} {low[1:]} ({kind})"
    if high:
        return f"{'<=' if le is not None else '<'} {high[:-1]} ({kind})"
    return kind


def check_range(
    value: Any,
    name: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    integer: bool = False,
) -> None:
    """Raise `ConfigError` unless ``value`` is a finite number (an int when ``integer``)
    within the given bounds; the message names ``name``, the value and the allowed range."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if integer:
        ok = ok and (isinstance(value, int) or (math.isfinite(value) and value == int(value)))
    ok = ok and math.isfinite(value)
    ok = ok and (ge is None or value >= ge) and (gt is None or value > gt)
    ok = ok and (le is None or value <= le) and (lt is None or value < lt)
    if not ok:
        raise ConfigError(f"{name} must be {_allowed(integer, ge, gt, lt, le)}, got {value!r}")


def at_least(config: Any, minimum: int, *names: str, where: str = "") -> None:
    """Check that each integer field ``names`` of ``config`` is ``>= minimum``.

    ``where`` prefixes the field names in messages (``"train"`` → ``train.steps``).
    """
    for name in names:
        label = f"{where}.{name}" if where else name
        check_range(getattr(config, name), label, ge=minimum, integer=True)


def check_seed(seed: Any, name: str = "--seed") -> int:
    """``seed`` if it is an integer in ``[0, SEED_MAX]``, else one-line `ConfigError`
    (torch overflows on seeds past 64 bits, deep inside a run)."""
    check_range(seed, name, ge=0, le=SEED_MAX, integer=True)
    return int(seed)


def check_betas(betas: Any, name: str) -> None:
    """Adam's (β₁, β₂): two numbers in [0, 1]; outside that torch's optimiser fails with a
    traceback at the first step, so the config refuses them by name. (β = 1 stays accepted:
    existing configs coerce ``[0, 1]``.)"""
    if not isinstance(betas, tuple | list) or len(betas) != 2:
        raise ConfigError(f"{name} must be two numbers in [0, 1], got {betas!r}")
    for i, beta in enumerate(betas):
        check_range(beta, f"{name}[{i}]", ge=0, le=1)
