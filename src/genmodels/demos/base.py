"""The demo registry and the small helpers every demo shares (result JSON, figures).

A demo is a function ``run(out_dir, *, seed, quick=False) -> dict`` that reproduces one
claim, writes ``out_dir/result.json`` (the returned dict) and at least one PNG or GIF.
``quick=True`` shrinks it to a few seconds for the tests; the claim is still checked there
where that is cheap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genmodels.io import to_jsonable, write_json
from genmodels.registry import Registry
from genmodels.report.figure import save_figure as write_figure

__all__ = ["DEMOS", "Demo", "register_demo", "run_demo", "save_figure", "write_result"]

DemoFn = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Demo:
    """One registered reproduction: its name, a one-line claim, and the function."""

    name: str
    claim: str
    run: DemoFn


DEMOS: Registry[Demo] = Registry("demo")


def register_demo(name: str, claim: str) -> Callable[[DemoFn], DemoFn]:
    """Decorator: register ``run(out_dir, *, seed, quick=False) -> dict`` under ``name``.

    Example:
        >>> @register_demo("example-doc", "nothing to see")
        ... def run(out_dir, *, seed=0, quick=False):
        ...     return write_result(out_dir, {"ok": True})
        >>> DEMOS.get("example-doc").claim
        'nothing to see'
    """

    def decorator(fn: DemoFn) -> DemoFn:
        DEMOS.add(name, Demo(name, claim, fn))
        return fn

    return decorator


def write_result(out_dir: str | Path, result: dict[str, Any]) -> dict[str, Any]:
    """Write ``out_dir/result.json`` atomically (tensors → lists) and return the JSON dict."""
    clean = to_jsonable(result)
    write_json(Path(out_dir) / "result.json", clean)
    return clean


def save_figure(fig: Any, path: str | Path) -> Path:
    """Save a demo's matplotlib figure (110 dpi, cropped) atomically and close it."""
    return write_figure(fig, path, dpi=110, tight=True)


def run_demo(name: str, out_dir: str | Path, *, seed: int = 0, quick: bool = False) -> dict:
    """Run the demo ``name`` into ``out_dir``; returns its result dict (with ``seconds``).

    Raises:
        UnknownNameError: no demo of that name (with a "did you mean").
    """
    demo = DEMOS.get(name)
    torch.manual_seed(seed)
    start = time.perf_counter()
    result = demo.run(Path(out_dir), seed=seed, quick=quick)
    result = {"demo": name, "seed": seed, "quick": quick, **result}
    result["seconds"] = round(time.perf_counter() - start, 2)
    return write_result(out_dir, result)
