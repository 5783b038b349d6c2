"""The Typer application object; command modules register on it."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from genmodels.io import to_jsonable

__all__ = ["app", "echo_json"]

app = typer.Typer(
    name="genmodels",
    help="Chains, maps and diffusion side by side: train, sample, evaluate, compare.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def echo_json(obj: Any) -> None:
    """Print machine-readable output on stdout (the `--json` contract): strict JSON, the
    same sanitising as the files genmodels writes (`genmodels.io.to_jsonable`: NaN → null)."""
    json.dump(to_jsonable(obj), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


@app.callback()
def _root() -> None:
    """Chains, maps and diffusion side by side: train, sample, evaluate, compare."""
