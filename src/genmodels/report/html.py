"""The HTML comparison report: one static page that opens from disk (no server, no JS, no CDN).

The page is rendered by Jinja2 with autoescaping on, so every string that reaches it (target
names, paths, error messages) is escaped; figures are linked by relative paths.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from torch import Tensor

from genmodels.io import atomic_write_text
from genmodels.report.plots import save_exact_figure, save_log_z_plot, save_quality_cost_plot
from genmodels.report.schema import ComparisonReport
from genmodels.targets.base import Target

__all__ = ["METRIC_ORDER", "log_z_cell", "render_report", "write_report"]

# Columns of the results table, in this order when present; other metrics follow.
METRIC_ORDER = (
    "mmd",
    "mmd_floor",
    "mmd_ratio",
    "energy_distance",
    "sliced_wasserstein",
    "modes_covered",
    "mode_weight_tv",
    "fd",
    "fd_floor",
    "fd_ratio",
    "precision",
    "recall",
)
_HIDDEN_METRICS = {"n", "modes_total"}
COST_COLUMNS = (
    ("train_seconds", "train s"),
    ("sample_seconds_per_1000", "sample s / 1k"),
    ("nfe_per_sample", "NFE / sample"),
    ("ess", "ESS"),
    ("ess_per_second", "ESS / s"),
    ("density_evals", "target density evals"),
    ("grad_evals", "target gradient evals"),
    ("seconds", "run s"),
)
CHAIN_COLUMNS = (("max_r_hat", "max R̂"), ("accept_rate", "accept"), ("divergences", "divergent"))
# Notes shown elsewhere on the page (or internal); the others get a line under the figures.
HIDDEN_NOTES = ("train_steps", "figure_error", "animation_label")


def _fmt(value: Any) -> str:
    """Numbers to 4 significant digits; None/NaN as an en dash."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1e4 or abs(value) < 1e-3:
            return f"{value:.3e}"
        return f"{value:.4g}"
    return str(value)


def log_z_cell(log_z: dict[str, Any]) -> str:
    """A row's log Z error as the table shows it: ``|Δlog Z| ± se`` when the target knows its
    log Z, else ``log Ẑ ± se``; an en dash for a method without an estimate.

    Example:
        >>> log_z_cell({"log_z": 3.2, "log_z_se": 0.04, "abs_delta_log_z": 0.012})
        '0.012 ± 0.04'
    """
    if not log_z:
        return "–"
    value = log_z.get("abs_delta_log_z", log_z.get("log_z"))
    se = log_z.get("log_z_se")
    if se is None or (isinstance(se, float) and not math.isfinite(se)):
        return _fmt(value)
    return f"{_fmt(value)} ± {_fmt(se)}"


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,  # every string from the user is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["log_z_cell"] = log_z_cell
    return env


def render_report(result: ComparisonReport) -> str:
    """The report page of ``result`` as an HTML string (figures referenced, not embedded)."""
    metric_keys = [k for k in METRIC_ORDER if any(k in r.metrics for r in result.methods)]
    for row in result.methods:
        for key in row.metrics:
            if key not in metric_keys and key not in _HIDDEN_METRICS:
                metric_keys.append(key)
    has_chains = any(r.chain for r in result.methods)
    has_log_z = any(r.log_z for r in result.methods)
    known = any("abs_delta_log_z" in r.log_z for r in result.methods)
    return (
        _environment()
        .get_template("index.html")
        .render(
            result=result,
            metric_keys=metric_keys,
            cost_columns=COST_COLUMNS,
            chain_columns=CHAIN_COLUMNS if has_chains else (),
            has_log_z=has_log_z,
            log_z_label="|Δlog Z| ± se" if known else "log Ẑ ± se",
            is_image=result.target_kind == "image",
            hidden_notes=HIDDEN_NOTES,
        )
    )


def write_report(
    result: ComparisonReport,
    out_dir: str | Path,
    *,
    exact: Tensor | None = None,
    target: Target | None = None,
) -> Path:
    """Draw the run-wide figures (exact samples, quality vs cost, the log Z estimates) and
    write ``index.html``.

    Args:
        result: the comparison (its per-method figures are already drawn).
        out_dir: the report directory; figure paths in ``result`` are relative to it.
        exact: exact samples of the target, for the reference figure.
        target: the target (density contours on 2-D plots).

    Returns:
        The path of ``index.html``.
    """
    out = Path(out_dir)
    if exact is not None:
        save_exact_figure(exact, out / "exact.png", target)
        result.figures["exact"] = "exact.png"
    if save_quality_cost_plot(result, out / "quality_cost.png") is not None:
        result.figures["quality_cost"] = "quality_cost.png"
    if save_log_z_plot(result, out / "log_z.png") is not None:
        result.figures["log_z"] = "log_z.png"
    return atomic_write_text(out / "index.html", render_report(result))
