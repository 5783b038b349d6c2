"""`genmodels compare`: every camp on one target, one budget, one report.

Example:
    >>> from genmodels.compare import run_comparison, CompareSettings  # doctest: +SKIP
    >>> run_comparison("eight_gaussians", ["nuts", "flow", "ddpm"], "runs/cmp",
    ...                CompareSettings(budget_seconds=120))  # doctest: +SKIP
"""

from genmodels.compare.base import MethodOutput, MethodRunner, RunContext
from genmodels.compare.costs import chain_diagnostics, cost_summary
from genmodels.compare.run import ComparisonResult, MethodResult, method_seed, run_comparison
from genmodels.compare.runners import ChainRunner, HybridRunner, ModelRunner, get_runner
from genmodels.compare.settings import (
    DEFAULT_BUDGET_SECONDS,
    DEFAULT_METHODS,
    CompareSettings,
    LearnedSettings,
    load_settings,
    method_settings,
)

__all__ = [
    "DEFAULT_BUDGET_SECONDS",
    "DEFAULT_METHODS",
    "ChainRunner",
    "CompareSettings",
    "ComparisonResult",
    "HybridRunner",
    "LearnedSettings",
    "MethodOutput",
    "MethodResult",
    "MethodRunner",
    "ModelRunner",
    "RunContext",
    "chain_diagnostics",
    "cost_summary",
    "get_runner",
    "load_settings",
    "method_seed",
    "method_settings",
    "run_comparison",
]
