"""iDEM on a target with a known log Z (not part of `make test`).

Trains `genmodels.density.idem.run_idem` on ``gmm40_2d`` (40 unit Gaussians in [-40, 40]²),
``eight_gaussians``, ``funnel`` or any target with a density and reports, per seed: modes
covered (of the resampled particles and of the reverse-SDE draws; mixtures), mode-weight TV,
Δlog Z with its standard error, ESS/N, weights equal to zero, the cost in target
evaluations and the CPU (process) time — the machine is shared, so process time, not wall
time, is the cost in seconds.

Usage:
    PYTHONPATH=src python benchmarks/idem_gmm.py [--target gmm40_2d] [--seeds 0 1 2]
        [--set train_steps=2000 --set num_mc=100 ...] [--threads 1] [--outputs importance]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import torch

from genmodels.density.idem import IDEMSettings, run_idem
from genmodels.io import parse_toml_value
from genmodels.metrics import mode_weight_tv, modes_covered
from genmodels.targets import get_target


def one_run(
    target_name: str, settings: IDEMSettings, seed: int, outputs: list[str]
) -> dict[str, float]:
    """One seed: the importance-weighted output, and the reverse-SDE draws of the same model
    (a second run with ``output="sde"``: same seed, same training). Mode columns only for a
    target with modes; none from a run whose weights are all zero (it has no draws)."""
    target = get_target(target_name)
    row: dict[str, float] = {"seed": seed}
    for output in outputs:
        t0 = time.process_time()
        run = run_idem(target, replace(settings, output=output), seed=seed)
        cpu = time.process_time() - t0
        row[f"{output}_cpu_s"] = round(cpu, 1)
        if target.modes is not None and run.ess > 0:
            x = run.resample(settings.particles, torch.Generator().manual_seed(seed))
            row[f"{output}_modes"] = modes_covered(x, target.modes)
            row[f"{output}_tv"] = round(mode_weight_tv(x, target.modes), 3)
        if output == "importance":
            row["dlogz"] = round(run.log_z - target.log_z, 3)
            row["logz_se"] = round(run.log_z_se, 3)
            row["ess"] = round(run.ess, 3)
            row["target_evals"] = run.cost.target_evals
            row["train_steps"] = run.info["train_steps"]
            row["zero_weight"] = run.info["zero_weight"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="gmm40_2d")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], help="IDEMSettings field=value")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--outputs", nargs="+", default=["importance", "sde"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fields = {k: parse_toml_value(v) for k, v in (s.split("=", 1) for s in args.set)}
    settings = IDEMSettings(**fields)
    print(json.dumps({"target": args.target, "settings": fields}))
    for seed in args.seeds:
        print(json.dumps(one_run(args.target, settings, seed, args.outputs)), flush=True)


if __name__ == "__main__":
    main()
