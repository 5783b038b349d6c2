"""The `Target` interface: what every sampler and model is run on and judged against."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from genmodels.checks import check_range
from genmodels.errors import NotApplicableError
from genmodels.memory import check_allocation, tensor_bytes
from genmodels.registry import Registry
from genmodels.targets.constraints import ParamBlock, ParamSpace, as_param_space

__all__ = [
    "PATH_LOADERS",
    "TARGETS",
    "ModeStructure",
    "Target",
    "TargetKind",
    "check_test_size",
    "describe_targets",
    "draw_device",
    "get_target",
    "register_path_loader",
]

TargetKind = Literal["toy2d", "vector", "posterior", "image"]
"""What a target is, for the consumers that treat kinds differently (metrics, plots, compare's
defaults): ``toy2d`` — a 2-D toy with sampler and density; ``vector`` — vector data or a
sampler of any dimension d (a user's data file: `genmodels.targets.data.DataTarget`);
``posterior`` — a density for the chains; ``image`` — an image data set."""


@dataclass(frozen=True)
class ModeStructure:
    """The modes of a multi-modal target, for mode metrics.

    Attributes:
        weights: true probability of each mode, shape ``[K]``, summing to 1.
        centres: a representative point of each mode, shape ``[K, *event_shape]`` (for plots).
        assign: maps points ``[n, *event_shape]`` to mode indices ``[n]`` (long).
        core: optional; maps points ``[n, *event_shape]`` to booleans ``[n]``: whether each
            point lies in the core of the mode ``assign`` gives it (e.g. within a typical
            distance of one of its components), so that a sample spread between the modes
            does not count as finding them (`genmodels.metrics.modes_covered`).
        core_share: with ``core``, a callable returning ``[K]``: the share of exact draws
            assigned to each mode that ``core`` marks (what a perfect sampler scores).
    """

    weights: Tensor
    centres: Tensor
    assign: object  # Callable[[Tensor], Tensor]; typed loosely so dataclass stays frozen-hashable
    core: object = None  # Callable[[Tensor], Tensor] | None
    core_share: object = None  # Callable[[], Tensor] | None

    @property
    def k(self) -> int:
        return int(self.weights.numel())


def draw_device(generator: torch.Generator | None) -> torch.device:
    """Where a target's exact draws are made: on ``generator``'s device, or on the default
    device without one.

    This is the targets' device policy: a CPU generator gives the same sample on every
    machine (callers move it with ``.to(device)``, a documented conversion); the target's
    constants are moved to the draws, and `Target.log_prob`/`Target.score` follow ``x``.
    """
    return generator.device if generator is not None else torch.get_default_device()


def check_test_size(target: Any, n: Any) -> None:
    """``n`` test points: an integer >= 1 whose draws fit in memory (one-line errors)."""
    check_range(n, "n (test points)", ge=1, integer=True)
    dim = math.prod(target.event_shape)
    check_allocation(tensor_bytes(n, dim), f"{n} test points of {target.name!r}")


class Target:
    """Something to sample from: a density, a sampler, or both.

    Subclasses override what they can provide:

    - `sample(n, generator)` — exact independent draws (toys, data sets, some posteriors),
      made on `draw_device` (the generator's device);
    - `log_prob(x)` — log-density, normalised if `normalized` is true (else up to a constant);
    - `score(x)` — defaults to autograd of `log_prob`;
    - `modes` — a `ModeStructure` for mixtures;
    - `num_classes` and `sample_labelled(n, generator)` — labelled draws, for class-conditional
      models (labelled image data sets; mixtures, labelled by mode);
    - `params` — the named blocks of a posterior (`genmodels.targets.constraints.ParamBlock`:
      name, shape, support), laid out in that order in ``x``; `log_prob` then takes the
      constrained values and the chains run in unconstrained space (see `param_space`).

    Shapes: ``x`` is ``[*batch, *event_shape]``; `log_prob` returns ``[*batch]``.

    Example:
        >>> class StdNormal(Target):
        ...     kind = "toy2d"
        ...     event_shape = (2,)
        ...     normalized = True
        ...     def sample(self, n, generator=None):
        ...         return torch.randn(n, 2, generator=generator, device=draw_device(generator))
        ...     def log_prob(self, x):
        ...         return -0.5 * (x**2).sum(-1) - torch.log(torch.tensor(2 * torch.pi))
        >>> t = StdNormal()
        >>> t.has_log_prob, t.has_samples, t.score(torch.zeros(3, 2)).shape
        (True, True, torch.Size([3, 2]))
    """

    name: str = "target"
    kind: ClassVar[TargetKind]
    event_shape: tuple[int, ...]
    normalized: bool = False
    modes: ModeStructure | None = None
    # Discrete data (images) take this many evenly spaced levels in [-1, 1]; a likelihood on
    # them needs uniform dequantisation with bin width 2 / (num_levels - 1). None: continuous.
    num_levels: int | None = None
    # Named blocks of the coordinates (None: one real block "x" of event_shape).
    params: Sequence[ParamBlock] | None = None
    # The std of a centred Gaussian that covers the target, where it is known: the starting
    # scale of samplers that begin from one (SMC's and AIS's reference, DDS's σ) when their
    # settings leave it unset. None: unknown (they take 1).
    spread: float | None = None

    @property
    def dim(self) -> int:
        d = 1
        for s in self.event_shape:
            d *= s
        return d

    @property
    def log_z(self) -> float | None:
        """log Z = log ∫ exp(log_prob): 0 for a normalised density, the known value for a
        target that states it, None when it is unknown (what `genmodels.density`'s estimates
        are scored against)."""
        return 0.0 if self.normalized and self.has_log_prob else None

    @property
    def has_log_prob(self) -> bool:
        return type(self).log_prob is not Target.log_prob

    @property
    def has_samples(self) -> bool:
        return type(self).sample is not Target.sample

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Exact independent draws, shape ``[n, *event_shape]``."""
        raise NotApplicableError(f"target {self.name!r} has no exact sampler")

    @property
    def num_classes(self) -> int:
        """Number of labels `sample_labelled` draws from (0: the target has no labels)."""
        return 0

    def sample_labelled(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Exact draws ``[n, *event_shape]`` and their labels ``[n]`` (long, 0..num_classes−1)."""
        raise NotApplicableError(f"target {self.name!r} has no labels")

    def log_prob(self, x: Tensor) -> Tensor:
        """Log-density at ``x`` (normalised iff `normalized`), shape ``x.shape[:-len(event)]``."""
        raise NotApplicableError(f"target {self.name!r} has no density")

    def test_set(self, n: int = 10_000) -> Tensor:
        """Held-out data for likelihoods and metrics, shape ``[n, *event_shape]``.

        Data sets return their test split (``n`` is an upper bound); targets with an exact
        sampler return ``n`` draws at a fixed seed that training never uses.
        """
        check_test_size(self, n)
        generator = torch.Generator().manual_seed(2**31 - 1)  # CPU: the same set on every machine
        return self.sample(n, generator=generator).to(torch.get_default_device())

    def score(self, x: Tensor) -> Tensor:
        """∇ₓ log p(x), by autograd of `log_prob` unless a subclass knows it in closed form."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.log_prob(x).sum(), x)
        return grad

    def run_record(self) -> dict[str, Any]:
        """What a trained run's ``config.json`` keeps about this target beyond its name (under
        ``"data"``), so that ``sample`` and ``evaluate`` can rebuild it: a data set's split and
        standardisation. ``{}`` (nothing to keep) for most targets."""
        return {}

    def param_space(self) -> ParamSpace:
        """The target's parameter blocks as a `ParamSpace` (its `params`, or one real block
        ``x`` of the whole event), which maps draws between the constrained values `log_prob`
        takes and the unconstrained ones the chains run in."""
        return as_param_space(self.params, self.dim)

    def param_names(self) -> list[str]:
        """Names of the coordinates, for posterior summaries (``x[0]``, ..., or the blocks'
        ``mu``, ``theta[0]``, ...)."""
        return self.param_space().names

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, event_shape={self.event_shape})"


TARGETS: Registry[type[Target]] = Registry("target")


PathLoader = Callable[..., "Target | None"]
PATH_LOADERS: list[PathLoader] = []
"""Functions ``loader(path, **kwargs) -> Target | None`` that `get_target` tries, in order,
for a name that is not registered; each returns None for a path it does not read. The image
loaders of `genmodels.targets.images` register here, so this module never imports them."""


def register_path_loader(loader: PathLoader) -> PathLoader:
    """Decorator: let `get_target` build targets from paths ``loader`` understands."""
    PATH_LOADERS.append(loader)
    return loader


def get_target(name: str, **kwargs: object) -> Target:
    """Build a target: a registered name, or a path one of `PATH_LOADERS` reads (an image
    folder, a data file ``.npz``/``.npy``/``.csv``/``.tsv`` of vectors of any dimension or of
    images, a density file ``model.py:NAME`` with ``dim=``).

    Example:
        >>> get_target("eight_gaussians").event_shape
        (2,)
    """
    if name not in TARGETS:
        for loader in PATH_LOADERS:
            target = loader(Path(name), **kwargs)
            if target is not None:
                target.name = name
                return target
    target = TARGETS.get(name)(**kwargs)
    target.name = name
    return target


def describe_targets() -> list[dict[str, object]]:
    """``{name, kind, dim, has_log_prob, has_samples}`` for every registered target, in
    registration order (what ``genmodels targets`` lists).

    Example:
        >>> row = describe_targets()[0]
        >>> sorted(row)
        ['dim', 'has_log_prob', 'has_samples', 'kind', 'name']
    """
    rows = []
    for name in TARGETS:
        target = get_target(name)
        rows.append(
            {
                "name": name,
                "kind": target.kind,
                "dim": target.dim,
                "has_log_prob": target.has_log_prob,
                "has_samples": target.has_samples,
            }
        )
    return rows
