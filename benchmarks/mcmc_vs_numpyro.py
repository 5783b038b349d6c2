"""Our batched chains (NUTS, ChEES-HMC) against NumPyro's vectorised NUTS, timed in turns.

Run (not part of `make test`; NumPyro and JAX outside the project's venv, e.g.
``pip install --target /work/jaxlibs numpyro jax jaxlib``):

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD/src:/work/jaxlibs python benchmarks/mcmc_vs_numpyro.py \
        --out runs.jsonl [--repeats 2] [--configs logreg_breast_cancer:4,...] [--threads 1]
    python benchmarks/mcmc_vs_numpyro.py --table runs.jsonl      # the best-of table

Every configuration (target, chains) runs each contender once per repeat, in turns
(ours, NumPyro, ours, ...), each run appended as one JSON line to ``--out`` so that a
partial run keeps what it measured. The table keeps, per contender and configuration,
the run with the best whole-run ESS/s (best of the repeats: the machine is shared and
timings only ever get worse with load).

What is timed (process CPU time, one thread each, less sensitive to a shared machine than
wall time; wall time is recorded too):
- NumPyro: ``warmup`` (includes JAX compilation of warm-up), blocked on
  ``post_warmup_state`` — JAX dispatches asynchronously, and without the block the warm-up
  runs on into whatever is timed next; then ``run`` twice from the same warm state, each
  blocked on its samples: the first compiles the sampling loop, the second reuses the
  compiled loop. Sampling = the second run; whole run = warm-up + the first run (the
  compilation a user pays); compile = first minus second.
- ours: ``sample_chains`` as a user calls it; ``cpu_seconds_sampling`` from its info,
  whole run = the whole call (warm-up, `torch.compile` if on, sampling).

Columns: min bulk ESS over parameters; ESS per CPU-second of sampling and of the whole run;
ESS per gradient evaluation of sampling; the posterior means of ours and NumPyro agree
within 4 MCSE (max |z| over parameters).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

THREADS = int(os.environ.get("BENCH_THREADS", "1"))
if "--threads" in sys.argv:
    THREADS = int(sys.argv[sys.argv.index("--threads") + 1])
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["XLA_FLAGS"] = (
    f"--xla_cpu_multi_thread_eigen={'true' if THREADS > 1 else 'false'} "
    f"intra_op_parallelism_threads={THREADS}"
)
os.environ["OMP_NUM_THREADS"] = str(THREADS)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from genmodels.mcmc import sample_chains  # noqa: E402
from genmodels.mcmc.hmc import compile_seconds  # noqa: E402
from genmodels.metrics.chains import chain_summary  # noqa: E402
from genmodels.targets import get_target  # noqa: E402

# (warm-up, draws) per chain count: the 1,024-chain runs are kept short.
LENGTHS = {4: (500, 1000), 64: (300, 300), 1024: (150, 150)}
DEFAULT_CONFIGS = [
    f"{t}:{c}" for c in (4, 64, 1024) for t in ("logreg_breast_cancer", "gaussian_100d_illcond")
]


def ours(target, sampler: str, chains: int, warmup: int, draws: int, compile_mode) -> dict:
    options = {"compile": compile_mode}
    c_compile = compile_seconds()
    t0, c0 = time.perf_counter(), time.process_time()
    s = sample_chains(
        target,
        sampler,
        chains=chains,
        draws=draws,
        warmup=warmup,
        seed=0,
        progress=False,
        kernel_options=options,
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "x": s.x.reshape(chains, draws, -1).double().numpy(),
        "cpu_sampling": s.info["cpu_seconds_sampling"],
        "wall_sampling": s.info["seconds_sampling"],
        "cpu_whole": cpu,
        "wall_whole": wall,
        "cpu_compile": compile_seconds() - c_compile,
        "grad_evals": s.info["grad_evals_sampling"],
        "accept": s.info["accept_rate"],
        "divergences": s.info["divergences"],
    }


def numpyro_potential(target):
    import jax.numpy as jnp

    if target.name == "logreg_breast_cancer":
        features = jnp.asarray(target.features.numpy())
        labels = jnp.asarray(target.labels.numpy())

        def potential(beta):
            logits = features @ beta
            log_lik = jnp.sum(labels * logits - jnp.logaddexp(0.0, logits))
            return -(log_lik - 0.5 * jnp.sum(beta**2))

        return potential
    if target.name == "gaussian_100d_illcond":
        precision = jnp.asarray(target._precision.numpy())
        return lambda x: 0.5 * x @ precision @ x
    raise ValueError(target.name)


def _timed(fn) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def theirs(target, chains: int, warmup: int, draws: int) -> dict:
    import jax
    from numpyro.infer import MCMC, NUTS

    potential = numpyro_potential(target)
    init = np.random.default_rng(0).uniform(-2, 2, size=(chains, target.dim)).astype(np.float32)
    fields = ("num_steps", "accept_prob")

    def make(num_samples: int) -> MCMC:
        kernel = NUTS(potential_fn=potential, max_tree_depth=10)
        return MCMC(
            kernel,
            num_warmup=warmup,
            num_samples=num_samples,
            num_chains=chains,
            chain_method="vectorized",
            progress_bar=False,
        )

    key = jax.random.PRNGKey(0)
    mcmc = make(draws)

    def warm():
        mcmc.warmup(key, init_params=init, extra_fields=fields)
        jax.block_until_ready(mcmc.post_warmup_state)

    w_warm, c_warm = _timed(warm)
    warm_state = mcmc.post_warmup_state

    def run():
        mcmc.post_warmup_state = warm_state
        mcmc.run(key, init_params=init, extra_fields=fields)
        jax.block_until_ready(mcmc.get_samples())

    # The first run compiles the sampling loop; the second, from the same warm state,
    # reuses it (JAX caches the compiled loop), so it times sampling alone.
    w_first, c_first = _timed(run)
    w_run, c_run = _timed(run)
    if c_run > 0.8 * c_first:
        print(f"  note: NumPyro's second run ({c_run:.2f}s) as slow as its first ({c_first:.2f}s)")
    extra = mcmc.get_extra_fields(group_by_chain=True)
    x = np.asarray(mcmc.get_samples(group_by_chain=True))
    return {
        "x": x.astype(np.float64),
        "cpu_sampling": c_run,
        "wall_sampling": w_run,
        "cpu_whole": c_warm + c_first,
        "wall_whole": w_warm + w_first,
        # compile of the sampling loop: the first run less the second (which reuses it);
        # on a noisy machine the difference can come out below zero, where it is noise
        "cpu_compile": max(c_first - c_run, 0.0),
        "grad_evals": float(np.asarray(extra["num_steps"]).sum()),
        "accept": float(np.asarray(extra["accept_prob"]).mean()),
        "divergences": float(np.asarray(extra.get("diverging", 0.0)).sum()),
    }


def row(r: dict) -> dict:
    summary = chain_summary(r.pop("x"))
    ess = summary["min_ess_bulk"]
    means = {k: (p["mean"], p["mcse_mean"]) for k, p in summary["params"].items()}
    return {
        **r,
        "min_ess_bulk": ess,
        "ess_per_cpu_s_sampling": ess / max(r["cpu_sampling"], 1e-9),
        "ess_per_cpu_s_whole": ess / r["cpu_whole"],
        "ess_per_grad": ess / r["grad_evals"],
        "max_r_hat": summary["max_r_hat"],
        "means": means,
    }


def contenders(args) -> list[tuple[str, str, object]]:
    out = []
    for sampler in [s for s in args.samplers.split(",") if s]:
        for mode in args.compile.split(","):
            value = {"true": True, "false": False}.get(mode, mode)
            out.append((f"{sampler}[compile={mode}]", sampler, value))
    if not args.skip_numpyro:
        out.append(("numpyro", "numpyro", None))
    return out


def measure(args) -> None:
    torch.set_num_threads(THREADS)
    for repeat in range(args.repeats):
        for config in args.configs.split(","):
            name, chains = config.split(":")
            chains = int(chains)
            warmup, draws = LENGTHS.get(chains, (150, 150))
            warmup = args.warmup if args.warmup is not None else warmup
            draws = args.draws if args.draws is not None else draws
            target = get_target(name)
            for label, sampler, mode in contenders(args):
                if sampler == "numpyro":
                    r = theirs(target, chains, warmup, draws)
                else:
                    r = ours(target, sampler, chains, warmup, draws, mode)
                record = {
                    "target": name,
                    "chains": chains,
                    "warmup": warmup,
                    "draws": draws,
                    "who": label,
                    "threads": THREADS,
                    "repeat": repeat,
                    **row(r),
                }
                print(
                    f"{name}@{chains} {label}: ESS {record['min_ess_bulk']:.0f}, "
                    f"cpu sampling {record['cpu_sampling']:.2f}s whole {record['cpu_whole']:.2f}s "
                    f"(compile {record['cpu_compile']:.2f}s), "
                    f"ESS/grad {record['ess_per_grad']:.4f}",
                    flush=True,
                )
                with open(args.out, "a") as f:
                    f.write(json.dumps(record) + "\n")


def max_z(a: dict, b: dict) -> float:
    z = [
        abs(p[0] - q[0]) / np.hypot(p[1], q[1])
        for p, q in zip(a["means"].values(), b["means"].values(), strict=True)
    ]
    return float(max(z))


def table(path: str) -> None:
    best: dict = {}
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    for r in records:
        key = (r["target"], r["chains"], r["threads"], r["who"], r["warmup"], r["draws"])
        if key not in best or r["ess_per_cpu_s_whole"] > best[key]["ess_per_cpu_s_whole"]:
            best[key] = r
    print(
        "| target | chains | threads | who | min ESS | ESS/s sampling | ESS/s whole | "
        "compile s | ESS/grad | ratio sampling | ratio whole | ratio ESS/grad | means ≤ 4 MCSE |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key in sorted(best, key=lambda k: (k[0], k[1], k[2], k[3] != "numpyro", k[3])):
        r = best[key]
        ref = best.get((*key[:3], "numpyro", *key[4:]))
        lengths = "" if LENGTHS.get(key[1]) == key[4:] else f" ({key[4]}+{key[5]})"
        ratios = ["", "", "", ""]
        if ref is not None and r is not ref:
            z = max_z(r, ref)
            ratios = [
                f"{r['ess_per_cpu_s_sampling'] / ref['ess_per_cpu_s_sampling']:.2f}×",
                f"{r['ess_per_cpu_s_whole'] / ref['ess_per_cpu_s_whole']:.2f}×",
                f"{r['ess_per_grad'] / ref['ess_per_grad']:.2f}×",
                f"{'yes' if z < 4 else 'NO'} ({z:.1f})",
            ]
        print(
            f"| {key[0]} | {key[1]}{lengths} | {key[2]} | {key[3]} | {r['min_ess_bulk']:.0f} | "
            f"{r['ess_per_cpu_s_sampling']:.0f} | {r['ess_per_cpu_s_whole']:.0f} | "
            f"{r['cpu_compile']:.1f} | {r['ess_per_grad']:.4f} | " + " | ".join(ratios) + " |"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS), help="target:chains,...")
    parser.add_argument("--samplers", default="nuts,chees", help="ours, comma-separated")
    parser.add_argument("--compile", default="false", help="compile modes of ours: false,true")
    parser.add_argument("--skip-numpyro", action="store_true")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=None, help="override LENGTHS' warm-up")
    parser.add_argument("--draws", type=int, default=None, help="override LENGTHS' draws")
    parser.add_argument("--out", default="mcmc_vs_numpyro.jsonl", help="JSON lines, appended")
    parser.add_argument("--table", default=None, help="print the best-of table of this file")
    args = parser.parse_args()
    if args.table:
        table(args.table)
    else:
        measure(args)


if __name__ == "__main__":
    main()
