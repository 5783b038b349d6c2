"""`genmodels mcmc`: run chains on a target, summarise them, plot them.

``--target`` is a registered target or a user's density file, ``model.py:NAME`` (with
``--dim D`` for a plain function; `genmodels.targets.user_density`). ``--sampler`` takes any
chain kernel of the catalogue, and the chain+map hybrids (``flow_mh``, ``neutra_hmc``): they
fit a flow to the target first, then run chains that correct it, so their output is chains
like any other. ``posterior.nc`` is ArviZ InferenceData: one variable per parameter block
(constrained values), ``sample_stats``, ``--save-warmup``'s warm-up groups, attrs.
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


def _check_hybrid_options(sampler: str, device: Any, save_warmup: bool) -> None:
    """What a hybrid cannot do yet: run on an accelerator, keep a warm-up (it has none)."""
    if device.type != "cpu":
        raise InvalidInputError(f"{sampler} runs on the CPU only; drop --device {device}")
    if save_warmup:
        raise InvalidInputError(f"--save-warmup keeps a chain kernel's warm-up; {sampler} has none")


def _sample(
    spec: Any, target: Any, args: dict[str, Any], start: Any, device: Any, progress: bool
) -> Any:
    """The run's draws: a hybrid (fit, then chains) or `sample_chains` from ``start`` (None:
    the library's random start)."""
    from genmodels.mcmc import sample_chains
    from genmodels.training.config import config_from_dict

    if spec.camp == "hybrid":
        values = {k: args[k] for k in ("chains", "draws", "warmup")}
        settings = config_from_dict(spec.settings, values, where=spec.name)
        return spec.build(target, settings, seed=args["seed"], progress=progress).samples
    return sample_chains(
        target,
        spec.name,
        chains=args["chains"],
        draws=args["draws"],
        warmup=args["warmup"],
        init=start,
        init_spread=args["init_spread"],
        seed=args["seed"],
        progress=progress,
        device=device,
        save_warmup=args["save_warmup"],
    )


def _write_outputs(
    result: Any, target: Any, summary: dict[str, Any], out: Path, plots: bool
) -> None:
    """``summary.json``, ``posterior.nc`` (InferenceData by block) and the figures."""
    from genmodels.io import atomic_path, write_json
    from genmodels.metrics.chains import to_inference_data
    from genmodels.report.chain_plots import save_chain_figures

    write_json(out / "summary.json", summary)
    space = target.param_space()
    attrs = {"sampler": summary["sampler"], "seed": summary["seed"], "target": summary["target"]}
    with atomic_path(out / "posterior.nc") as tmp:
        to_inference_data(result, space=space, attrs=attrs).to_netcdf(str(tmp))
    if plots:
        save_chain_figures(result, out, space.names)


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
    dim: int | None = None,
    device: str = "cpu",
    save_warmup: bool = False,
) -> dict[str, Any] | None:
    """Run chains on a target and write ``summary.json``, ``posterior.nc`` and plots.

    Under `torchrun` each rank runs its share of the chains (`sharded_chains`) and rank 0
    gathers them and writes.

    Args:
        target_name: a registered target or ``model.py:NAME`` (`resolve_target`).
        dim: the dimension of a density file's function (or of a target that takes one).
        device: where chains, generator and draws live (``cpu``, ``cuda``, ``mps``, ``auto``).
        save_warmup: keep the warm-up in ``posterior.nc`` (``warmup_posterior``, ...).

    Returns:
        the summary (the content of ``summary.json``); ``None`` on ranks other than 0.
    """
    from genmodels.catalogue import get_method
    from genmodels.device import resolve_device
    from genmodels.distributed import join, sharded_chains
    from genmodels.mcmc.driver import chain_bytes
    from genmodels.memory import check_allocation, tensor_bytes
    from genmodels.targets.user_density import check_log_prob, resolve_target

    spec = get_method(sampler, ("chain", "hybrid"))  # fail before building anything
    check_run_inputs(chains, draws, warmup, seed, init, init_spread, out)
    job = join(resolve_device(device))  # under torchrun on CUDA: this rank's cuda:LOCAL_RANK
    torch_device = job.device
    if spec.camp == "hybrid":
        _check_hybrid_options(sampler, torch_device, save_warmup)
    target = resolve_target(target_name, dim)
    if not target.has_log_prob:
        raise NotApplicableError(
            f"target {target_name!r} has no density: chains need a log-density "
            f"(it only has samples; train a model on it instead)"
        )
    if torch_device.type != "cpu":  # constants left on the CPU fail here, in one line
        check_log_prob(target, f"log_prob of {target_name!r}", device=torch_device)
    # the summary and posterior.nc hold float64 copies of the draws besides the run's own
    dim = math.prod(target.event_shape)
    kept = draws + (warmup if save_warmup else 0)
    what = f"{chains} chains x {kept} draws in {dim} dimensions"
    check_allocation(chain_bytes(chains, kept, dim) + tensor_bytes(3, chains, kept, dim), what)
    args = {
        "chains": chains,
        "draws": draws,
        "warmup": warmup,
        "seed": seed,
        "init": init,
        "init_spread": init_spread,
        "save_warmup": save_warmup,
    }
    start = _start(target, init, chains)
    progress = progress and job.rank == 0  # under torchrun: one bar, rank 0's

    def run(n: int, rank_seed: int, part: range) -> Any:  # this rank's share (all: one process)
        share = {**args, "chains": n, "seed": rank_seed}
        points = None if start is None else start[part.start : part.stop]
        return _sample(spec, target, share, points, torch_device, progress)

    result = sharded_chains(run, chains, seed, job)  # under torchrun: gathered on rank 0
    if result is None:  # another rank's chains: rank 0 writes the run
        return None
    summary = _summary(result, target_name, sampler, warmup, seed, target.param_names())
    summary["device"] = str(torch_device)
    _write_outputs(result, target, summary, out, plots)
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
    target: str = typer.Option(
        ..., "--target", help="Registered target with a density, or model.py:NAME (a file)."
    ),
    dim: int | None = typer.Option(
        None, "--dim", help="Dimension of a model.py:NAME function log_prob(x: [n, D]) -> [n]."
    ),
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
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, mps or auto."),
    save_warmup: bool = typer.Option(
        False, "--save-warmup", help="Keep the warm-up draws in posterior.nc."
    ),
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
        dim=dim,
        device=device,
        save_warmup=save_warmup,
    )
    if summary is None:  # not rank 0
        return
    if as_json:
        echo_json(summary)
    else:
        _print_table(summary)
