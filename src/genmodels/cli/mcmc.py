"""`genmodels mcmc`: run chains on a registered target, summarise them, plot them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from genmodels.cli.app import app, echo_json
from genmodels.errors import InvalidInputError, NotApplicableError

__all__ = ["mcmc_command", "run_mcmc"]


def _initial_positions(target: Any, init: str, chains: int, spread: float, seed: int):
    import torch

    if init == "random":
        return None
    if init == "modes":
        if target.modes is None:
            raise InvalidInputError(
                f"--init modes needs a target with known modes; {target.name!r} has none"
            )
        centres = target.modes.centres  # [K, *event]
        # chain c starts at mode c mod K, so that with chains >= K every mode has a chain
        idx = torch.arange(chains) % centres.shape[0]
        return centres[idx].to(torch.get_default_dtype())
    raise InvalidInputError(f"--init must be 'random' or 'modes', got {init!r}")


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _plots(x, names: list[str], out: Path, max_params: int = 4) -> list[str]:
    """Trace, autocorrelation and (for d >= 2) scatter plots as PNG; returns file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genmodels.metrics.chains import autocorrelation

    arr = x.reshape(x.shape[0], x.shape[1], -1).cpu().numpy()  # [chains, draws, d]
    k = min(max_params, arr.shape[2])
    written = []

    def save(fig, name: str) -> None:
        tmp = out / f".{name}.tmp.png"
        fig.savefig(tmp, dpi=90, bbox_inches="tight")
        plt.close(fig)
        os.replace(tmp, out / name)
        written.append(name)

    fig, axes = plt.subplots(
        k, 2, figsize=(10, 2.2 * k), squeeze=False, gridspec_kw={"width_ratios": [3, 1]}
    )
    for i in range(k):
        for c in range(arr.shape[0]):
            axes[i, 0].plot(arr[c, :, i], lw=0.5, alpha=0.8)
            axes[i, 1].hist(arr[c, :, i], bins=40, histtype="step", density=True)
        axes[i, 0].set_ylabel(names[i])
    axes[-1, 0].set_xlabel("draw")
    save(fig, "trace.png")

    rho = autocorrelation(arr, max_lag=100)  # [chains, lags, d]
    fig, axes = plt.subplots(1, k, figsize=(3 * k, 2.5), squeeze=False)
    for i in range(k):
        for c in range(arr.shape[0]):
            axes[0, i].plot(rho[c, :, i], lw=0.8)
        axes[0, i].axhline(0, color="k", lw=0.5)
        axes[0, i].set_title(names[i])
        axes[0, i].set_xlabel("lag")
    save(fig, "autocorrelation.png")

    if arr.shape[2] >= 2:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        for c in range(arr.shape[0]):
            ax.scatter(arr[c, :, 0], arr[c, :, 1], s=2, alpha=0.4, label=f"chain {c}")
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        if arr.shape[0] <= 8:
            ax.legend(markerscale=4, fontsize=7)
        save(fig, "scatter.png")
    return written


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
) -> dict[str, Any]:
    """Run chains on a registered target and write ``summary.json``, ``posterior.nc``, plots.

    Returns:
        the summary (the content of ``summary.json``).
    """
    import torch

    from genmodels.catalogue import get_method
    from genmodels.mcmc import sample_chains
    from genmodels.metrics.chains import chain_summary, to_inference_data
    from genmodels.targets import get_target

    get_method(sampler, "chain")  # fail on an unknown sampler before building anything
    target = get_target(target_name)
    if not target.has_log_prob:
        raise NotApplicableError(
            f"target {target_name!r} has no density: chains need a log-density "
            f"(it only has samples; train a model on it instead)"
        )
    torch.manual_seed(seed)
    start = _initial_positions(target, init, chains, init_spread, seed)
    result = sample_chains(
        target,
        sampler,
        chains=chains,
        draws=draws,
        warmup=warmup,
        init=start,
        init_spread=init_spread,
        seed=seed,
        progress=progress,
    )
    names = target.param_names()
    diag = chain_summary(result, names)
    summary: dict[str, Any] = {
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
        "accept_rate": result.info["accept_rate"],
        "params": {
            name: {k: p[k] for k in ("mean", "sd", "ess_bulk", "ess_tail", "r_hat")}
            for name, p in diag["params"].items()
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    tmp = out / ".posterior.nc.tmp"
    to_inference_data(result, names).to_netcdf(str(tmp))
    tmp.replace(out / "posterior.nc")
    if plots:
        _plots(result.x, names, out)
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
    sampler: str = typer.Option("nuts", "--sampler", help="rwmh, mala, ula, hmc or nuts."),
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
    if as_json:
        echo_json(summary)
    else:
        _print_table(summary)
