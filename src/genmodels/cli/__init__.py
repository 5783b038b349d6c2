"""The `genmodels` command. It parses arguments into typed configs and calls the library.

Every command: `--help` works; `--seed` makes results repeatable; bad input exits with code 2
and one line on stderr; `--json` prints machine-readable output on stdout.
"""

from __future__ import annotations

import sys

import typer

from genmodels.cli import evaluate, mcmc, methods, targets, train  # noqa: F401  (register commands)
from genmodels.cli.app import app
from genmodels.errors import GenmodelsError

__all__ = ["app", "main"]

try:  # Typer >= 0.29 vendors click and raises its own exception types
    from typer import TyperException as _UsageError
except ImportError:  # older Typer re-raises click's
    from click import ClickException as _UsageError


def _fail(message: str, code: int = 2) -> None:
    first_line = message.strip().splitlines()[0] if message.strip() else "error"
    print(f"genmodels: error: {first_line}", file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script; turns expected errors into exit code 2."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        app(args=args or ["--help"], prog_name="genmodels", standalone_mode=False)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        _fail("interrupted", code=130)
    except _UsageError as e:  # usage errors: bad option, missing argument, ...
        _fail(e.format_message())
    except GenmodelsError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _fail("interrupted", code=130)
