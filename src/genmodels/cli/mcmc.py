"""`genmodels mcmc`: run chains on a registered target, summarise them, plot them.

``--sampler`` takes any chain kernel of the catalogue, and the chain+map hybrids
(``flow_mh``, ``neutra_hmc``): they fit a flow to the target first, then run chains that
correct it, so their output is chains like any other.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from genmodels.cli.app import app, echo_json
from genmodels.errors import InvalidInputError, NotApplicableError

__all__ = ["check_run_inputs", "mcmc_command", "run_mcmc"]


INITS = ("random", "modes")


def _start(target: Any, init: str, chains: int) -> Any:
    """The ``init=`` of `sample_chains` for ``--init``: None (the library's uniform start on
    ``(-init_spread, init_spread)``, drawn from the seed) or the target's modes."""
    from genmodels.mcmc import mode_positions

    if init not in INITS:
        raise InvalidInputError(f"--init must be 'random' or 'modes', got {init!r}")
    return mode_positions(target, chains) if init == "modes" else None


def _summary(
    result: Any, target_name: str, sampler: str, warmup: int, seed: int, names: list[str]
) -> dict[str, Any]:
    """The content of ``summary.json`` (and of ``--json``): the run, its cost, diagnostics."""
    from genmodels.metrics.chains import chain_summary

    diag = chain_summary(result, names)
    chains, draws = result.x.shape[:2]
    return {
        "sampler": sampler,
        "target": target_name,
        "chains": chains,
        "draws": draws,
        "warmup": warmup,
        "seed": seed,
        "seconds": result.seconds,
        "grad_evals": result.nfe,
        "divergences": diag["divergences"],
        "min_ess_bulk": diag["min_ess_bulk"],
        "max_r_hat": diag["max_r_hat"],
        "accept_rate": result.info.get("accept_rate"),
        "params": {
            name: {k: p[k] for k in ("mean", "sd", "ess_bulk", "ess_tail", "r_hat")}
            for name, p in diag["params"].items()
        },
    }


def check_run_inputs(
    chains: int, draws: int, warmup: int, seed: int, init: str, init_spread: float, out: Path
) -> None:
    """The run's own arguments, checked before any target is built or anything allocated."""
    from genmodels.checks import check_range, check_seed
    from genmodels.io import check_output_dir

    check_range(chains, "--chains", ge=1, integer=True)
    check_range(draws, "--draws", ge=1, integer=True)
    check_range(warmup, "--warmup", ge=0, integer=True)
    check_seed(seed)
    if init not in INITS:
        raise InvalidInputError(f"--init must be 'random' or 'modes', got {init!r}")
    check_range(init_spread, "--init-spread", gt=0)
    check_output_dir(out)


def run_mcmc(
    target_name: str,
    sampler: str,
    chains: int,
    draws: int,
    warmup: int,
    seed: int,
    out: Path,
    init: str = "random",
    init_spread: float = 2.0,
    progress: bool = True,
    plots: bool = True,
) -> dict[str, Any] | None:
    """Run chains on a registered target and write ``summary.json``, ``posterior.nc``, plots.

    Under `torchrun` each rank runs its share of the chains (`sharded_chains`) and rank 0
    gathers them and writes.

    Returns:
        the summary (the content of ``summary.json``); ``None`` on ranks other than 0.
    """
    from genmodels.catalogue import get_method
    from genmodels.distributed import join, sharded_chains
    from genmodels.io import atomic_path, write_json
    from genmodels.mcmc import sample_chains
    from genmodels.mcmc.driver import chain_bytes
    from genmodels.memory import check_allocation, tensor_bytes
    from genmodels.metrics.chains import to_inference_data
    from genmodels.report.chain_plots import save_chain_figures
    from genmodels.targets import get_target
    from genmodels.training.config import config_from_dict

    spec = get_method(sampler, ("chain", "hybrid"))  # fail before building anything
    check_run_inputs(chains, draws, warmup, seed, init, init_spread, out)
    target = get_target(target_name)
    if not target.has_log_prob:
        raise NotApplicableError(
            f"target {target_name!r} has no density: chains need a log-density "
            f"(it only has samples; train a model on it instead)"
        )
    # the summary and posterior.nc hold float64 copies of the draws besides the run's own
    dim = math.prod(target.event_shape)
    what = f"{chains} chains x {draws} draws in {dim} dimensions"
    check_allocation(chain_bytes(chains, draws, dim) + tensor_bytes(3, chains, draws, dim), what)
    start = _start(target, init, chains)
    progress = progress and join().rank == 0  # under torchrun: one bar, rank 0's

    def run(chains: int, seed: int, part: range) -> Any:  # this rank's share (all: one process)
        if spec.camp == "hybrid":
            values = {"chains": chains, "draws": draws, "warmup": warmup}
            settings = config_from_dict(spec.settings, values, where=sampler)
            return spec.build(target, settings, seed=seed, progress=progress).samples
        return sample_chains(
            target,
            sampler,
            chains=chains,
            draws=draws,
            warmup=warmup,
            init=None if start is None else start[part.start : part.stop],
            init_spread=init_spread,
            seed=seed,
            progress=progress,
        )

    result = sharded_chains(run, chains, seed)  # under torchrun: gathered on rank 0
    if result is None:  # another rank's chains: rank 0 writes the run
        return None
    names = target.param_names()
    summary = _summary(result, target_name, sampler, warmup, seed, names)
    write_json(out / "summary.json", summary)
    with atomic_path(out / "posterior.nc") as tmp:
        to_inference_data(result, names).to_netcdf(str(tmp))
    if plots:
        save_chain_figures(result, out, names)
    return summary


def _print_table(summary: dict[str, Any], max_rows: int = 20) -> None:
    rows = list(summary["params"].items())
    width = max([len(n) for n, _ in rows] + [5])
    typer.echo(
        f"{'param':<{width}} {'mean':>10} {'sd':>9} {'ess_bulk':>9} {'ess_tail':>9} {'r_hat':>7}"
    )
    for name, p in rows[:max_rows]:
        typer.echo(
            f"{name:<{width}} {p['mean']:>10.4g} {p['sd']:>9.3g} "
            f"{p['ess_bulk']:>9.0f} {p['ess_tail']:>9.0f} {p['r_hat']:>7.3f}"
        )
    if len(rows) > max_rows:
        typer.echo(f"... ({len(rows) - max_rows} more parameters in summary.json)")
    typer.echo(
        f"{summary['sampler']} on {summary['target']}: {summary['chains']} chains x "
        f"{summary['draws']} draws in {summary['seconds']:.1f}s, "
        f"{summary['grad_evals']} gradient evaluations, {summary['divergences']} divergences, "
        f"min ESS bulk {summary['min_ess_bulk']:.0f}, max R-hat {summary['max_r_hat']:.3f}"
    )


@app.command("mcmc")
def mcmc_command(
    target: str = typer.Option(..., "--target", help="Registered target with a density."),
    sampler: str = typer.Option(
        "nuts",
        "--sampler",
        help="A chain or hybrid (see `genmodels methods`).",
    ),
    chains: int = typer.Option(4, "--chains", min=1, help="Number of chains (batched)."),
    draws: int = typer.Option(1000, "--draws", min=1, help="Draws per chain after warm-up."),
    warmup: int = typer.Option(500, "--warmup", min=0, help="Warm-up iterations per chain."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    out: str = typer.Option(..., "--out", help="Output directory."),
    init: str = typer.Option(
        "random",
        "--init",
        help="'random': uniform on (-spread, spread); 'modes': chain c starts in mode c mod K.",
    ),
    init_spread: float = typer.Option(2.0, "--init-spread", help="Half-width of random init."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write PNG plots."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print summary JSON on stdout."),
) -> None:
    """Run batched MCMC chains on a target; write summary.json, posterior.nc and plots."""
    summary = run_mcmc(
        target,
        sampler,
        chains,
        draws,
        warmup,
        seed,
        Path(out),
        init,
        init_spread,
        progress=progress and not as_json,
        plots=plots,
    )
    if summary is None:  # not rank 0
        return
    if as_json:
        echo_json(summary)
    else:
        _print_table(summary)
