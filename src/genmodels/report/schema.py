"""What the comparison report reads, as protocols: the report depends on no runner.

`genmodels.compare` produces results that have these attributes (its ``MethodResult``,
``ComparisonResult`` and ``MethodOutput``); anything else that has them can be reported the
same way, and `genmodels.report` never imports `genmodels.compare`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from torch import Tensor

__all__ = ["ComparisonReport", "MethodRow", "RecordedTrajectory"]


@runtime_checkable
class MethodRow(Protocol):
    """One method's row: its outcome, numbers and figures (paths relative to the report)."""

    method: str
    camp: str
    status: str  # "ok", "failed" or "not_applicable"
    reason: str | None
    metrics: dict[str, Any]
    metrics_error: str | None
    cost: dict[str, Any]
    chain: dict[str, Any]
    log_z: dict[str, Any]  # a density sampler's log Z against the truth; {} for others
    settings: dict[str, Any]
    notes: dict[str, Any]  # the report adds "animation_label" when it draws an animation
    figures: dict[str, str]
    wall_seconds: float


@runtime_checkable
class ComparisonReport(Protocol):
    """A whole comparison: the run's settings and one `MethodRow` per method."""

    target: str
    target_kind: str
    event_shape: list[int]
    seed: int
    n_samples: int
    budget_seconds: float | None
    figures: dict[str, str]
    unavailable_metrics: dict[str, str]
    total_seconds: float

    @property
    def methods(self) -> Sequence[MethodRow]: ...


@runtime_checkable
class RecordedTrajectory(Protocol):
    """The states a sampling process went through, if it recorded them."""

    @property
    def trajectory(self) -> Sequence[Tensor] | None: ...

    @property
    def trajectory_label(self) -> str: ...
