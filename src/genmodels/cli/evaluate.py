"""`genmodels evaluate FILE.npz --target T`: score samples against a target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from genmodels.checks import check_seed
from genmodels.cli.app import app, echo_json
from genmodels.distributed import refuse_distributed
from genmodels.metrics import evaluate_samples
from genmodels.samples import load_samples
from genmodels.targets import get_target


def format_metrics(metrics: dict[str, Any]) -> str:
    """A two-column table of metric names and values; metrics that could not be computed
    (``unavailable: {name: reason}``) are listed with their reason."""
    unavailable = metrics.get("unavailable") or {}
    values = {k: v for k, v in metrics.items() if k != "unavailable"}
    width = max(len(k) for k in [*values, *unavailable])
    lines = []
    for key, value in values.items():
        shown = str(value) if isinstance(value, int) else f"{value:.6g}"
        lines.append(f"{key:<{width}}  {shown}")
    for key, reason in unavailable.items():
        lines.append(f"{key:<{width}}  unavailable: {reason}")
    return "\n".join(lines)


@app.command("evaluate")
def evaluate_command(
    file: Path = typer.Argument(..., help="An .npz with an array 'x'."),
    target: str = typer.Option(..., "--target", "-t", help="Target name (see `targets`)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the reference sample and projections."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """Score samples against a target: MMD (with its floor), energy distance, sliced
    Wasserstein and mode metrics; Fréchet distance and precision/recall for images."""
    refuse_distributed("evaluate", "run it in one process (its pairwise sums run in blocks)")
    check_seed(seed)
    samples = load_samples(file)
    target_obj = get_target(target)
    metrics = evaluate_samples(samples, target_obj, seed=seed)
    if as_json:
        echo_json(metrics)
    else:
        typer.echo(f"{file} against {target} ({metrics['n']} samples)")
        typer.echo(format_metrics({k: v for k, v in metrics.items() if k != "n"}))
