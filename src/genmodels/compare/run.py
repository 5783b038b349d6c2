"""`run_comparison`: every method on one target, under one budget, into one report.

First every method is checked against the target and its settings are parsed, so that bad
settings are answered before anything trains. Then for each method: train/run it under its
share of the budget, evaluate its samples with the target's metrics, record its cost, draw its
pictures. A method that fails is recorded with its error (the traceback goes to
``DIR/<method>/error.txt``; samples with NaN or inf fail the row with their count) and the
others go on; ``results.json`` is rewritten after every method, so an interrupted run keeps
what it finished.

Under `torchrun` every rank runs the comparison: a runner that ``shards`` runs on all ranks
together (data-parallel training, sharded samples and chains) and hands its output to rank
0; any other method runs on rank 0 alone while the others wait at a barrier (noted in its
row). Rank 0 alone scores, draws and writes. A method that fails on some ranks while they
work together ends the job (`genmodels.distributed.rank_failure`); one that fails on every
rank at once (a diverged training, a method that does not apply) is a row as usual.
"""

from __future__ import annotations

import sys
import time
import traceback
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genmodels.budget import Budget
from genmodels.compare.base import MethodOutput, MethodRunner, RunContext
from genmodels.compare.costs import (
    chain_diagnostics,
    cost_summary,
    log_z_summary,
    target_cost_summary,
)
from genmodels.compare.runners import get_runner
from genmodels.compare.settings import CAMP_WEIGHTS, CompareSettings
from genmodels.distributed import join, on_rank_zero, rank_failure
from genmodels.errors import (
    ConfigError,
    DistributedError,
    GenmodelsError,
    InvalidInputError,
    NotApplicableError,
    TrainingDivergedError,
)
from genmodels.io import atomic_write_text, to_jsonable, write_json
from genmodels.memory import check_allocation, tensor_bytes
from genmodels.samples import Samples
from genmodels.targets.base import Target, get_target
from genmodels.targets.data import target_samples_in_data_units
from genmodels.training.distributed import DistInfo

__all__ = [
    "ComparisonResult",
    "MethodResult",
    "evaluation_points",
    "method_seed",
    "nonfinite_count",
    "run_comparison",
]

Evaluator = Callable[[Tensor, Target], dict[str, Any]]


@dataclass
class MethodResult:
    """One row of the comparison (one entry of ``results.json``).

    Attributes:
        method, camp: the method and its camp.
        status: ``"ok"``, ``"failed"`` or ``"not_applicable"``.
        reason: why it failed or does not apply (None when ok).
        metrics: the target's metrics of the samples (`genmodels.metrics.evaluate_samples`).
        metrics_error: why there are no metrics, when evaluation itself failed.
        cost: ``train_seconds, sample_seconds, sample_seconds_per_1000, nfe_per_sample, n,
            ess, ess_per_second`` (see `genmodels.compare.costs.cost_summary`), the
            evaluations of the target ``density_evals, grad_evals, target_evals`` (when the
            runner says them), ``seconds`` (train + sample; `target_cost_summary`) and, for
            a learned model, ``target_draws`` (the exact draws it trained on).
        log_z: a sampler of the density's estimate of log Z against the target's
            (`genmodels.compare.costs.log_z_summary`): ``log_z, log_z_se, log_z_kind,
            ess_fraction``, and ``true_log_z, delta_log_z, abs_delta_log_z, delta_in_se``
            when the target knows its log Z; empty for other methods.
        chain: chain diagnostics (``min_ess_bulk, max_r_hat, accept_rate, divergences``).
        settings: the settings the method ran with.
        notes: extras (``train_steps``, ``stopped_by_budget``, plot errors).
        figures: name → path of each figure, relative to the report directory.
        wall_seconds: wall-clock seconds the method took in total (with evaluation, plots).
    """

    method: str
    camp: str
    status: str = "ok"
    reason: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    metrics_error: str | None = None
    cost: dict[str, Any] = field(default_factory=dict)
    chain: dict[str, Any] = field(default_factory=dict)
    log_z: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)
    wall_seconds: float = 0.0


@dataclass
class ComparisonResult:
    """Everything `results.json` holds: the run's settings and one `MethodResult` per method.

    ``unavailable_metrics`` names each metric the target's kind offers that could not be
    computed here, with the reason (e.g. Inception FID without torch-fidelity), once.
    """

    target: str
    target_kind: str
    event_shape: list[int]
    seed: int
    n_samples: int
    budget_seconds: float | None
    methods: list[MethodResult] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)
    unavailable_metrics: dict[str, str] = field(default_factory=dict)
    total_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))


def method_seed(seed: int, method: str) -> int:
    """A method's seed: fixed by the run seed and the method's name, not by its position."""
    return seed * 1_000_003 + zlib.crc32(method.encode()) % 1_000_003


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _default_evaluator() -> Evaluator:
    def evaluate(x: Tensor, target: Target) -> dict[str, Any]:
        from genmodels.metrics import evaluate_samples

        return evaluate_samples(x, target)

    return evaluate


def _echo(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_comparison(
    target: str | Target,
    methods: Sequence[str],
    out_dir: str | Path,
    settings: CompareSettings | None = None,
    *,
    progress: bool = True,
    evaluate: Evaluator | None = None,
    runners: Mapping[str, MethodRunner] | None = None,
    report: bool = True,
    echo: Callable[[str], None] = _echo,
) -> ComparisonResult:
    """Run ``methods`` on ``target``, evaluate them and write ``out_dir/results.json`` + report.

    Args:
        target: a `Target` or a name for `get_target`.
        methods: method names (any camp of `genmodels.catalogue`), run in this order.
        out_dir: where ``results.json``, ``index.html`` and the figures go.
        settings: seed, sample size, budget and per-method overrides (default settings if None).
        progress: progress lines on stderr and progress bars.
        evaluate: ``(x [n, *event], target) -> metrics`` (default: `evaluate_samples`).
        runners: runners to use instead of `get_runner`'s, by method name.
        report: also write ``index.html`` and the figures.
        echo: where progress lines go.

    Returns:
        The `ComparisonResult` that was written to ``results.json``.

    Raises:
        UnknownNameError: an unknown target or method (before anything runs).
        InvalidInputError: no methods, or a method named twice.
        ConfigError: a method's settings are bad (every method's are checked before any runs).

    Example:
        >>> run_comparison("eight_gaussians", ["nuts", "ddpm"], "runs/cmp")  # doctest: +SKIP
    """
    settings = settings or CompareSettings()
    budget = Budget(settings.budget_seconds)
    methods = _checked_methods(methods)
    target = get_target(target) if isinstance(target, str) else target
    # the exact reference and every method's samples are n_samples draws each
    check_allocation(tensor_bytes(settings.n_samples, *target.event_shape), "n_samples")
    resolved = {m: (runners or {}).get(m) or get_runner(m) for m in methods}
    prepared = _prepare(resolved, target, settings)
    unknown_overrides = set(settings.methods) - set(methods)
    if unknown_overrides:
        ignored = ", ".join(sorted(unknown_overrides))
        echo(f"note: settings for methods that do not run are ignored: {ignored}")
    job = _Job(target, settings, Path(out_dir), evaluate or _default_evaluator(), join())
    if job.writer:
        job.out.mkdir(parents=True, exist_ok=True)
    result = ComparisonResult(
        target=target.name,
        target_kind=target.kind,
        event_shape=list(target.event_shape),
        seed=settings.seed,
        n_samples=settings.n_samples,
        budget_seconds=settings.budget_seconds,
    )
    weights = [CAMP_WEIGHTS.get(resolved[m].camp, 1.0) for m in methods]
    for i, method in enumerate(methods):
        runner = resolved[method]
        # this method's share of what is left; unused time of earlier methods flows on
        share = budget.share(budget.remaining() * weights[i] / sum(weights[i:]))
        where = f"[{i + 1}/{len(methods)}] {method} ({runner.camp})"
        if progress:
            echo(f"{where}: running" + (f", budget {share.seconds:.0f} s" if share.limited else ""))
        row = _run_one(runner, prepared[method], job, share, progress and sys.stderr.isatty())
        # metrics that cannot be computed here are named once for the run, not in every row
        result.unavailable_metrics.update(row.metrics.pop("unavailable", None) or {})
        result.methods.append(row)
        if progress:
            echo(f"{where}: {_summary_line(row)}")
        result.total_seconds = budget.elapsed()
        job.save(result)
    if report and job.writer:
        _write_report(result, job, echo)
    result.total_seconds = budget.elapsed()
    job.save(result)
    return result


@dataclass
class _Job:
    """What every method of one comparison shares."""

    target: Target
    settings: CompareSettings
    out: Path
    evaluate: Evaluator
    info: DistInfo
    exact: Tensor | None = None

    @property
    def writer(self) -> bool:
        """Rank 0 (or the one process) scores the methods and writes the report."""
        return self.info.rank == 0

    def save(self, result: ComparisonResult) -> None:
        """(Re)write ``results.json`` (the writer's; the other ranks write nothing)."""
        if self.writer:
            write_json(self.out / "results.json", result.to_json())

    def __post_init__(self) -> None:
        if self.target.has_samples:  # the exact reference sample, the same for every method
            g = torch.Generator().manual_seed(12345)
            exact = self.target.sample(self.settings.n_samples, generator=g)
            self.exact = exact.detach().float().cpu()


def _checked_methods(methods: Sequence[str]) -> list[str]:
    methods = [m.strip() for m in methods if m.strip()]
    if not methods:
        raise InvalidInputError("no methods given")
    duplicates = sorted({m for m in methods if methods.count(m) > 1})
    if duplicates:
        raise InvalidInputError(f"method(s) named twice: {', '.join(duplicates)}")
    return methods


def _prepare(
    runners: Mapping[str, MethodRunner], target: Target, settings: CompareSettings
) -> dict[str, Any]:
    """Every method's typed settings, or the `NotApplicableError` saying why it cannot run,
    before anything runs: a typo in the last method's settings is answered at once, not after
    the others trained.

    Raises:
        ConfigError: a method's settings are bad (a ``ValueError``/``TypeError`` a runner's
            settings raise is named as one too).
    """
    prepared: dict[str, Any] = {}
    for method, runner in runners.items():
        try:
            runner.check(target)
        except NotApplicableError as e:
            prepared[method] = e
            continue
        try:
            prepared[method] = runner.parse_settings(target, settings.methods.get(method, {}))
        except GenmodelsError:
            raise
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{method}: bad settings: {_first_line(e)}") from None
    return prepared


def _write_report(result: ComparisonResult, job: _Job, echo: Callable[[str], None]) -> None:
    from genmodels.report.html import write_report

    try:
        write_report(result, job.out, exact=job.exact, target=job.target)
    except Exception as e:  # the numbers are written; a broken figure must not lose them
        atomic_write_text(job.out / "report_error.txt", traceback.format_exc())
        echo(f"warning: report incomplete: {_first_line(e)}")


def _summary_line(row: MethodResult) -> str:
    if row.status != "ok":
        return f"{row.status}: {row.reason}"
    parts = [f"{row.wall_seconds:.1f} s"]
    for key in ("mmd", "mmd_floor", "modes_covered", "fd", "fd_floor", "precision", "recall"):
        if key in row.metrics:
            value = row.metrics[key]
            parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    if row.cost.get("ess_per_second") is not None:
        parts.append(f"ess/s={row.cost['ess_per_second']:.4g}")
    if row.log_z.get("abs_delta_log_z") is not None:
        parts.append(f"|dlogZ|={row.log_z['abs_delta_log_z']:.3g}±{row.log_z['log_z_se']:.2g}")
    if row.cost.get("target_evals") is not None:
        parts.append(f"target evals={row.cost['target_evals']}")
    if row.metrics_error:
        parts.append(f"metrics: {row.metrics_error}")
    return ", ".join(parts)


def evaluation_points(samples: Samples, n: int) -> Tensor:
    """At most ``n`` draws to evaluate, ``[≤n, *event]``, so every method is scored at one size.

    The biased MMD² and its floor shrink with the sample size, so a fair table scores every
    method on the same number of points. Chains are thinned evenly along the draws, every chain
    kept (a chain stuck in one mode stays visible).
    """
    if samples.n <= n:
        return samples.flat()
    if samples.chains is None:
        return samples.x[:n]
    chains, draws = samples.x.shape[:2]
    per_chain = min(draws, -(-n // chains))
    idx = torch.linspace(0, draws - 1, per_chain).round().long()
    thinned = samples.x[:, idx]  # [chains, per_chain, *event]
    # [per_chain, chains, *event] -> [per_chain * chains, *event]: interleave the chains
    return thinned.transpose(0, 1).reshape(-1, *samples.event_shape)[:n]


def nonfinite_count(samples: Samples) -> int:
    """How many draws (rows of `Samples.flat`) hold a NaN or an inf."""
    flat = samples.flat().reshape(samples.n, -1)
    return int((~torch.isfinite(flat)).any(dim=1).sum())


def _run_one(
    runner: MethodRunner, method_settings: Any, job: _Job, budget: Budget, bars: bool
) -> MethodResult:
    """Run one method with its `_prepare`d settings and score it; its failure is recorded in
    its row, never raised."""
    method = runner.name
    row = MethodResult(method=method, camp=runner.camp)
    method_dir = job.out / method
    t0 = time.perf_counter()
    try:
        if isinstance(method_settings, NotApplicableError):
            raise method_settings
        row.settings = _settings_json(method_settings)
        ctx = RunContext(
            seed=method_seed(job.settings.seed, method),
            n_samples=job.settings.n_samples,
            budget=budget,
            out_dir=method_dir,
            progress=bars,
            frame_points=1000 if job.target.kind != "image" else 36,
        )
        output = _run_method(runner, job.target, method_settings, ctx, job.info, row)
    except NotApplicableError as e:
        row.status, row.reason = "not_applicable", str(e)
    except DistributedError:
        raise  # a rank failed while the ranks worked together: the job cannot go on
    except Exception as e:  # one method failing must not lose the others' results
        row.status, row.reason = "failed", _first_line(e)
        if job.writer:
            atomic_write_text(method_dir / "error.txt", traceback.format_exc())
        row.figures["error"] = f"{method}/error.txt"
    else:
        if output is not None:  # None: another rank's share, which rank 0 scores
            _score(row, output, job)
    row.wall_seconds = time.perf_counter() - t0
    return row


def _run_method(
    runner: MethodRunner,
    target: Target,
    settings: Any,
    ctx: RunContext,
    info: DistInfo,
    row: MethodResult,
) -> MethodOutput | None:
    """``runner.run``: in one process as it is; under `torchrun` by every rank together when
    the runner ``shards``, else by rank 0 alone while the others wait (said in the row)."""
    if not info.distributed:
        return runner.run(target, settings, ctx)
    shards = getattr(runner, "shards", None)
    how = shards(settings, info.world_size) if shards is not None else None
    if not how:
        others = info.world_size - 1
        row.notes["distributed"] = (
            f"ran on rank 0 alone (this {runner.camp} method does not split over ranks); "
            f"the other {others} rank{'s' if others > 1 else ''} waited"
        )
        return on_rank_zero(lambda: runner.run(target, settings, ctx), info)
    row.notes["distributed"] = how
    try:
        return runner.run(target, settings, replace(ctx, dist=info))
    except (NotApplicableError, TrainingDivergedError):
        raise  # raised by every rank at once (a divergence is agreed over the ranks)
    except Exception as e:
        if info.rank == 0 and ctx.out_dir is not None:
            atomic_write_text(ctx.out_dir / "error.txt", traceback.format_exc())
        raise rank_failure(runner.name, e) from None


def _settings_json(settings: Any) -> dict[str, Any]:
    """The settings as ``results.json`` records them."""
    if is_dataclass(settings) and not isinstance(settings, type):
        return to_jsonable(asdict(settings))
    return to_jsonable(dict(settings or {}))


def _score(row: MethodResult, output: MethodOutput, job: _Job) -> None:
    """Save the samples, then fill the row's chain diagnostics, cost, metrics and figures."""
    method_dir = job.out / row.method
    samples = output.samples
    samples.x = samples.x.detach().float().cpu()
    if output.settings is not None:
        row.settings = _settings_json(output.settings)
    row.notes.update(output.notes)
    if output.train_steps:
        row.notes["train_steps"] = output.train_steps
    target_samples_in_data_units(samples, job.target).save(method_dir / "samples.npz")
    row.figures["samples_npz"] = f"{row.method}/samples.npz"
    if samples.chains is not None:
        try:
            row.chain = chain_diagnostics(samples)
        except Exception as e:
            row.notes["chain_diagnostics_error"] = _first_line(e)
    row.cost = cost_summary(samples, output.train_seconds, row.chain.get("min_ess_bulk"))
    row.cost.update(target_cost_summary(output.target_cost, output.train_seconds, samples.seconds))
    if output.target_draws is not None:
        row.cost["target_draws"] = int(output.target_draws)
    row.log_z = log_z_summary(output.log_z, job.target.log_z)
    bad = nonfinite_count(samples)
    if bad:  # a broken result, not a score: the row fails (its samples.npz stays to look at)
        row.status, row.reason = "failed", f"{bad} of {samples.n} samples are NaN or inf"
        return
    try:
        flat = evaluation_points(samples, job.settings.n_samples)
        row.metrics = dict(job.evaluate(flat, job.target))
        if "mmd" in row.metrics and row.metrics.get("mmd_floor"):
            row.metrics["mmd_ratio"] = row.metrics["mmd"] / row.metrics["mmd_floor"]
        if "fd" in row.metrics and row.metrics.get("fd_floor"):
            row.metrics["fd_ratio"] = row.metrics["fd"] / row.metrics["fd_floor"]
    except Exception as e:
        row.metrics_error = _first_line(e)
    try:
        from genmodels.report.plots import method_figures

        row.figures.update(method_figures(row, samples, output, job.exact, job.target, job.out))
    except Exception as e:  # a figure that cannot be drawn is noted, the numbers stay
        row.notes["figure_error"] = _first_line(e)
