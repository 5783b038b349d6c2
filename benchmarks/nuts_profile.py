"""Where a batched NUTS run spends its work: per phase (step-size search, warm-up,
sampling), CPU seconds, transitions, the chain-leapfrog steps the batch computed and the
ones that counted (a chain's own tree), and the distribution of the batch's deepest tree.

Run (not part of `make test`):

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD/src python benchmarks/nuts_profile.py \
        --target logreg_breast_cancer --chains 1024 --warmup 150 --draws 150 [--compile true]
        [--cprofile out.prof]

"computed" counts, per call of the sub-tree's leaves step, the rows of the batch it ran
on times the leaves it added (a compiled call adds ``leaves_per_call`` leaves to every row
whether or not the row's chain is still building); "useful" is the kernel's own
``num_grad_evals``. Their ratio is the work lost to the batch waiting for its deepest tree.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import time

import torch

import genmodels.mcmc.driver as driver
import genmodels.mcmc.warmup as warmup_module
from genmodels.mcmc import sample_chains
from genmodels.mcmc.hmc import compile_seconds
from genmodels.mcmc.nuts import NUTS
from genmodels.targets import get_target

PHASE = ["search"]
STATS: dict = collections.defaultdict(lambda: collections.Counter())
DEPTHS: dict = collections.defaultdict(collections.Counter)


def instrument() -> None:
    """Count computed rows × leaves, useful leaves, transitions and CPU time per phase."""
    tree_ops, step = NUTS._tree_ops, NUTS.step

    def counting_ops(self):
        ops = tree_ops(self)

        def leaves(state, done, *rest):
            rows = state.x.shape[0] if hasattr(state, "x") else state[0].shape[0]
            STATS[PHASE[0]]["computed"] += rows * rest[-1].shape[0]
            return ops.leaves(state, done, *rest)

        return ops._replace(leaves=leaves)

    def timed_step(self, state, generator):
        c0 = time.process_time()
        new, info = step(self, state, generator)
        s = STATS[PHASE[0]]
        s["cpu"] += time.process_time() - c0
        s["steps"] += 1
        s["useful"] += int(info.num_grad_evals.sum())
        DEPTHS[PHASE[0]][int(info.tree_depth.max())] += 1
        return new, info

    NUTS._tree_ops, NUTS.step = counting_ops, timed_step
    search, run_kernel = warmup_module._search_step_size, driver.run_kernel

    def phased_search(*args, **kwargs):
        out = search(*args, **kwargs)
        PHASE[0] = "warmup"
        return out

    def phased_run(*args, **kwargs):
        PHASE[0] = "sampling"
        return run_kernel(*args, **kwargs)

    warmup_module._search_step_size, driver.run_kernel = phased_search, phased_run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default="logreg_breast_cancer")
    parser.add_argument("--chains", type=int, default=1024)
    parser.add_argument("--warmup", type=int, default=150)
    parser.add_argument("--draws", type=int, default=150)
    parser.add_argument("--compile", default="true")
    parser.add_argument("--cprofile", default=None, help="write a cProfile dump here")
    parser.add_argument("--option", action="append", default=[], help="NUTS option k=v")
    args = parser.parse_args()
    torch.set_num_threads(1)
    instrument()
    options = {"compile": {"true": True, "false": False}.get(args.compile, args.compile)}
    for item in args.option:
        key, value = item.split("=")
        options[key] = float(value) if "." in value else int(value)
    profiler = cProfile.Profile() if args.cprofile else None
    c0 = time.process_time()
    if profiler:
        profiler.enable()
    s = sample_chains(
        get_target(args.target),
        "nuts",
        chains=args.chains,
        draws=args.draws,
        warmup=args.warmup,
        seed=0,
        progress=False,
        kernel_options=options,
    )
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.cprofile)
    whole = time.process_time() - c0
    print(
        f"whole {whole:.1f} CPU s, compile {compile_seconds():.1f} s, "
        f"sampling {s.info['cpu_seconds_sampling']:.1f} s"
    )
    print(
        "| phase | transitions | CPU s | computed chain-leaves | useful | useful/computed "
        "| deepest tree in the batch: transitions |"
    )
    print("|---|---|---|---|---|---|---|")
    for phase in ("search", "warmup", "sampling"):
        st = STATS[phase]
        depths = ", ".join(f"{d}: {n}" for d, n in sorted(DEPTHS[phase].items()))
        ratio = st["useful"] / max(st["computed"], 1)
        print(
            f"| {phase} | {st['steps']} | {st['cpu']:.1f} | {st['computed']:,} | "
            f"{st['useful']:,} | {ratio:.2f} | {depths} |"
        )


if __name__ == "__main__":
    main()
