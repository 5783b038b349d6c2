"""The Typer application object; command modules register on it."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

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
    """Print machine-readable output on stdout (the `--json` contract)."""
    json.dump(obj, sys.stdout, indent=2, allow_nan=True)
    sys.stdout.write("\n")


@app.callback()
def _root() -> None:
    """Chains, maps and diffusion side by side: train, sample, evaluate, compare."""
