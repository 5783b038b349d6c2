"""DDS and PIS trained from the density alone: log Z error, ESS/N, modes, cost (not in `make test`).

For each target and method: train with the given settings, draw ``particles`` weighted paths,
and report |Δlog Z| of the importance-weighted estimate (with its standard error) and of the
ELBO, ESS/N of the path weights, modes covered and mode-weight TV of the resampled draws
(mixtures), target evaluations (density + gradient, training included) and CPU process time
(``time.process_time``: the machine is shared, so wall time would measure the neighbours).

Usage:
    PYTHONPATH=src python benchmarks/learned_diffusion_samplers.py
        [--targets funnel,eight_gaussians] [--methods dds,pis] [--seeds 0]
        [--train-steps 1000] [--batch-size 128] [--time-steps 64] [--loss log_variance]
        [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from genmodels.catalogue import get_method
from genmodels.metrics.modes import mode_weight_tv, modes_covered
from genmodels.targets import get_target

# The reference scale σ per target: near the target's spread (the untrained sampler is N(0, σ²)).
SIGMA = {"funnel": 1.0, "eight_gaussians": 2.0, "gmm40_2d": 20.0, "manywell_32d": 1.5}


def run_one(target_name: str, method: str, seed: int, args: argparse.Namespace) -> dict:
    target = get_target(target_name)
    spec = get_method(method, "density")
    settings = spec.settings(
        train_steps=args.train_steps, batch_size=args.batch_size, time_steps=args.time_steps,
        particles=args.particles, loss=args.loss, sigma=SIGMA.get(target_name, 1.0),
    )  # fmt: skip
    cpu = time.process_time()
    out = spec.build(target, settings, seed=seed)
    cpu = time.process_time() - cpu
    row = {
        "target": target_name, "method": method, "seed": seed, "log_z": out.log_z,
        "se": out.log_z_se, "elbo": out.info["elbo"], "ess": out.ess,
        "evals": out.cost.target_evals, "cpu_s": cpu,
    }  # fmt: skip
    truth = target.log_z
    row["dlogz"] = abs(out.log_z - truth) if truth is not None else math.nan
    row["delbo"] = abs(out.info["elbo"] - truth) if truth is not None else math.nan
    if target.modes is not None:
        x = out.resample(args.particles, torch.Generator().manual_seed(seed + 7))
        row["modes"] = f"{modes_covered(x, target.modes)}/{target.modes.k}"
        row["tv"] = mode_weight_tv(x, target.modes)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", default="funnel,eight_gaussians")
    p.add_argument("--methods", default="dds,pis")
    p.add_argument("--seeds", default="0")
    p.add_argument("--train-steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--time-steps", type=int, default=64)
    p.add_argument("--particles", type=int, default=4096)
    p.add_argument("--loss", default="log_variance")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print("| target | method | seed | |Δlog Z| (IS) ± se | |Δ ELBO| | ESS/N | modes | TV | "
          "target evals | CPU s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for target_name in args.targets.split(","):
        for method in args.methods.split(","):
            for seed in map(int, args.seeds.split(",")):
                r = run_one(target_name, method, seed, args)
                print(
                    f"| {target_name} | {method} | {seed} | {r['dlogz']:.3f} ± {r['se']:.3f} | "
                    f"{r['delbo']:.3f} | {r['ess']:.3f} | {r.get('modes', '–')} | "
                    f"{r.get('tv', math.nan):.3f} | {r['evals']:.3g} | {r['cpu_s']:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
