"""One writer per run directory: an ``fcntl.flock`` on ``RUN/.genmodels.lock``.

A process that writes a run directory (`fit` with an ``out_dir``, ``genmodels train``) holds
an exclusive lock on the directory's lock file for as long as it writes. A second writer
fails at once with `RunLockedError` instead of interleaving its checkpoints and metrics
with the first one's. The kernel drops the lock when its holder exits, however it exits
(SIGKILL included), so a killed run never blocks its own ``--resume``; the lock file itself
stays (removing it would let two processes lock two different files of the same name).

The lock is re-entrant within a process: ``genmodels train`` takes it before it reads the
run's saved settings, and `fit` takes it again inside. Readers (`load_model`) never wait for
it; `idle_run` tells them whether a writer is alive, so that only an idle directory is tidied.
Where ``fcntl`` does not exist (Windows) there is no lock and nothing is refused.

Example:
    >>> import tempfile, pathlib
    >>> run = pathlib.Path(tempfile.mkdtemp())
    >>> with exclusive_run(run):
    ...     with idle_run(run) as idle:
    ...         idle
    False
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from genmodels.errors import InvalidInputError, RunLockedError

try:
    import fcntl
except ImportError:  # pragma: no cover - no flock on this platform: no locking
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "exclusive_run", "idle_run"]

LOCK_NAME = ".genmodels.lock"
"""The lock file every writer of a run directory holds (it contains the holder's pid)."""

_held: dict[str, list[int]] = {}  # resolved run directory → [fd, depth, created it]
_guard = threading.Lock()


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode().strip() or "0")
        if pid > 0:
            return f" (pid {pid})"
    return ""


def _open_lock(path: Path, *, create: bool) -> int:
    flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | (os.O_CREAT if create else 0)
    return os.open(path, flags, 0o644)


def _acquire(out: Path) -> int:
    """Open and lock ``out``'s lock file (non-blocking); the fd, or `RunLockedError`."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = _open_lock(out / LOCK_NAME, create=True)
    except OSError as e:
        raise InvalidInputError(f"cannot use {out} as a run directory: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        who = _holder(fd)
        os.close(fd)
        raise RunLockedError(
            f"{out} is being written by another genmodels process{who}; wait for it to "
            "finish or pick another --out"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


@contextlib.contextmanager
def exclusive_run(out: str | Path | None) -> Iterator[None]:
    """Hold the writer lock of run directory ``out`` (created if missing) while inside.

    ``None`` holds nothing (a run that keeps nothing on disk, or a DDP rank other than 0).

    Raises:
        RunLockedError: another process holds the lock.
        InvalidInputError: ``out`` cannot be a directory (a file, no permission).
    """
    if out is None or fcntl is None:
        yield
        return
    out = Path(out)
    key = str(out.resolve())
    with _guard:
        entry = _held.get(key)
        if entry is None:
            created = not out.exists()
            entry = _held[key] = [_acquire(out), 0, created]
        entry[1] += 1
    try:
        yield
    finally:
        with _guard:
            entry[1] -= 1
            if entry[1] == 0:
                del _held[key]
                if entry[2]:
                    _remove_if_unused(out)
                os.close(entry[0])  # closing the last fd releases the flock


def _remove_if_unused(out: Path) -> None:
    """Remove a run directory this lock created when nothing but the lock went into it
    (a run refused for bad settings leaves no trace)."""
    with contextlib.suppress(OSError):
        if [p.name for p in out.iterdir()] == [LOCK_NAME]:
            (out / LOCK_NAME).unlink()
            out.rmdir()


@contextlib.contextmanager
def idle_run(out: str | Path) -> Iterator[bool]:
    """Yield whether no process is writing ``out`` (holding its lock while inside if so).

    Never creates anything: a directory without a lock file (read-only, or written before
    locks existed) counts as busy, so a reader leaves it exactly as it found it.
    """
    key = str(Path(out).resolve())
    if fcntl is None or key in _held:
        yield False
        return
    try:
        fd = _open_lock(Path(out) / LOCK_NAME, create=False)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
