"""`genmodels compare`: run chains, maps and diffusion models on one target, write the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genmodels.cli.app import app, echo_json
from genmodels.compare import DEFAULT_METHODS, load_settings, run_comparison


def _table(result_json: dict) -> list[str]:
    """A plain-text results table for the terminal."""
    lines = []
    for row in result_json["methods"]:
        m, c = row["metrics"], row["cost"]
        if row["status"] != "ok":
            lines.append(f"  {row['method']:<14} {row['status']}: {row['reason']}")
            continue
        quality = ", ".join(
            f"{k}={m[k]:.4g}" if isinstance(m[k], float) else f"{k}={m[k]}"
            for k in ("mmd_ratio", "modes_covered", "fd", "precision", "recall")
            if m.get(k) is not None
        )
        ess = c.get("ess_per_second")
        lines.append(
            f"  {row['method']:<14} {quality or row.get('metrics_error') or '-'}; "
            f"train {c['train_seconds']:.1f} s, {c['sample_seconds_per_1000']:.3g} s/1k, "
            f"{c['nfe_per_sample']:.4g} NFE/sample"
            + (f", ESS/s {ess:.4g}" if ess is not None else "")
        )
    return lines


@app.command("compare")
def compare_command(
    target: Annotated[
        str, typer.Option("--target", help="Target name (see `genmodels targets`).")
    ] = "eight_gaussians",
    methods: Annotated[
        str, typer.Option("--methods", help="Comma-separated methods (see `genmodels methods`).")
    ] = ",".join(DEFAULT_METHODS),
    out: Annotated[Path, typer.Option("--out", help="Report directory.")] = Path("runs/compare"),
    budget_seconds: Annotated[
        float | None,
        typer.Option("--budget-seconds", help="Total time budget of all methods (default 540)."),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML file of settings.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Base seed (default 0).")] = None,
    n_samples: Annotated[
        int | None, typer.Option("--n-samples", help="Samples per learned model (default 2000).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print results.json on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress lines.")] = False,
) -> None:
    """Run methods on one target under one budget; write DIR/results.json and DIR/index.html."""
    settings = load_settings(config, seed=seed, budget_seconds=budget_seconds, n_samples=n_samples)
    result = run_comparison(target, methods.split(","), out, settings, progress=not quiet).to_json()
    if as_json:
        echo_json(result)
        return
    n, seconds = len(result["methods"]), result["total_seconds"]
    typer.echo(f"{result['target']}: {n} methods in {seconds:.0f} s")
    for line in _table(result):
        typer.echo(line)
    for key, reason in result.get("unavailable_metrics", {}).items():
        typer.echo(f"  {key} not computed: {reason}")
    typer.echo(f"report: {(out / 'index.html').resolve()}")
