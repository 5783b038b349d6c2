"""Our batched NUTS against NumPyro's vectorised NUTS, in the same process.

Run (not part of `make test`; needs `pip install numpyro jax`):

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/mcmc_vs_numpyro.py [--quick]

For `logreg_breast_cancer` and `gaussian_100d_illcond`, 4 chains, 500 warm-up, 1,000 draws:
prints min bulk ESS per second of sampling (warm-up and JAX compilation excluded) and per
gradient evaluation of the sampling phase, the ratio ours / NumPyro, and whether the
posterior means agree within 4 MCSE. Then how ESS/s scales with 4, 64 and 1,024 chains.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import numpy as np
import torch

from genmodels.mcmc import sample_chains
from genmodels.metrics.chains import chain_summary
from genmodels.targets import get_target


def ours(target, chains: int, warmup: int, draws: int, seed: int = 0) -> dict:
    s = sample_chains(
        target, "nuts", chains=chains, draws=draws, warmup=warmup, seed=seed, progress=False
    )
    summary = chain_summary(s)
    return {
        "x": s.x.reshape(chains, draws, -1).double().numpy(),
        "summary": summary,
        "seconds": s.info["seconds_sampling"],
        "cpu_seconds": s.info["cpu_seconds_sampling"],
        "grad_evals": s.info["grad_evals_sampling"],
        "accept": s.info["accept_rate"],
        "step_size": s.info["step_size_mean"],
        "divergences": s.info["divergences"],
    }


def numpyro_potential(target):
    import jax.numpy as jnp

    name = target.name
    if name == "logreg_breast_cancer":
        features = jnp.asarray(target.features.numpy())
        labels = jnp.asarray(target.labels.numpy())

        def potential(beta):
            logits = features @ beta
            log_lik = jnp.sum(labels * logits - jnp.logaddexp(0.0, logits))
            return -(log_lik - 0.5 * jnp.sum(beta**2))

        return potential
    if name == "gaussian_100d_illcond":
        precision = jnp.asarray(target._precision.numpy())

        def potential(x):
            return 0.5 * x @ precision @ x

        return potential
    raise ValueError(name)


def theirs(target, chains: int, warmup: int, draws: int, seed: int = 0) -> dict:
    import jax
    from numpyro.infer import MCMC, NUTS

    potential = numpyro_potential(target)
    rng = np.random.default_rng(seed)
    init = rng.uniform(-2, 2, size=(chains, target.dim)).astype(np.float32)

    def make(num_samples: int) -> MCMC:
        return MCMC(
            NUTS(potential_fn=potential, max_tree_depth=10),
            num_warmup=warmup,
            num_samples=num_samples,
            num_chains=chains,
            chain_method="vectorized",
            progress_bar=False,
        )

    key = jax.random.PRNGKey(seed)
    mcmc = make(draws)
    mcmc.warmup(key, init_params=init, extra_fields=("num_steps",))
    warm_state = mcmc.post_warmup_state
    # Every `run` call compiles the sampling loop again (NumPyro 0.22, vectorised chains,
    # ~18 s here whatever the number of draws): a run of one draw from the same warm
    # state measures that fixed cost, which is subtracted so that only sampling is timed.
    probe = make(1)
    probe.post_warmup_state = warm_state
    t0, c0 = time.perf_counter(), time.process_time()
    probe.run(key, init_params=init, extra_fields=("num_steps", "accept_prob"))
    jax.block_until_ready(probe.get_samples())
    fixed, fixed_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    mcmc.run(key, init_params=init, extra_fields=("num_steps", "accept_prob"))
    x = np.asarray(mcmc.get_samples(group_by_chain=True))
    jax.block_until_ready(x)
    seconds = time.perf_counter() - t0 - fixed
    cpu_seconds = time.process_time() - c0 - fixed_cpu
    if seconds < 0.5 * fixed:
        print(
            f"  warning: NumPyro sampling ({seconds:.2f}s) is small beside its compile time "
            f"({fixed:.2f}s): timing unreliable, use more draws"
        )
    extra = mcmc.get_extra_fields(group_by_chain=True)
    return {
        "x": x.astype(np.float64),
        "summary": chain_summary(x),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "grad_evals": float(np.asarray(extra["num_steps"]).sum()),
        "accept": float(np.asarray(extra["accept_prob"]).mean()),
        "step_size": float(np.asarray(mcmc.last_state.adapt_state.step_size).mean()),
        "divergences": 0.0,
    }


def report(name: str, r: dict) -> dict:
    ess = r["summary"]["min_ess_bulk"]
    row = {
        "min_ess_bulk": ess,
        "seconds_sampling": r["seconds"],
        "ess_per_s": ess / r["seconds"],
        "cpu_seconds_sampling": r["cpu_seconds"],
        "ess_per_cpu_s": ess / r["cpu_seconds"],
        "ess_per_grad": ess / r["grad_evals"],
        "grad_evals": r["grad_evals"],
        "accept": r["accept"],
        "step_size": r["step_size"],
        "max_r_hat": r["summary"]["max_r_hat"],
    }
    print(
        f"  {name:8s} minESS {ess:7.0f}  {r['seconds']:7.2f}s (cpu {r['cpu_seconds']:6.2f}s)  "
        f"ESS/s {row['ess_per_s']:8.1f} (per cpu-s {row['ess_per_cpu_s']:8.1f})  "
        f"ESS/grad {row['ess_per_grad']:.4f}  accept {r['accept']:.3f}  "
        f"eps {r['step_size']:.3f}  R-hat {row['max_r_hat']:.3f}"
    )
    return row


def means_agree(a: dict, b: dict) -> tuple[bool, float]:
    pa, pb = a["summary"]["params"], b["summary"]["params"]
    z = [
        abs(p["mean"] - q["mean"]) / np.hypot(p["mcse_mean"], q["mcse_mean"])
        for p, q in zip(pa.values(), pb.values(), strict=True)
    ]
    return bool(max(z) < 4.0), float(max(z))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer draws, 4/64 chains only")
    parser.add_argument("--skip-numpyro", action="store_true")
    parser.add_argument("--skip-ours", action="store_true", help="NumPyro only")
    parser.add_argument("--scaling-target", default="logreg_breast_cancer")
    parser.add_argument(
        "--targets",
        default="logreg_breast_cancer,gaussian_100d_illcond",
        help="comma-separated head-to-head targets ('' for none)",
    )
    parser.add_argument("--counts", default=None, help="chain counts for scaling, e.g. 4,64")
    parser.add_argument("--scaling-warmup", type=int, default=300)
    parser.add_argument("--scaling-draws", type=int, default=300)
    parser.add_argument("--out", default=None, help="write results as JSON here")
    args = parser.parse_args()
    torch.manual_seed(0)
    warmup, draws = (200, 300) if args.quick else (500, 1000)
    results: dict = {}
    for name in [t for t in args.targets.split(",") if t]:
        target = get_target(name)
        print(f"{name}: 4 chains, {warmup} warm-up, {draws} draws")
        results[name] = {}
        if not args.skip_ours:
            a = ours(target, 4, warmup, draws)
            results[name]["ours"] = report("ours", a)
        if not args.skip_numpyro:
            b = theirs(target, 4, warmup, draws)
            results[name]["numpyro"] = report("numpyro", b)
            if args.skip_ours:
                continue
            ok, z = means_agree(a, b)
            mine, other = results[name]["ours"], results[name]["numpyro"]
            ratios = {
                f"ratio_{k}": mine[k] / other[k]
                for k in ("ess_per_s", "ess_per_cpu_s", "ess_per_grad")
            }
            results[name].update(ratios, means_agree_4mcse=ok, max_mean_z=z)
            print(
                f"  ratio ours/numpyro: ESS/s {ratios['ratio_ess_per_s']:.2f}, "
                f"ESS/cpu-s {ratios['ratio_ess_per_cpu_s']:.2f}, "
                f"ESS/grad {ratios['ratio_ess_per_grad']:.2f}; "
                f"means agree within 4 MCSE: {ok} (max z {z:.2f})"
            )
        if name == "gaussian_100d_illcond" and not args.skip_ours:
            params = a["summary"]["params"].values()
            z_mean = np.array([p["mean"] / p["mcse_mean"] for p in params])  # truth: 0
            x = a["x"].reshape(-1, target.dim)
            rel_v = np.abs(x.var(0) / target.variance.numpy() - 1)
            print(
                f"  ours vs truth: max |mean| / MCSE {np.abs(z_mean).max():.2f}; relative "
                f"variance error median {np.median(rel_v):.3f}, max {rel_v.max():.3f}"
            )
            results[name]["ours"].update(
                max_mean_z_truth=float(np.abs(z_mean).max()),
                median_rel_var_error=float(np.median(rel_v)),
                max_rel_var_error=float(rel_v.max()),
            )

    target = get_target(args.scaling_target)
    counts = (4, 64) if args.quick else (4, 64, 1024)
    if args.counts is not None:
        counts = tuple(int(c) for c in args.counts.split(",") if c)
    s_warm, s_draws = (100, 100) if args.quick else (args.scaling_warmup, args.scaling_draws)
    print(f"scaling on {args.scaling_target} ({s_warm} warm-up, {s_draws} draws per chain):")
    results["scaling"] = {}
    for chains in counts:
        row = {}
        if not args.skip_ours:
            row["ours"] = report(f"ours@{chains}", ours(target, chains, s_warm, s_draws))
        if not args.skip_numpyro:
            row["numpyro"] = report(f"np@{chains}", theirs(target, chains, s_warm, s_draws))
        results["scaling"][chains] = row
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
