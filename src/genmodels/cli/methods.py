"""`genmodels methods`: every sampler and model, with its camp."""

from __future__ import annotations

import typer

from genmodels.cli.app import app, echo_json
from genmodels.methods import list_methods


@app.command("methods")
def methods_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """List samplers and models: chains, maps, diffusion and hybrids."""
    rows = list_methods()
    if as_json:
        echo_json(rows)
        return
    width = max((len(r["name"]) for r in rows), default=4)
    for r in rows:
        typer.echo(f"{r['name']:<{width}}  {r['camp']:<9}  {r['description']}")
