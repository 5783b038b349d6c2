"""The small interface between `genmodels compare` and the camps: one `MethodRunner` per method.

A runner knows how one method is run on a target — train then sample (maps, diffusion), or
warm up and run chains — and returns what it drew with what it cost. The comparison driver
(`genmodels.compare.run`) does the rest: metrics, budget, error isolation, the report.

Example (a runner that draws exact samples; the real ones are in `genmodels.compare.runners`):
    >>> import time, torch
    >>> from genmodels.budget import Budget
from genmodels.samples import Samples
    >>> class Exact:
    ...     name, camp = "exact", "map"
    ...     def check(self, target):  # raise NotApplicableError when it cannot run
    ...         pass
    ...     def parse_settings(self, target, values):  # typed settings from the user's values
    ...         return values
    ...     def run(self, target, settings, ctx):
    ...         t0 = time.perf_counter()
    ...         x = target.sample(ctx.n_samples, generator=torch.Generator().manual_seed(ctx.seed))
    ...         return MethodOutput(Samples(x, seconds=time.perf_counter() - t0))
    >>> isinstance(Exact(), MethodRunner)
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from torch import Tensor

from genmodels.budget import Budget
from genmodels.density.base import Cost
from genmodels.samples import Samples
from genmodels.targets.base import Target
from genmodels.training.distributed import DistInfo

__all__ = ["MethodOutput", "MethodRunner", "RunContext"]


@dataclass
class RunContext:
    """What the driver tells a runner about this run.

    Attributes:
        seed: seeds everything the method does (weights, data order, sampling noise).
        n_samples: independent samples to draw (chains: a hint; their layout is in settings).
        budget: the method's wall-clock allowance (`Budget`; unlimited by default). Training
            stops early when it is used up; sampling always finishes.
        out_dir: a directory the runner may write into (checkpoints, logs).
        progress: show progress bars.
        frame_points: points (2-D) or images kept per frame of a recorded trajectory.
        dist: the `torchrun` job whose ranks all run this method together (a runner whose
            ``shards(settings, world_size)`` says how); its ``run`` then returns the
            output on rank 0 and None on the others. None: this process runs it alone.
    """

    seed: int = 0
    n_samples: int = 2000
    budget: Budget = field(default_factory=Budget)
    out_dir: Path | None = None
    progress: bool = False
    frame_points: int = 1000
    dist: DistInfo | None = None


@dataclass
class MethodOutput:
    """What a method drew and what it cost.

    Attributes:
        samples: the draws (independent ``[n, *event]`` or chains ``[chains, draws, *event]``);
            ``samples.seconds`` is the sampling time (chains: warm-up included) and
            ``samples.nfe`` the network or gradient evaluations spent sampling.
        train_seconds: seconds spent training (0 for chains).
        train_steps: training steps completed (0 for chains).
        trajectory: states of the sampling process, each ``[m, *event]`` (the reverse
            diffusion, annealed Langevin), for an animation; None when there is none.
        trajectory_label: what the trajectory shows, e.g. ``"reverse diffusion"``.
        settings: the settings actually used (recorded in ``results.json``; a dataclass or
            a dict).
        notes: anything else worth a line in the report (e.g. ``stopped_by_budget``).
        target_cost: evaluations of the target's density and gradient, training included
            (`genmodels.density.Cost`): what makes methods comparable at equal cost. A
            learned model trained on samples evaluates none; None when the runner cannot say.
        target_draws: exact draws of the target a learned model saw in training (steps ×
            batch size); None for methods that use the density.
        log_z: a sampler of the density's estimate of log Z: ``estimate``, ``se``, ``kind``
            (`genmodels.density.WeightedSamples.log_z_kind`) and ``ess_fraction`` (ESS/N of
            its importance weights); empty for methods that give none.
    """

    samples: Samples
    train_seconds: float = 0.0
    train_steps: int = 0
    trajectory: list[Tensor] | None = None
    trajectory_label: str = ""
    settings: Any = None
    notes: dict[str, Any] = field(default_factory=dict)
    target_cost: Cost | None = None
    target_draws: int | None = None
    log_z: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class MethodRunner(Protocol):
    """How one method runs on a target.

    A runner whose work splits over `torchrun` ranks also has ``shards(settings,
    world_size) -> str | None``, saying how (a note for the row) or None when it does not:
    then every rank calls ``run`` with ``ctx.dist`` set (rank 0 gets the output, the
    others None); otherwise the method runs on rank 0 alone.

    Attributes:
        name: the method name (``nuts``, ``ddpm``, ...).
        camp: ``"chain"``, ``"map"``, ``"diffusion"``, ``"hybrid"`` or ``"density"``.
    """

    name: str
    camp: str

    def check(self, target: Target) -> None:
        """Raise `NotApplicableError` (with the reason) when the method cannot run on ``target``."""

    def parse_settings(self, target: Target, values: dict[str, Any]) -> Any:
        """The method's typed settings on ``target`` from the user's ``values`` (over the
        defaults); raise `ConfigError` for an unknown key or a wrong type."""

    def run(self, target: Target, settings: Any, ctx: RunContext) -> MethodOutput | None:
        """Train/warm up, then sample, with the settings `parse_settings` returned (None
        only on a rank other than 0 of a sharded run, see ``ctx.dist``)."""
