"""matplotlib with a non-interactive backend, imported lazily by the demos."""

from __future__ import annotations

from genmodels.report.figure import pyplot

__all__ = ["pyplot"]
