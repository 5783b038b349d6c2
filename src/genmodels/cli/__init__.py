"""The `genmodels` command. It parses arguments into typed configs and calls the library.

Every command: `--help` works; `--seed` makes results repeatable; bad input exits with code 2
and one line on stderr; `--json` prints machine-readable output on stdout.
"""

from __future__ import annotations

import os
import sys

import typer

from genmodels.cli import (  # noqa: F401  (register commands)
    compare,
    demo,
    evaluate,
    mcmc,
    methods,
    targets,
    train,
)
from genmodels.cli.app import app
from genmodels.errors import GenmodelsError

__all__ = ["app", "main"]

try:  # Typer >= 0.29 vendors click and raises its own exception types
    from typer import TyperException as _UsageError
except ImportError:  # older Typer re-raises click's
    from click import ClickException as _UsageError


def _fail(message: str, code: int = 2) -> None:
    first_line = message.strip().splitlines()[0] if message.strip() else "error"
    world = os.environ.get("WORLD_SIZE", "1")
    where = f" (rank {os.environ.get('RANK', '?')} of {world})" if world not in ("", "1") else ""
    print(f"genmodels: error{where}: {first_line}", file=sys.stderr)
    sys.exit(code)


_ALLOCATION_FAILURES = ("can't allocate memory", "out of memory", "not enough memory")


def _allocation_failure(e: RuntimeError) -> bool:
    """torch reports a failed allocation as a RuntimeError (CPU) or OutOfMemoryError (CUDA)."""
    return any(text in str(e).lower() for text in _ALLOCATION_FAILURES)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script; turns expected errors into exit code 2.

    Sizes and numbers are checked where they are used; this boundary is the last net for
    what only the machine can refuse (memory), so that it too is one line.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        # without standalone mode click returns a command's `typer.Exit(code)` as its result
        code = app(args=args or ["--help"], prog_name="genmodels", standalone_mode=False)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort as e:  # click turns an EOFError from anywhere into Abort, too
        if isinstance(e.__cause__, EOFError):
            _fail(f"unexpected end of input: {e.__cause__ or 'a file or stdin ended early'}")
        _fail("interrupted", code=130)
    except _UsageError as e:  # usage errors: bad option, missing argument, ...
        _fail(e.format_message())
    except GenmodelsError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _fail("interrupted", code=130)
    except MemoryError:
        _fail("out of memory: ask for fewer samples, chains or a smaller model")
    except OverflowError as e:
        _fail(f"a number is too large: {e}")
    except RuntimeError as e:
        if not _allocation_failure(e):
            raise
        _fail(f"out of memory ({str(e).strip().splitlines()[0]}); ask for a smaller size")
    if isinstance(code, int) and code:
        sys.exit(code)
