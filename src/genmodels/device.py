"""Device selection: ``auto`` picks CUDA, then MPS, then CPU."""

from __future__ import annotations

import torch

from genmodels.errors import InvalidInputError

__all__ = ["resolve_device"]


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:1" | "mps"`` into an available `torch.device`."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InvalidInputError(f"unknown device {name!r} (use auto, cpu, cuda or mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("device 'cuda' requested but CUDA is not available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InvalidInputError("device 'mps' requested but MPS is not available")
    return device
