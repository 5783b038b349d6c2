"""`density-modes`: on the 40-mode mixture, chains from one start stay in a few modes, while
SMC from a broad reference, a diffusion sampler learned from the density and a flow trained
by FAB cover most of them — at an equal budget of target evaluations.

`gmm40_2d` (40 unit Gaussians spread over [−40, 40]², unnormalised, log Z known) is the
benchmark of Midgley et al. 2023 and Blessing et al. 2024. Each method sees the density only.

The budget is set by the first method of `METHODS`, the learned sampler (`dds`, the denoising
diffusion sampler of Vargas et al. 2023, trained on the density alone): every target
evaluation it spent, training and the final draw included. NUTS (4 chains, all started in
mode 0) gets the same number of gradients, warm-up and draws together, its chains cut at the
draw where the count is reached. SMC runs at its own settings and is shown with what it
spent, which is at most the budget: its adaptive schedule reaches its result with a few per
cent of it, and more particles would only add to a count it does not need. A control row,
``reference_is``, is importance sampling from DDS's reference N(0, 20² I) with as many
particles as DDS draws (one density evaluation each): what an untrained DDS would give,
against which the ``dds`` row shows what training added, or cost. ``fab`` (Midgley et al.
2023) trains a flow on the density by the α = 2 divergence with AIS and is importance-
sampled, at settings whose count is under the budget. Reported per method:
target evaluations, modes covered (`genmodels.metrics.modes_covered`) and mode-weight TV on
the same number of points, and Δlog Z = log Ẑ − log Z with its standard error where
the method estimates log Z (SMC, DDS, FAB and the control: all unbiased for Z; NUTS has
none).

A new method is one function ``fn(target, evals, seed, quick) -> MethodRun`` added to
`METHODS`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from genmodels.demos._plot import pyplot
from genmodels.demos.base import register_demo, save_figure, write_result
from genmodels.density.base import WeightedSamples
from genmodels.targets import get_target
from genmodels.targets.base import Target

__all__ = [
    "METHODS",
    "MethodRun",
    "run_dds_method",
    "run_fab_method",
    "run_nuts",
    "run_reference_is",
    "run_smc_method",
]

TARGET = "gmm40_2d"
POINTS = 4000
"""Points each method's sample is scored on (equally weighted: SMC's are resampled, NUTS's
thinned evenly)."""


@dataclass
class MethodRun:
    """What one method of the demo drew and spent.

    Attributes:
        x: ``[n, 2]`` equally weighted points.
        evals: target evaluations (density and gradient), everything included.
        log_z, log_z_se: its log Z estimate and error, None where it has none.
        seconds: process (CPU) seconds.
        notes: anything worth a line (chains, particles, temperatures).
    """

    x: Tensor
    evals: int
    log_z: float | None = None
    log_z_se: float | None = None
    seconds: float = 0.0
    notes: dict | None = None


MethodFn = Callable[[Target, "int | None", int, bool], MethodRun]


DDS_QUICK = {"train_steps": 100, "batch_size": 64, "time_steps": 16, "particles": 8192}
DDS_FULL = {"train_steps": 200, "batch_size": 128, "time_steps": 16, "particles": 32768}
"""The learned sampler's settings (`genmodels.density.DDSSettings`; σ = the target's spread,
20, so that the untrained sampler already covers the box). Many particles, because the
points scored are resampled by weight: a mode is covered only if enough particles carry
weight in it."""

FAB_QUICK = {"iterations": 15}
FAB_FULL: dict = {}
"""FAB's settings (`genmodels.density.FABSettings`): 15 training iterations in the quick demo
(17 AIS passes, about 0.22 M target evaluations), its defaults (60) in the full one."""


def _scored(ws: WeightedSamples, seed: int) -> Tensor:
    """`POINTS` equally weighted points: the particles resampled by weight."""
    return ws.resample(POINTS, torch.Generator(device=ws.x.device).manual_seed(seed))


def run_dds_method(target: Target, evals: int | None, seed: int, quick: bool) -> MethodRun:
    """DDS trained on the density by the log-variance loss, then weighted paths, resampled.
    It runs first: its count (training and the final paths) is the budget."""
    from genmodels.density import DDSSettings, run_dds

    values = DDS_QUICK if quick else DDS_FULL
    t0 = time.process_time()
    ws = run_dds(target, DDSSettings(**values), seed=seed)
    x = _scored(ws, seed)
    notes = {**values, "ess_fraction": ws.ess, "train_target_evals": ws.info["train_target_evals"]}
    seconds = time.process_time() - t0
    return MethodRun(x, ws.cost.target_evals, ws.log_z, ws.log_z_se, seconds, notes)


def run_reference_is(target: Target, evals: int | None, seed: int, quick: bool) -> MethodRun:
    """The control of the learned sampler: importance sampling from DDS's reference
    N(0, σ² I) (σ = the target's spread), which is what an untrained DDS draws, with as many
    particles as DDS draws. What DDS covers beyond this row is owed to its training."""
    from genmodels.density import GaussianProposal, importance_sample, reference_scale

    particles = (DDS_QUICK if quick else DDS_FULL)["particles"]
    loc = target.modes.centres.new_zeros(target.modes.centres.shape[-1])
    proposal = GaussianProposal(loc, reference_scale(None, target))
    t0 = time.process_time()
    g = torch.Generator(device=loc.device).manual_seed(seed)
    ws = importance_sample(target.log_prob, proposal, particles, generator=g)
    notes = {"particles": particles, "ess_fraction": ws.ess}
    seconds = time.process_time() - t0
    return MethodRun(_scored(ws, seed), ws.cost.target_evals, ws.log_z, ws.log_z_se, seconds, notes)


def run_fab_method(target: Target, evals: int | None, seed: int, quick: bool) -> MethodRun:
    """FAB (`genmodels.density.fab`): a flow trained by the α = 2 divergence with AIS to
    p̃²/q, then importance sampling with it, at settings whose count stays under the budget
    (its defaults in the full demo)."""
    from genmodels.density import FABSettings, run_fab

    values = FAB_QUICK if quick else FAB_FULL
    t0 = time.process_time()
    ws = run_fab(target, FABSettings(**values), seed=seed)
    notes = {**values, "ess_fraction": ws.ess, "iterations": ws.info["iterations"]}
    seconds = time.process_time() - t0
    return MethodRun(_scored(ws, seed), ws.cost.target_evals, ws.log_z, ws.log_z_se, seconds, notes)


def run_smc_method(target: Target, evals: int | None, seed: int, quick: bool) -> MethodRun:
    """SMC from N(0, 20² I), which covers the [−40, 40]² box: tempering keeps the particles in
    every mode they start near, and reweighting gives each mode its weight. ``evals`` is
    not used: SMC's adaptive schedule sets its own count, well under the budget."""
    from genmodels.density import SMCSettings, run_smc

    particles, moves = (200, 3) if quick else (500, 5)
    # MALA moves with the steps the conditional ESS picks: enough for 40 round modes (SMC's
    # defaults, HMC with a jittered step and >= 50 temperatures, are tuned for a funnel)
    settings = SMCSettings(particles=particles, populations=4, moves=moves, reference_scale=20.0,
                           kernel="mala", step_jitter=0.0, max_step=1.0)  # fmt: skip
    t0 = time.process_time()
    ws = run_smc(target, settings, seed=seed)
    x = _scored(ws, seed)
    notes = {"particles": particles, "populations": 4, "moves_per_temperature": moves,
             "temperatures": ws.info["num_temperatures"], "ess_fraction": ws.ess}  # fmt: skip
    seconds = time.process_time() - t0
    return MethodRun(x, ws.cost.target_evals, ws.log_z, ws.log_z_se, seconds, notes)


def run_nuts(target: Target, evals: int | None, seed: int, quick: bool) -> MethodRun:
    """NUTS, 4 chains all started in mode 0, given ``evals`` target gradients in all: the
    draws are cut where warm-up plus sampling reach the budget."""
    from genmodels.mcmc import sample_chains

    chains, warmup = 4, (100 if quick else 300)
    budget = evals if evals is not None else 20_000
    g = torch.Generator().manual_seed(seed)
    # drawn on the CPU (the same start on every machine), then moved to the target's device
    init = target.modes.centres[0].cpu() + 0.1 * torch.randn(chains, 2, generator=g)
    # a unit Gaussian takes NUTS 3 or more gradients per draw: this many draws reach the budget
    draws = max(budget // (3 * chains), 100)
    t0 = time.process_time()
    init = init.to(torch.get_default_device())
    s = sample_chains(target, "nuts", chains=chains, draws=draws, warmup=warmup, init=init,
                      seed=seed, progress=False)  # fmt: skip
    spent = s.info["grad_evals_warmup"] + s.stats["num_grad_evals"].sum(0).cumsum(0)  # [draws]
    keep = max(int((spent <= budget).sum()), 1)
    x = s.x[:, :keep].reshape(-1, 2)
    index = torch.linspace(0, x.shape[0] - 1, min(POINTS, x.shape[0])).long()
    notes = {"chains": chains, "warmup": warmup, "draws_per_chain": keep}
    seconds = time.process_time() - t0
    return MethodRun(x[index], int(spent[keep - 1]), None, None, seconds, notes)


METHODS: dict[str, MethodFn] = {
    "dds": run_dds_method,
    "reference_is": run_reference_is,
    "fab": run_fab_method,
    "smc": run_smc_method,
    "nuts": run_nuts,
}
"""The demo's methods, in order; the first sets the budget of target evaluations."""


def _score(target: Target, run: MethodRun) -> dict:
    from genmodels.metrics.modes import mode_weight_tv, modes_covered

    delta = None if run.log_z is None else run.log_z - target.log_z
    return {
        "target_evals": run.evals,
        "modes_covered": modes_covered(run.x, target.modes),
        "mode_weight_tv": mode_weight_tv(run.x, target.modes),
        "delta_log_z": delta,
        "log_z_se": run.log_z_se,
        "cpu_seconds": round(run.seconds, 2),
        **(run.notes or {}),
    }


@register_demo(
    "density-modes",
    "on the 40-mode mixture gmm40_2d, NUTS (4 chains from one start) stays in a few modes "
    "while SMC and samplers learned from the density (DDS, FAB) cover most of them, at an "
    "equal budget of target evaluations (DDS's count)",
)
def run(out_dir: Path, *, seed: int = 0, quick: bool = False) -> dict:
    """Every method of `METHODS` on `gmm40_2d` at the first method's target-evaluation count."""
    out_dir = Path(out_dir)
    target = get_target(TARGET)
    runs: dict[str, MethodRun] = {}
    budget: int | None = None
    for name, fn in METHODS.items():
        runs[name] = fn(target, budget, seed, quick)
        budget = runs[name].evals if budget is None else budget
    rows = {name: _score(target, r) for name, r in runs.items()}
    for name, row in rows.items():
        print(f"{name}: {row['target_evals']} target evaluations, "
              f"{row['modes_covered']}/{target.modes.k} modes")  # fmt: skip
    exact = target.sample(POINTS, torch.Generator().manual_seed(seed + 1))
    _figure(out_dir / "density_modes.png", target, exact, runs, rows)
    result = {
        "target": TARGET,
        "modes": target.modes.k,
        "log_z": target.log_z,
        "budget_target_evals": budget,
        "points": POINTS,
        "exact_modes_covered": _score(target, MethodRun(exact, 0))["modes_covered"],
        **rows,
        "figure": "density_modes.png",
    }
    return write_result(out_dir, result)


def _figure(path: Path, target: Target, exact: Tensor, runs: dict, rows: dict) -> None:
    plt = pyplot()
    panels = [("exact", exact, None), *((n, r.x, rows[n]) for n, r in runs.items())]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.8))
    centres = target.modes.centres.cpu()
    for ax, (name, x, row) in zip(axes, panels, strict=True):
        x = x.detach().cpu()
        ax.scatter(centres[:, 0], centres[:, 1], s=30, facecolors="none", edgecolors="0.6")
        ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.3)
        title = f"exact ({target.modes.k} modes)"
        if row is not None:
            title = f"{name}: {row['modes_covered']}/{target.modes.k} modes\n"
            title += f"{row['target_evals']:,} target evals"
            if row["delta_log_z"] is not None and math.isfinite(row["delta_log_z"]):
                title += f"\nΔlog Z {row['delta_log_z']:+.2f} ± {row['log_z_se']:.2f}"
        ax.set(xlim=(-50, 50), ylim=(-50, 50), aspect="equal", title=title)
    save_figure(fig, path)
