"""`genmodels demo NAME --out DIR` and `genmodels demo --list`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genmodels.checks import check_seed
from genmodels.cli.app import app, echo_json
from genmodels.errors import InvalidInputError
from genmodels.io import check_output_dir

__all__ = ["demo"]


@app.command("demo")
def demo(
    name: Annotated[str | None, typer.Argument(help="Demo to run (see --list).")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output directory for result.json and figures.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    quick: Annotated[
        bool, typer.Option("--quick", help="Tiny version (seconds), as in the tests.")
    ] = False,
    list_: Annotated[bool, typer.Option("--list", help="List the demos and exit.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print machine-readable output.")] = False,
) -> None:
    """Run one reproduction of a claim; writes DIR/result.json and a figure."""
    from genmodels.demos import DEMOS, list_demos, run_demo

    if list_:
        rows = list_demos()
        if json_:
            echo_json(rows)
        else:
            width = max(len(r["name"]) for r in rows)
            for r in rows:
                typer.echo(f"{r['name']:<{width}}  {r['claim']}")
        return
    if name is None:
        raise InvalidInputError("give a demo NAME (or --list)")
    DEMOS.get(name)  # unknown name → one-line error before anything runs
    if out is None:
        raise InvalidInputError("give an output directory with --out DIR")
    check_seed(seed)
    check_output_dir(out)
    result = run_demo(name, out, seed=seed, quick=quick)
    if json_:
        echo_json(result)
    else:
        typer.echo(f"demo {name}: wrote {out / 'result.json'} ({result['seconds']} s)")
