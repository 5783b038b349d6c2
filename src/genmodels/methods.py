"""One list of every method (chains, maps, diffusion, hybrids) with its camp."""

from __future__ import annotations

from genmodels.catalogue import list_methods as _specs

__all__ = ["list_methods"]


def list_methods() -> list[dict[str, str]]:
    """``[{"name", "camp", "description"}]`` for every method in `genmodels.catalogue`."""
    return [{"name": s.name, "camp": s.camp, "description": s.description} for s in _specs()]
