"""`genmodels compare`: run chains, maps and diffusion models on one target, write the report."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from genmodels.checks import check_seed
from genmodels.cli.app import app, echo_json
from genmodels.compare import DEFAULT_METHODS, load_settings, run_comparison
from genmodels.distributed import barrier, join, world_size
from genmodels.errors import InvalidInputError
from genmodels.io import check_output_dir


def _table(result_json: dict) -> list[str]:
    """A plain-text results table for the terminal."""
    lines = []
    for row in result_json["methods"]:
        m, c = row["metrics"], row["cost"]
        if row["status"] != "ok":
            lines.append(f"  {row['method']:<14} {row['status']}: {row['reason']}")
            continue
        quality = ", ".join(
            f"{k}={m[k]:.4g}" if isinstance(m[k], float) else f"{k}={m[k]}"
            for k in ("mmd_ratio", "modes_covered", "fd", "precision", "recall")
            if m.get(k) is not None
        )
        ess = c.get("ess_per_second")
        lines.append(
            f"  {row['method']:<14} {quality or row.get('metrics_error') or '-'}; "
            f"train {c['train_seconds']:.1f} s, {c['sample_seconds_per_1000']:.3g} s/1k, "
            f"{c['nfe_per_sample']:.4g} NFE/sample"
            + (f", ESS/s {ess:.4g}" if ess is not None else "")
            + _evidence(row)
        )
    return lines


def _evidence(row: dict) -> str:
    """The log Z and target-evaluation part of a row's line (empty where undefined)."""
    z, c = row.get("log_z") or {}, row["cost"]
    parts = []
    if z:
        if z.get("abs_delta_log_z") is not None:
            parts.append(f"|dlogZ| {z['abs_delta_log_z']:.3g} ± {z['log_z_se']:.2g}")
        else:
            parts.append(f"logZ {z['log_z']:.4g} ± {z['log_z_se']:.2g}")
        if z.get("ess_fraction") is not None:
            parts.append(f"ESS/N {z['ess_fraction']:.3g}")
    if c.get("target_evals") is not None:
        parts.append(f"target evals {c['density_evals']} density + {c['grad_evals']} gradient")
    return "".join(f", {p}" for p in parts)


@app.command("compare")
def compare_command(
    target: Annotated[
        str,
        typer.Option(
            "--target", help="Target name (see `genmodels targets`), or model.py:NAME (a file)."
        ),
    ] = "eight_gaussians",
    dim: Annotated[
        int | None,
        typer.Option("--dim", help="Dimension of a model.py:NAME function log_prob(x) -> [n]."),
    ] = None,
    methods: Annotated[
        str, typer.Option("--methods", help="Comma-separated methods (see `genmodels methods`).")
    ] = ",".join(DEFAULT_METHODS),
    out: Annotated[Path, typer.Option("--out", help="Report directory.")] = Path("runs/compare"),
    budget_seconds: Annotated[
        float | None,
        typer.Option("--budget-seconds", help="Total time budget of all methods (default 540)."),
    ] = None,
    no_budget: Annotated[
        bool,
        typer.Option(
            "--no-budget",
            help="No time budget: every method runs its configured steps and draws, so the "
            "run repeats bit-for-bit at the same thread count.",
        ),
    ] = False,
    config: Annotated[Path | None, typer.Option("--config", help="TOML file of settings.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Base seed (default 0).")] = None,
    n_samples: Annotated[
        int | None, typer.Option("--n-samples", help="Samples per learned model (default 2000).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print results.json on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress lines.")] = False,
) -> None:
    """Run methods on one target under one budget; write DIR/results.json and DIR/index.html.

    Exit codes: 0 when every method ran (or does not apply to the target); 2 on bad input,
    every method's settings checked before any runs; 1 when a method failed while running,
    after the others finished and results.json and the report were written.

    Under `torchrun` learned models train data-parallel and sample sharded, chains are
    split over the ranks, other methods run on rank 0 alone; rank 0 writes and prints.
    """
    check_output_dir(out)
    if seed is not None:
        check_seed(seed)
    if no_budget and budget_seconds is not None:
        raise InvalidInputError("--no-budget and --budget-seconds exclude each other")
    settings = load_settings(config, seed=seed, budget_seconds=budget_seconds, n_samples=n_samples)
    if no_budget:
        settings = replace(settings, budget_seconds=None)
    from genmodels.targets.user_density import resolve_target

    resolved = resolve_target(target, dim)
    job = _join()
    speaker = job is None or job.rank == 0  # under torchrun rank 0 speaks and writes
    quiet_ranks = {} if speaker else {"echo": lambda message: None}
    result = run_comparison(
        resolved, methods.split(","), out, settings, progress=not quiet and speaker, **quiet_ranks
    ).to_json()
    barrier(job)  # the ranks leave together, once rank 0 has written the report
    if not speaker:
        return
    if as_json:
        echo_json(result)
    else:
        _print_result(result, out)
    failed = [row for row in result["methods"] if row["status"] == "failed"]
    if failed:
        names = ", ".join(row["method"] for row in failed)
        print(
            f"genmodels: {len(failed)} of {len(result['methods'])} methods failed: {names} "
            f"(see {out / 'results.json'})",
            file=sys.stderr,
        )
        raise SystemExit(1)  # not typer.Exit: run without standalone mode, click returns it


def _join() -> Any:
    """Under `torchrun`, the process group on the device the learned models train on by
    default (``auto``: NCCL and ``cuda:LOCAL_RANK`` on GPUs, gloo on CPUs); else None."""
    if world_size() <= 1:
        return None
    from genmodels.device import resolve_device

    return join(resolve_device("auto"))


def _print_result(result: dict, out: Path) -> None:
    n, seconds = len(result["methods"]), result["total_seconds"]
    typer.echo(f"{result['target']}: {n} methods in {seconds:.0f} s")
    for line in _table(result):
        typer.echo(line)
    for key, reason in result.get("unavailable_metrics", {}).items():
        typer.echo(f"  {key} not computed: {reason}")
    typer.echo(f"report: {(out / 'index.html').resolve()}")
