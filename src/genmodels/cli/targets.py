"""`genmodels targets`: the registered targets and what each provides."""

from __future__ import annotations

import typer

from genmodels.cli.app import app, echo_json
from genmodels.targets import describe_targets


@app.command("targets")
def targets_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """List targets: 2-D toys, posteriors and image data sets."""
    rows = describe_targets()
    if as_json:
        echo_json(rows)
        return
    typer.echo(f"{'name':<26} {'kind':<10} {'dim':>4}  log_prob  samples")
    for r in rows:
        typer.echo(
            f"{r['name']:<26} {r['kind']:<10} {r['dim']:>4}  "
            f"{'yes' if r['has_log_prob'] else 'no':<8}  {'yes' if r['has_samples'] else 'no'}"
        )
