"""Files written so that nothing is lost: one atomic-write helper, strict JSON, TOML reading.

Every file genmodels writes goes through `atomic_path`: the content is written to a fresh,
uniquely named temporary file beside the destination (created with ``O_EXCL``, so a planted
symlink is never followed), flushed, and renamed over the destination in one step. A reader
sees the old file or the new one, never half of either; a failed write leaves no temporary.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_json(d / "r.json", {"mmd": float("nan"), "n": 3})
    >>> (d / "r.json").read_text()
    '{\\n  "mmd": null,\\n  "n": 3\\n}\\n'
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genmodels.errors import ConfigError, InvalidInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "TEMP_MARKER",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_dir",
    "check_output_file",
    "load_toml",
    "parse_toml_value",
    "to_jsonable",
    "write_json",
]

TEMP_MARKER = ".tmp-"
"""Part of every temporary name `atomic_path` makes (``.NAME.tmp-<random>.SUFFIX``)."""


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    The temporary keeps ``path``'s suffix, so writers that infer the format from the name
    (matplotlib, Pillow) work unchanged. On an exception it is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.stem}{TEMP_MARKER}", suffix=path.suffix
    )
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a written file gets the usual mode
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # the bytes reach the disk before the rename publishes them
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """``obj`` as strict JSON values: tensors and NumPy values become numbers and lists,
    NaN/inf become None, tuples become lists, keys become strings, anything else its ``str``."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, str | int | bool) or obj is None:
        return obj
    if hasattr(obj, "tolist"):  # torch.Tensor, numpy arrays and scalars
        return to_jsonable(obj.tolist())
    return str(obj)


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented strict JSON (see `to_jsonable`), atomically."""
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n"
    atomic_write_text(path, text)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file; a missing, unreadable, binary or malformed file raises `ConfigError`
    (one line), as does one whose sections are not tables."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"no such config file: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory, not a TOML file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not text (a binary file?)") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"cannot parse {path} as TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
    return data


def _nearest_existing(path: Path) -> Path:
    for parent in [path, *path.parents]:
        if parent.exists():
            return parent
    return Path.cwd()


def _check_writable_dir(directory: Path, what: str, path: Path) -> None:
    """Probe ``directory`` by creating (and removing) a temporary file in it: permission
    bits alone say nothing for root or on a read-only mount."""
    if not directory.is_dir():
        raise InvalidInputError(f"{what} {path}: {directory} is a file, not a directory")
    try:
        fd, name = tempfile.mkstemp(dir=directory, prefix=f".genmodels{TEMP_MARKER}probe-")
    except OSError as e:
        reason = e.strerror or str(e)
        raise InvalidInputError(f"{what} {path}: cannot write in {directory} ({reason})") from None
    os.close(fd)
    os.unlink(name)


def check_output_dir(path: str | Path, what: str = "--out") -> Path:
    """Check up front that ``path`` can be an output directory: absent (its nearest existing
    parent writable) or an existing writable directory, not a file. Creates nothing.

    Raises:
        InvalidInputError: one line naming ``what`` (the option) and the reason.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InvalidInputError(f"{what} {path} is an existing file; give a directory")
    _check_writable_dir(_nearest_existing(path), what, path)
    return path


def check_output_file(
    path: str | Path, what: str = "--out", suffixes: tuple[str, ...] = ()
) -> Path:
    """Check up front that ``path`` can be written as a file: not a directory, its nearest
    existing parent a writable directory, and (if given) one of ``suffixes``.

    Raises:
        InvalidInputError: one line naming ``what`` (the option) and the reason.
    """
    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"{what} {path} is a directory; give a file name")
    if suffixes and path.suffix.lower() not in suffixes:
        raise InvalidInputError(
            f"{what} {path} must end in {' or '.join(suffixes)}, got {path.suffix or 'no suffix'!r}"
        )
    _check_writable_dir(_nearest_existing(path.parent), what, path)
    return path


def parse_toml_value(raw: str) -> Any:
    """One value in TOML syntax (``1e-3``, ``true``, ``[64, 64]``); a bare word stays a string."""
    try:
        return tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return raw.strip()
