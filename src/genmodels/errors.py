"""Typed exceptions. The CLI turns every `GenmodelsError` into one line on stderr and exit 2."""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DistributedError",
    "GenmodelsError",
    "InvalidInputError",
    "NotApplicableError",
    "RunLockedError",
    "TrainingDivergedError",
    "UnknownNameError",
]


class GenmodelsError(Exception):
    """Base class of every error the library raises on purpose."""


class InvalidInputError(GenmodelsError, ValueError):
    """An argument, file or tensor from a user is not usable (wrong shape, NaN, missing key)."""


class UnknownNameError(InvalidInputError, KeyError):
    """A name (target, method, sampler, demo) that no registry knows."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class ConfigError(InvalidInputError):
    """A configuration key that does not exist or a value of the wrong type."""


class NotApplicableError(GenmodelsError):
    """A method cannot run on this target (e.g. a chain on a target without a density)."""


class CheckpointError(GenmodelsError):
    """A checkpoint directory is missing, corrupt, or was written by something else."""


class TrainingDivergedError(GenmodelsError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class RunLockedError(GenmodelsError):
    """Another process is writing this run directory (it holds the directory's lock)."""


class DistributedError(GenmodelsError):
    """Another rank of a `torchrun` job failed or did not answer within the timeout."""
