"""Samplers of a density against NUTS and NeuTra on the targets with a known log Z.

Run (not part of `make test`):

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/learned_samplers.py --out runs/ls
    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/learned_samplers.py --quick  # smoke
    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/learned_samplers.py --medium \
        --targets funnel,gmm40_2d --out runs/ls-a        # the table in parts (`MEDIUM`),
    python benchmarks/learned_samplers.py --out runs/ls \
        --table-from runs/ls-a/runs.jsonl,runs/ls-b/runs.jsonl    # then one table

Every method of the catalogue's ``density`` camp that is registered (SMC, AIS, importance-
corrected flows, diffusion samplers: whatever `genmodels.catalogue.list_methods("density")`
returns when this runs), plus ``nuts`` (4 chains) and ``neutra_hmc``, runs on ``funnel``
(10-D), ``gmm40_2d``, ``gmm40_50d`` and ``manywell_32d`` at three seeds. Each (target, seed,
method) is one `genmodels.compare.run_comparison` of that method alone, so every number is
the one ``genmodels compare`` reports: |Δlog Z| = |log Ẑ − log Z| with the run's standard
error (density camp), the ESS/N of its importance weights, mmd / mmd_floor against exact
samples, modes covered and mode-weight TV (the mixtures), target density and gradient
evaluations, seconds.

Cost unit: one *target evaluation* is one point of one call of log p̃ (a density
evaluation) or of ∇ log p̃ with its value (a gradient evaluation), training and warm-up
included. Each method gets the same time budget (``--budget-seconds``, per run) and its
own settings (``--config``, the ``[methods.NAME]`` tables of ``genmodels compare``); the
table states what each spent, so equal-evaluation comparisons are read off it or set in
the config. Seconds are wall seconds of the method (train + sample) and process CPU
seconds of the whole run (with evaluation): the machine is shared, and CPU time is the
steadier of the two.

``neutra_hmc`` fits its flow by reverse KL on the density (``fit.objective = "reverse"``),
not on exact samples: here every method sees only the density.

Output: ``OUT/runs.jsonl`` (one line per run, appended as it finishes), ``OUT/table.md``
(the table, also printed) and ``OUT/log_z_TARGET.png`` (log Ẑ − log Z per method and seed,
± 2 se, and the mean across seeds with ± 2 sd/√k).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genmodels.catalogue import list_methods
from genmodels.compare import CompareSettings, run_comparison
from genmodels.compare.settings import merge
from genmodels.io import atomic_write_text, load_toml, to_jsonable

TARGETS = ("funnel", "gmm40_2d", "gmm40_50d", "manywell_32d")
SEEDS = (0, 1, 2)
BASELINES = ("nuts", "neutra_hmc")

# Settings of the baselines (over their defaults); --quick shortens them.
DEFAULTS: dict[str, dict[str, Any]] = {
    "nuts": {"chains": 4, "draws": 1000, "warmup": 500},
    "neutra_hmc": {"chains": 4, "draws": 1000, "warmup": 500, "fit": {"objective": "reverse"}},
}
QUICK: dict[str, dict[str, Any]] = {
    "nuts": {"draws": 100, "warmup": 100},
    "neutra_hmc": {"draws": 100, "warmup": 100, "fit": {"steps": 100}},
}
# --medium: the three-seed table in about an hour of 2 shared CPU cores. Every method stops at
# a fixed count of steps (so its target evaluations do not depend on the machine's load);
# --budget-seconds is only a ceiling. SMC, AIS and flow_is keep their defaults.
MEDIUM: dict[str, dict[str, Any]] = {
    "nuts": {"draws": 300, "warmup": 300},
    "neutra_hmc": {"draws": 300, "warmup": 300, "fit": {"steps": 300}},
    "dds": {"train_steps": 250, "batch_size": 64, "time_steps": 32, "particles": 2048},
    "pis": {"train_steps": 250, "batch_size": 64, "time_steps": 32, "particles": 2048},
    "idem": {
        "train_steps": 300,
        "batch_size": 128,
        "num_mc": 50,
        "particles": 500,
        "samples_per_round": 500,
        "sde_steps": 100,
    },
}
MEDIUM_BUDGET_SECONDS = 300.0
MEDIUM_SAMPLES = 1000


def default_methods() -> list[str]:
    """Every registered density-camp method, then the baselines."""
    return [spec.name for spec in list_methods("density")] + list(BASELINES)


def method_values(
    method: str, config: dict[str, Any], quick: bool, medium: bool = False
) -> dict[str, Any]:
    """The method's settings: the defaults here, then --quick's or --medium's, then the
    config file's."""
    preset = QUICK if quick else MEDIUM if medium else {}
    values = merge(DEFAULTS.get(method, {}), preset.get(method, {}))
    return merge(values, config.get("methods", {}).get(method, {}))


def run_one(
    target: str, seed: int, method: str, values: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    """One method on one target at one seed, as ``genmodels compare`` runs it; its row."""
    settings = CompareSettings(
        seed=seed,
        n_samples=args.n_samples,
        budget_seconds=args.budget_seconds,
        methods={method: values},
    )
    out = Path(args.out) / target / f"seed{seed}"
    cpu = time.process_time()
    result = run_comparison(
        target, [method], out, settings, progress=False, report=args.report
    ).to_json()
    row = result["methods"][0]
    return {
        "target": target,
        "seed": seed,
        "method": method,
        "camp": row["camp"],
        "status": row["status"],
        "reason": row["reason"],
        "log_z": row["log_z"],
        "metrics": {k: v for k, v in row["metrics"].items() if isinstance(v, int | float)},
        "cost": row["cost"],
        "cpu_seconds": time.process_time() - cpu,
        "wall_seconds": row["wall_seconds"],
    }


def _mean(values: Sequence[float | None]) -> float | None:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(finite) / len(finite) if finite else None


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.2e}"
    return f"{value:.{digits}g}"


def _count(value: float | None) -> str:
    return "–" if value is None else f"{round(value):,}"


def log_z_text(runs: list[dict[str, Any]]) -> str:
    """``mean |Δlog Z| ± se``: across seeds, the se of the mean of log Ẑ (sd/√k); for one
    run its own se. With an unknown truth, log Ẑ itself."""
    estimates = [r["log_z"] for r in runs if r["log_z"]]
    if not estimates:
        return "–"
    key = "abs_delta_log_z" if "abs_delta_log_z" in estimates[0] else "log_z"
    value = _mean([e[key] for e in estimates])
    if len(estimates) > 1:
        zs = [e["log_z"] for e in estimates]
        mean = sum(zs) / len(zs)
        se = math.sqrt(sum((z - mean) ** 2 for z in zs) / (len(zs) - 1) / len(zs))
    else:
        se = estimates[0]["log_z_se"]
    return f"{_fmt(value)} ± {_fmt(se, 2)}"


def table_row(target: str, method: str, runs: list[dict[str, Any]]) -> str:
    """One line of the markdown table: the means over the runs that finished."""
    ok = [r for r in runs if r["status"] == "ok"]
    metric = lambda key: _mean([r["metrics"].get(key) for r in ok])  # noqa: E731
    cost = lambda key: _mean([r["cost"].get(key) for r in ok])  # noqa: E731
    kinds = sorted({r["log_z"]["log_z_kind"] for r in ok if r["log_z"]})
    modes = metric("modes_covered")
    total = ok[0]["metrics"].get("modes_total") if ok else None
    cells = [
        target,
        method,
        runs[0]["camp"],
        f"{len(ok)}/{len(runs)}",
        log_z_text(ok),
        ", ".join(kinds) or "–",
        _fmt(_mean([r["log_z"].get("ess_fraction") for r in ok if r["log_z"]])),
        _fmt(metric("mmd_ratio")),
        f"{_fmt(modes)}/{total}" if modes is not None and total else "–",
        _fmt(metric("mode_weight_tv")),
        _count(cost("density_evals")),
        _count(cost("grad_evals")),
        _fmt(cost("seconds")),
        _fmt(_mean([r["cpu_seconds"] for r in ok])),
    ]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| target | method | camp | ok | \\|Δlog Z\\| ± se | log Z kind | ESS/N | mmd / floor "
    "| modes | mode TV | density evals | gradient evals | run s | CPU s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def markdown_table(runs: list[dict[str, Any]]) -> str:
    """The table (one line per target and method, a target's lines together, in run order)
    and the failures' reasons."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["target"], r["method"]), []).append(r)
    targets = dict.fromkeys(r["target"] for r in runs)  # a target's rows together, in run order
    rows = [
        table_row(t, m, rs) for target in targets for (t, m), rs in groups.items() if t == target
    ]
    lines = [HEADER, *rows]
    for r in runs:
        if r["status"] != "ok":
            lines.append(f"\n- {r['target']} / {r['method']} / seed {r['seed']}: {r['status']}: "
                         f"{r['reason']}")  # fmt: skip
    return "\n".join(lines) + "\n"


def log_z_figures(runs: list[dict[str, Any]], out: Path) -> list[Path]:
    """Per target: log Ẑ − log Z of every method and seed (`save_log_z_estimates`)."""
    from genmodels.report.plots import save_log_z_estimates

    paths = []
    for target in dict.fromkeys(r["target"] for r in runs):
        rows = [r for r in runs if r["target"] == target and r["status"] == "ok" and r["log_z"]]
        estimates: dict[str, list[tuple[float, float]]] = {}
        for r in rows:
            z = r["log_z"]
            estimates.setdefault(r["method"], []).append((z["log_z"], z["log_z_se"]))
        truth = next((r["log_z"].get("true_log_z") for r in rows), None)
        path = save_log_z_estimates(
            estimates, out / f"log_z_{target}.png", true_log_z=truth, title=target
        )
        if path is not None:
            paths.append(path)
    return paths


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="runs/learned_samplers")
    p.add_argument("--targets", default=",".join(TARGETS))
    p.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    p.add_argument("--methods", default=None, help="default: every density method + baselines")
    p.add_argument("--config", default=None, help="TOML with [methods.NAME] tables")
    p.add_argument("--budget-seconds", type=float, default=None, help="per run (method)")
    p.add_argument("--n-samples", type=int, default=None, help="default 2000")
    p.add_argument("--report", action="store_true", help="write each run's HTML report")
    p.add_argument("--quick", action="store_true", help="one seed, short runs: a smoke test")
    p.add_argument(
        "--medium",
        action="store_true",
        help="three seeds at fixed, shorter settings (MEDIUM): the table in about an hour",
    )
    p.add_argument(
        "--table-from",
        default=None,
        help="comma-separated runs.jsonl files (of runs in separate processes): write their "
        "table and figures to --out, run nothing",
    )
    args = p.parse_args(argv)
    if args.quick and args.medium:
        p.error("--quick and --medium are two presets: choose one")
    budget, samples = 300.0, 2000
    if args.medium:
        budget, samples = MEDIUM_BUDGET_SECONDS, MEDIUM_SAMPLES
    if args.quick:
        args.seeds = "0" if args.seeds == ",".join(map(str, SEEDS)) else args.seeds
        budget, samples = 60.0, 500
    args.budget_seconds = budget if args.budget_seconds is None else args.budget_seconds
    args.n_samples = samples if args.n_samples is None else args.n_samples
    if args.quick:  # the smoke test stays short whatever was asked
        args.n_samples, args.budget_seconds = (
            min(args.n_samples, 500),
            min(args.budget_seconds, 60.0),
        )
    return args


def read_runs(paths: Sequence[str]) -> list[dict[str, Any]]:
    """The rows of several ``runs.jsonl`` files, in file order."""
    runs = []
    for path in paths:
        with open(path) as f:
            runs += [json.loads(line) for line in f if line.strip()]
    return runs


def write_outputs(runs: list[dict[str, Any]], out: Path) -> str:
    """``OUT/table.md`` and the log Z figures of ``runs``; the table."""
    table = markdown_table(runs)
    atomic_write_text(out / "table.md", table)
    log_z_figures(runs, out)
    return table


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Run the benchmark; returns its rows (also in ``OUT/runs.jsonl``)."""
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.table_from:
        runs = read_runs(args.table_from.split(","))
        print(write_outputs(runs, out))
        return runs
    config = load_toml(args.config) if args.config else {}
    methods = args.methods.split(",") if args.methods else default_methods()
    (out / "runs.jsonl").write_text("")  # this run's lines only
    runs: list[dict[str, Any]] = []
    for target in args.targets.split(","):
        for seed in map(int, args.seeds.split(",")):
            for method in methods:
                values = method_values(method, config, args.quick, args.medium)
                row = run_one(target, seed, method, values, args)
                runs.append(row)
                with open(out / "runs.jsonl", "a") as f:
                    f.write(json.dumps(to_jsonable(row)) + "\n")
                print(f"{target} seed {seed} {method}: {row['status']} "
                      f"({row['cpu_seconds']:.1f} CPU s)", file=sys.stderr)  # fmt: skip
    print(write_outputs(runs, out))
    return runs


if __name__ == "__main__":
    main()
