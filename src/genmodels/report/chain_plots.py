"""Figures of one chain run (what ``genmodels mcmc`` writes beside its summary).

Coordinates are named by the run's parameter blocks (constrained values: ``tau``, not
``log_tau``). Trace and autocorrelation come from
`genmodels.report.plots.save_trace_autocorr`, the same figures the comparison report shows;
a scatter of the first two coordinates, one colour per chain, shows a chain stuck in one mode
at a glance. Every file is written atomically (`genmodels.report.figure.save_figure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from genmodels.report.figure import pyplot, save_figure
from genmodels.report.plots import save_trace_autocorr
from genmodels.samples import Samples

__all__ = ["default_names", "save_chain_figures", "save_chain_scatter"]


def default_names(samples: Samples) -> list[str]:
    """Coordinate names of chain-layout draws: their parameter blocks' (``mu``, ``tau``,
    ``theta[0]``, ...) when the run knows them (`genmodels.mcmc.ChainSamples.space`), else
    ``x[0]``, ``x[1]``, ..."""
    space = getattr(samples, "space", None)
    if space is not None:
        return space.names
    return [f"x[{i}]" for i in range(samples.x[0, 0].numel())]


def save_chain_scatter(
    samples: Samples, path: str | Path, names: Sequence[str] | None = None, max_legend: int = 8
) -> Path:
    """Scatter of the first two coordinates of chain-layout ``samples`` (``[chains, draws,
    *event]``), one colour per chain; returns ``path``."""
    plt = pyplot()
    chains, draws = samples.x.shape[:2]
    x = samples.x.detach().double().cpu().numpy().reshape(chains, draws, -1)  # [C, D, d]
    names = list(names or default_names(samples))
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=90)
    for c in range(chains):
        ax.scatter(x[c, :, 0], x[c, :, 1], s=2, alpha=0.4, label=f"chain {c}")
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    if chains <= max_legend:
        ax.legend(markerscale=4, fontsize=7)
    return save_figure(fig, path, tight=True)


def save_chain_figures(
    samples: Samples, out: str | Path, names: Sequence[str] | None = None
) -> list[Path]:
    """``trace.png``, ``autocorrelation.png`` and, for d >= 2, ``scatter.png`` in ``out``.

    Returns:
        the paths written.
    """
    out = Path(out)
    names = list(names or default_names(samples))
    written = list(
        save_trace_autocorr(samples, out / "trace.png", out / "autocorrelation.png", names)
    )
    if samples.x[0, 0].numel() >= 2:
        written.append(save_chain_scatter(samples, out / "scatter.png", names))
    return written
