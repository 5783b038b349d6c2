"""One list of every method (chains, maps, diffusion, hybrids) with its camp."""

from __future__ import annotations

import importlib

__all__ = ["list_methods"]

# Subpackages that register methods when imported. A subpackage that is not there yet is
# skipped, so the list grows as the library does.
_REGISTERING_MODULES = (
    "genmodels.mcmc",
    "genmodels.models",
    "genmodels.diffusion",
    "genmodels.hybrids",
)


def list_methods() -> list[dict[str, str]]:
    """``[{"name", "camp"}]`` for every registered kernel, model and hybrid."""
    rows: list[dict[str, str]] = []
    for module_name in _REGISTERING_MODULES:
        module = importlib.import_module(module_name)
        for name, camp in getattr(module, "METHOD_CAMPS", lambda: {})().items():
            rows.append({"name": name, "camp": camp})
    return rows
