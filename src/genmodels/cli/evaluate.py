"""`genmodels evaluate FILE.npz --target T`: score samples against a target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from genmodels.checks import check_seed
from genmodels.cli.app import app, echo_json
from genmodels.distributed import join
from genmodels.metrics import check_sample, evaluate_samples
from genmodels.samples import Samples, load_samples
from genmodels.targets import DataTarget, Target, get_target
from genmodels.targets.data import DATA_SUFFIXES

# What `genmodels sample` records of a data target's split in the samples file (info_*).
SPLIT_INFO_KEYS = {"data_test_fraction": "test_fraction", "data_split_seed": "seed"}


def _target_for(name: str, samples: Samples) -> Target:
    """The target ``name``; a data file is split as the samples' run split it (recorded by
    `genmodels sample`), so the test split scored against is the one training never saw."""
    if Path(name).suffix.lower() not in DATA_SUFFIXES:
        return get_target(name)
    split = {key: samples.info[k] for k, key in SPLIT_INFO_KEYS.items() if k in samples.info}
    if "seed" in split:
        split["seed"] = int(split["seed"])
    return get_target(name, **split)


def data_units_to_target(samples: Samples, target: Target) -> Samples:
    """Samples in a data target's own units (what `sample` writes) → its standardised
    coordinates, where `evaluate_samples` scores them; other targets' samples are unchanged."""
    if not isinstance(target, DataTarget):
        return samples
    x = check_sample(samples, target)
    return Samples(target.encode(x), nfe=samples.nfe, seconds=samples.seconds, info=samples.info)


def floor_note(metrics: dict[str, Any]) -> str | None:
    """One line when ``fd_floor`` was computed at fewer points than were scored."""
    floor_n = metrics.get("fd_floor_n")
    if floor_n is None or floor_n == metrics.get("n"):
        return None
    return (
        f"note: fd_floor is computed at n = {floor_n} (the whole test split), not at the "
        f"{metrics['n']} samples scored; real images at n = {metrics['n']} score lower"
    )


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
    target: str = typer.Option(
        ..., "--target", "-t", help="Target name (see `targets`) or data file (.npz/.npy/.csv)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the reference sample and projections."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """Score samples against a target: MMD (with its floor), energy distance, sliced
    Wasserstein and mode metrics; Fréchet distance and precision/recall for images.

    Against a vector data file the samples are in the data's own units (as `genmodels
    sample` writes them) and are scored against its held-out test split.

    Under `torchrun` every rank reads FILE, the pairwise sums' row blocks and the image
    features' batches are split over the ranks, and rank 0 prints the metrics (those of one
    process, up to the order of float64 additions).
    """
    check_seed(seed)
    samples = load_samples(file)
    target_obj = _target_for(target, samples)
    job = join()  # under torchrun: this rank's share of the blocks (metrics run on the CPU)
    x = data_units_to_target(samples, target_obj)
    metrics = evaluate_samples(x, target_obj, seed=seed, info=job)
    if job.rank != 0:  # every rank holds the metrics; rank 0 prints them
        return
    if as_json:
        echo_json(metrics)
    else:
        typer.echo(f"{file} against {target} ({metrics['n']} samples)")
        typer.echo(format_metrics({k: v for k, v in metrics.items() if k != "n"}))
        if (note := floor_note(metrics)) is not None:
            typer.echo(note)
