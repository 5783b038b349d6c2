"""SMC's and AIS's log Z at their default settings against the known normalisers of funnel,
manywell_32d, gmm40_2d and gmm40_50d, over many seeds: is the estimate unbiased, and is its
reported standard error honest?

Per target and method: the mean of log Ẑ − log Z over the seeds, its sd across seeds, the
mean reported se, the z-scores (log Ẑ − log Z) / se (mean ≈ 0 and sd ≈ 1 when the estimate is
unbiased and its se honest), the fraction of seeds within 3 se, target evaluations and CPU
(process) seconds per run on one thread.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/smc_ais_logz.py \\
        [--seeds 10] [--first-seed 0] [--targets funnel,...] [--methods smc,ais] \\
        [--set smc.moves=10 ...]

``--set method.field=value`` overrides a default (values parsed as TOML: ``smc.kernel="hmc"``).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import replace

import torch

import genmodels  # noqa: F401  (registers the targets and methods)
from genmodels.catalogue import get_method
from genmodels.io import parse_toml_value
from genmodels.targets import get_target

TARGETS = ("funnel", "manywell_32d", "gmm40_2d", "gmm40_50d")


def overrides(items: list[str]) -> dict[str, dict]:
    """``["smc.moves=10"]`` -> ``{"smc": {"moves": 10}}``."""
    out: dict[str, dict] = {}
    for item in items:
        key, value = item.split("=", 1)
        method, name = key.split(".", 1)
        out.setdefault(method, {})[name] = parse_toml_value(value)
    return out


def measure(name: str, method: str, changes: dict, seeds: int, first: int = 0) -> dict:
    """Run ``method`` at its defaults (plus ``changes``) on ``name`` for seeds ``first``,
    ``first + 1``, ... (``seeds`` of them)."""
    target = get_target(name)
    spec = get_method(method, "density")
    settings = replace(spec.settings(), **changes)
    delta, se, cpu, evals = [], [], [], []
    for seed in range(first, first + seeds):
        t0 = time.process_time()
        ws = spec.build(target, settings, seed=seed)
        cpu.append(time.process_time() - t0)
        delta.append(ws.log_z - target.log_z)
        se.append(ws.log_z_se)
        evals.append(ws.cost.target_evals)
    z = [d / s for d, s in zip(delta, se, strict=True)]
    return {
        "mean": statistics.fmean(delta),
        "sd": statistics.stdev(delta),
        "se": statistics.fmean(se),
        "z_mean": statistics.fmean(z),
        "z_sd": statistics.stdev(z),
        "within": sum(abs(v) < 3 for v in z) / seeds,
        "evals": statistics.fmean(evals),
        "cpu": statistics.fmean(cpu),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--targets", default=",".join(TARGETS))
    p.add_argument("--methods", default="smc,ais")
    p.add_argument("--set", nargs="*", default=[], metavar="METHOD.FIELD=VALUE")
    args = p.parse_args()
    torch.set_num_threads(1)
    changes = overrides(args.set)
    print(
        "| target | method | mean log Ẑ − log Z | sd across seeds | mean se | z mean | z sd "
        "| within 3 se | target evals | CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.targets.split(","):
        for method in args.methods.split(","):
            r = measure(name, method, changes.get(method, {}), args.seeds, args.first_seed)
            within = f"{round(r['within'] * args.seeds)}/{args.seeds}"
            print(
                f"| {name} | {method} | {r['mean']:+.3f} | {r['sd']:.3f} | {r['se']:.3f} "
                f"| {r['z_mean']:+.2f} | {r['z_sd']:.2f} | {within} "
                f"| {r['evals'] / 1e6:.2f} M | {r['cpu']:.2f} |",
                flush=True,
            )
            if not math.isfinite(r["z_sd"]):
                print(f"  ({method} on {name}: a se was not finite)")


if __name__ == "__main__":
    main()
