"""Runnable reproductions of the claims genmodels is built around (`genmodels demo`).

Each demo is ``run(out_dir, *, seed, quick=False) -> dict``: it writes ``out_dir/result.json``
and a PNG or GIF, in at most a few minutes on two CPU cores (``quick``: a few seconds).

Example:
    >>> from genmodels.demos import DEMOS
    >>> "manifold" in DEMOS
    True
"""

from __future__ import annotations

import importlib

from genmodels.demos.base import DEMOS, Demo, register_demo, run_demo, write_result

__all__ = ["DEMOS", "Demo", "list_demos", "register_demo", "run_demo", "write_result"]

# Each module registers its demo on import.
_DEMO_MODULES = (
    "langevin_weights",
    "low_density_score",
    "mixing",
    "ddpm_is_score",
    "pc_sampling",
    "manifold",
    "inverse_transform",
    "neutra_funnel",
    "inpainting",
    "reverse_gif",
    "guidance",
    "density_modes",
)

for _module in _DEMO_MODULES:
    importlib.import_module(f"genmodels.demos.{_module}")


def list_demos() -> list[dict[str, str]]:
    """``[{"name", "claim"}]`` for every registered demo, in registration order."""
    return [{"name": name, "claim": demo.claim} for name, demo in DEMOS.items()]
