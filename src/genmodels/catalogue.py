"""The catalogue: every method genmodels offers, registered once as a `MethodSpec`.

A method is one file plus its registration. A chain kernel, a learned model (map or
diffusion) or a hybrid registers itself where it is defined::

    @register_method("rwmh", camp="chain", settings=ChainSettings,
                     description="random-walk Metropolis with a Gaussian proposal")
    class RWMH: ...

Everything that needs to know which methods exist reads this catalogue and nothing else:
``genmodels methods`` lists it, ``genmodels mcmc --sampler`` takes its chains,
``genmodels train`` its maps and diffusion models, ``genmodels compare`` runs any of them
(the camp says how), and checkpoints are loaded through it. Importing `genmodels` imports
the packages that define the built-in methods, so the catalogue is complete whatever a
caller imported first; a user's own method registers from the user's own module.

Example:
    >>> import genmodels
    >>> get_method("nuts").camp
    'chain'
    >>> [m.name for m in list_methods("hybrid")]
    ['flow_mh', 'neutra_hmc']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from genmodels.errors import UnknownNameError
from genmodels.registry import Registry

__all__ = [
    "CAMPS",
    "CATALOGUE",
    "Camp",
    "MethodSpec",
    "get_method",
    "list_methods",
    "register_method",
    "unregister_method",
]

Camp = Literal["chain", "map", "diffusion", "hybrid", "density"]
CAMPS: tuple[Camp, ...] = ("chain", "map", "diffusion", "hybrid", "density")
"""The camps in the order `genmodels methods` lists them."""

T = TypeVar("T")


@dataclass(frozen=True)
class MethodSpec:
    """What the rest of genmodels needs to know about one method.

    Attributes:
        name: the name users type (``"nuts"``, ``"flow"``, ``"ddpm"``, ``"flow_mh"``).
        camp: ``"chain"`` (an MCMC kernel class with ``init``/``step``), ``"map"`` or
            ``"diffusion"`` (a `GenerativeModel` subclass), ``"hybrid"`` (a function that
            runs the hybrid on a target), ``"density"`` (a function that samples a density
            and estimates its normaliser, returning `genmodels.density.WeightedSamples`).
        build: the kernel class, model class or hybrid function.
        settings: the typed settings dataclass of the method: a chain's run settings
            (`genmodels.mcmc.ChainSettings`), a learned model's ``Config``, a hybrid's
            settings (`genmodels.hybrids.HybridSettings`).
        description: one line for ``genmodels methods``.
        order: sort key within the camp (DESIGN.md's order first; user methods after).
    """

    name: str
    camp: Camp
    build: Any
    settings: type
    description: str
    order: int = 100


CATALOGUE: Registry[MethodSpec] = Registry("method")


def register_method(
    name: str, *, camp: Camp, description: str, settings: type | None = None, order: int = 100
) -> Callable[[T], T]:
    """Decorator: register the decorated kernel class, model class or hybrid function.

    ``settings`` defaults to the decorated class's ``Config`` (a learned model's config).
    """
    if camp not in CAMPS:
        raise ValueError(f"camp must be one of {', '.join(CAMPS)}, got {camp!r}")

    def decorator(build: T) -> T:
        own = settings if settings is not None else getattr(build, "Config", None)
        if own is None:
            raise TypeError(f"method {name!r}: give settings= (it has no Config)")
        CATALOGUE.add(name, MethodSpec(name, camp, build, own, description, order))
        return build

    return decorator


def unregister_method(name: str) -> None:
    """Remove a method (for tests that register a method of their own)."""
    CATALOGUE.remove(name)


def get_method(name: str, camp: Camp | tuple[Camp, ...] | None = None) -> MethodSpec:
    """The spec of ``name``; with ``camp``, only methods of that camp (or camps) are found.

    Raises:
        UnknownNameError: no such method (in that camp), with a did-you-mean hint.
    """
    camps = (camp,) if isinstance(camp, str) else camp
    if camps is None:
        return CATALOGUE.get(name)
    words = {"chain": "sampler", "map": "model", "diffusion": "model"}
    kind = " or ".join(dict.fromkeys(words.get(c, c) for c in camps))
    subset: Registry[MethodSpec] = Registry(kind)
    for spec in list_methods(camps):
        subset.add(spec.name, spec)
    if name in CATALOGUE and name not in subset:
        spec = CATALOGUE.get(name)
        raise UnknownNameError(
            f"{name!r} is a {spec.camp} method, not a {kind} "
            f"(known: {', '.join(s.name for s in list_methods(camps))})"
        )
    return subset.get(name)


def list_methods(camp: Camp | tuple[Camp, ...] | None = None) -> list[MethodSpec]:
    """Registered methods, by camp (`CAMPS` order) and then by ``order`` and name."""
    camps = CAMPS if camp is None else ((camp,) if isinstance(camp, str) else camp)
    specs = [spec for _, spec in CATALOGUE.items() if spec.camp in camps]
    return sorted(specs, key=lambda s: (CAMPS.index(s.camp), s.order, s.name))
