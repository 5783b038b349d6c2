"""Do the learned models' default settings converge? `genmodels train` with no flags, measured.

For each method, ``genmodels train METHOD --data eight_gaussians`` runs with its kind defaults
(`genmodels.training.defaults.kind_defaults`, the values ``compare`` uses) in a subprocess;
its CPU time (user + system, from ``getrusage`` of the child: the machine may be shared, so
wall time says little) and the evaluation `train` prints at the end (mmd against mmd_floor,
modes) are reported. For the methods with a likelihood in ``--nll`` the PF-ODE (or flow) NLL
of test points is set beside the true entropy of the target, a Monte Carlo mean of
-log p on exact samples with its standard error.

    python benchmarks/train_defaults.py --out runs/defaults
    python benchmarks/train_defaults.py --methods ddpm --nll ddpm --out runs/defaults

The bar (issue 13): every diffusion model within 2x mmd_floor with all modes, ddpm's NLL within
0.1 nats of the entropy, each in at most 3 CPU-minutes. Figures go to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
from pathlib import Path

import torch

METHODS = ("ddpm", "sde_vp", "flow_matching", "flow", "gan", "vae")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def genmodels(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "genmodels", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"genmodels {' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


def true_entropy(target_name: str, n: int = 200_000) -> tuple[float, float]:
    """Monte Carlo entropy -E[log p(x)], x ~ p, and its standard error."""
    from genmodels.targets import get_target

    target = get_target(target_name)
    x = target.sample(n, generator=torch.Generator().manual_seed(7))
    log_p = target.log_prob(x).double()
    return float(-log_p.mean()), float(log_p.std() / math.sqrt(n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--target", default="eight_gaussians")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--nll", default="ddpm", help="methods whose test NLL is measured")
    parser.add_argument("--nll-n", type=int, default=2000)
    args = parser.parse_args()
    entropy, entropy_se = true_entropy(args.target)
    print(f"true entropy of {args.target}: {entropy:.4f} ± {entropy_se:.4f} nats")
    for method in args.methods.split(","):
        run = args.out / method
        before = cpu_seconds()
        train = ["train", method, "--data", args.target, "--out", str(run), "--no-progress"]
        summary = json.loads(genmodels(*train, "--json"))
        cpu = cpu_seconds() - before
        ev = summary["eval"]
        line = (
            f"{method}: {summary['steps']} steps, {cpu:.0f} CPU s, mmd/floor "
            f"{ev['mmd'] / ev['mmd_floor']:.2f}, modes {ev.get('modes_covered', 0):.0f}/"
            f"{ev.get('modes_total', 0):.0f}"
        )
        if method in args.nll.split(","):
            score = ["likelihood", str(run), "--data", args.target, "--n", str(args.nll_n)]
            nll = json.loads(genmodels(*score, "--json"))
            line += (
                f", NLL {nll['nll_nats']:.3f} ± {nll['nll_stderr']:.3f} "
                f"(entropy + {nll['nll_nats'] - entropy:.3f})"
            )
        print(line, flush=True)


if __name__ == "__main__":
    main()
