"""Figures of the comparison report: samples beside the truth, chain traces, quality vs cost, GIFs.

Every function writes a file atomically (through `genmodels.report.figure`) and returns its
path. The rows and results drawn are anything with the attributes of `genmodels.report.schema`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genmodels.report.animate import thin_frames
from genmodels.report.figure import canvas_rgb, pyplot, save_figure, save_gif, save_png
from genmodels.report.grid import image_grid
from genmodels.report.schema import ComparisonReport, MethodRow, RecordedTrajectory
from genmodels.samples import Samples
from genmodels.targets.base import Target

__all__ = [
    "CAMP_COLOURS",
    "method_figures",
    "save_chain_path_gif",
    "save_exact_figure",
    "save_log_z_estimates",
    "save_log_z_plot",
    "save_quality_cost_plot",
    "save_sample_comparison",
    "save_trace_autocorr",
    "save_trajectory_gif",
]

CAMP_COLOURS = {
    "chain": "tab:red",
    "map": "tab:blue",
    "diffusion": "tab:green",
    "hybrid": "tab:purple",
    "density": "tab:orange",
}
_MAX_GIF_FRAMES = 40


def _points(x: Tensor) -> np.ndarray:
    """The first two coordinates of ``[n, *event]`` as ``[n, 2]`` numpy."""
    return x.detach().float().cpu().reshape(x.shape[0], -1)[:, :2].numpy()


def _limits(reference: np.ndarray) -> tuple[float, float, float, float]:
    lo = np.quantile(reference, 0.005, axis=0)
    hi = np.quantile(reference, 0.995, axis=0)
    pad = 0.15 * (hi - lo) + 1e-3
    lo, hi = lo - pad, hi + pad
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def _density_contours(ax: Any, target: Target | None, limits: tuple[float, ...]) -> None:
    """Contours of the true log-density (2-D targets with a density)."""
    if target is None or not target.has_log_prob or tuple(target.event_shape) != (2,):
        return
    xs = torch.linspace(limits[0], limits[1], 120)
    ys = torch.linspace(limits[2], limits[3], 120)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")
    with torch.no_grad():
        logp = target.log_prob(torch.stack([gx, gy], -1).reshape(-1, 2)).reshape(120, 120)
    density = (logp - logp.max()).exp().numpy()
    ax.contour(
        gx.numpy(), gy.numpy(), density, levels=[0.01, 0.1, 0.5], colors="0.55", linewidths=0.6
    )


def _scatter(ax: Any, pts: np.ndarray, limits: tuple[float, ...], colour: str, title: str) -> None:
    shown = pts[:4000]
    ax.scatter(shown[:, 0], shown[:, 1], s=2, alpha=0.4, color=colour, linewidths=0)
    ax.set_xlim(limits[0], limits[1])
    ax.set_ylim(limits[2], limits[3])
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


_PAIR_COORDS = 4  # a pair plot of vectors with d > 2 shows the first this many coordinates


def _is_plane(x: Tensor) -> bool:
    """Points ``[n, 2]``: the only vectors drawn as a scatter in the plane (and animated)."""
    return x.ndim == 2 and x.shape[1] == 2


def _pair_figure(panels: Sequence[tuple[Tensor, str, str]], title: str) -> Any:
    """A pair plot of vectors ``[n, d]`` (d > 2): marginal histograms on the diagonal and
    pairwise scatters below it, for the first `_PAIR_COORDS` coordinates; ``panels`` are
    ``(points, colour, label)``, overlaid (the first is the reference)."""
    plt = pyplot()
    d = min(panels[0][0].shape[1], _PAIR_COORDS)
    arrays = [(p.detach().float().cpu().numpy()[:4000, :d], c, lab) for p, c, lab in panels]
    ref = arrays[0][0]
    lo, hi = np.quantile(ref, 0.005, axis=0), np.quantile(ref, 0.995, axis=0)
    pad = 0.15 * (hi - lo) + 1e-3
    lo, hi = lo - pad, hi + pad
    fig, axes = plt.subplots(d, d, figsize=(1.7 * d, 1.7 * d), dpi=90, squeeze=False)
    for i in range(d):
        for j in range(d):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j > i:
                ax.axis("off")
                continue
            for pts, colour, label in arrays:
                if i == j:
                    bins = np.linspace(lo[i], hi[i], 40)
                    if not ((pts[:, i] >= lo[i]) & (pts[:, i] <= hi[i])).any():
                        continue  # every point off the axes: no histogram to normalise
                    ax.hist(pts[:, i], bins=bins, density=True, histtype="step", color=colour,
                            label=label)  # fmt: skip
                else:
                    ax.scatter(pts[:, j], pts[:, i], s=1, alpha=0.3, color=colour, linewidths=0)
            ax.set_xlim(lo[j], hi[j])
            if i != j:
                ax.set_ylim(lo[i], hi[i])
            if i == d - 1:
                ax.set_xlabel(f"x[{j}]", fontsize=7)
            if j == 0 and i > 0:
                ax.set_ylabel(f"x[{i}]", fontsize=7)
    axes[0, 0].legend(fontsize=6, loc="upper left", frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _image_grid(x: Tensor, nrow: int = 8) -> np.ndarray:
    return image_grid(x.detach().float().cpu(), nrow=nrow)


def save_exact_figure(exact: Tensor, path: Path, target: Target | None = None) -> Path:
    """Exact samples of the target: a scatter (2-D), a pair plot (vectors of d > 2) or an
    image grid (images)."""
    if exact.ndim == 4:  # [n, C, H, W]
        return save_png(_image_grid(exact[:64]), path)
    flat = exact.reshape(exact.shape[0], -1)
    if flat.shape[1] > 2:
        return save_figure(_pair_figure([(flat, "0.2", "exact")], "exact"), path)
    plt = pyplot()
    pts = _points(exact)
    limits = _limits(pts)
    fig, ax = plt.subplots(figsize=(3.2, 3.2), dpi=90)
    _density_contours(ax, target, limits)
    _scatter(ax, pts, limits, "0.2", "exact")
    fig.tight_layout()
    return save_figure(fig, path)


def save_sample_comparison(
    x: Tensor,
    exact: Tensor | None,
    path: Path,
    *,
    title: str,
    camp: str = "map",
    target: Target | None = None,
) -> Path:
    """The method's samples beside exact ones: two scatters on the same axes (2-D), one
    pair plot with both overlaid (vectors of d > 2), or two image grids."""
    if x.ndim == 2 and x.shape[1] > 2:
        panels = [(x, CAMP_COLOURS.get(camp, "tab:blue"), title)]
        if exact is not None:
            panels.insert(0, (exact.reshape(exact.shape[0], -1), "0.45", "exact"))
        return save_figure(_pair_figure(panels, title), path)
    plt = pyplot()
    if x.ndim == 4:  # images [n, C, H, W]
        panels = [(exact, "exact"), (x, title)] if exact is not None else [(x, title)]
        fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.6), dpi=90)
        for ax, (images, name) in zip(np.atleast_1d(axes), panels, strict=True):
            grid = _image_grid(images[:64])
            ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=255)
            ax.set_title(name, fontsize=9)
            ax.axis("off")
        fig.tight_layout()
        return save_figure(fig, path)
    pts = _points(x)
    exact_pts = _points(exact) if exact is not None else None
    limits = _limits(exact_pts if exact_pts is not None else pts)
    n_panels = 2 if exact_pts is not None else 1
    fig, axes = plt.subplots(1, n_panels, figsize=(3.0 * n_panels, 3.2), dpi=90)
    axes = np.atleast_1d(axes)
    if exact_pts is not None:
        _density_contours(axes[0], target, limits)
        _scatter(axes[0], exact_pts, limits, "0.2", "exact")
    _density_contours(axes[-1], target, limits)
    _scatter(axes[-1], pts, limits, CAMP_COLOURS.get(camp, "tab:blue"), title)
    fig.tight_layout()
    return save_figure(fig, path)


def save_trace_autocorr(
    samples: Samples,
    trace_path: Path,
    autocorr_path: Path,
    names: Sequence[str] | None = None,
    max_params: int = 4,
    max_lag: int = 100,
) -> tuple[Path, Path]:
    """Trace plot (every chain, with a histogram) and autocorrelation of the first coordinates.

    The autocorrelation is ArviZ's FFT estimate (`genmodels.metrics.chains.autocorrelation`),
    averaged over chains.
    """
    from genmodels.metrics.chains import autocorrelation

    plt = pyplot()
    chains, draws = samples.x.shape[:2]
    x = samples.x.detach().double().cpu().numpy().reshape(chains, draws, -1)  # [C, D, d]
    d = min(x.shape[-1], max_params)
    names = list(names or [f"x[{i}]" for i in range(x.shape[-1])])[:d]
    fig, axes = plt.subplots(
        d, 2, figsize=(8, 1.6 * d), dpi=80, squeeze=False, gridspec_kw={"width_ratios": [1, 3]}
    )
    for i in range(d):
        for c in range(chains):
            axes[i, 0].hist(x[c, :, i], bins=40, histtype="step", density=True, lw=0.8)
            axes[i, 1].plot(x[c, :, i], lw=0.5, alpha=0.8)
        axes[i, 0].set_ylabel(names[i], fontsize=8)
        axes[i, 0].set_yticks([])
    axes[-1, 1].set_xlabel("draw", fontsize=8)
    fig.tight_layout()
    save_figure(fig, trace_path)

    rho = autocorrelation(x, max_lag).mean(axis=0)  # [chains, lags, d] -> [lags, d]
    fig, axes = plt.subplots(1, d, figsize=(2.6 * d, 2.2), dpi=80, squeeze=False)
    for i in range(d):
        axes[0, i].bar(np.arange(rho.shape[0]), rho[:, i], width=1.0, color="tab:red")
        axes[0, i].axhline(0, color="0.4", lw=0.6)
        axes[0, i].set_ylim(-0.3, 1.05)
        axes[0, i].set_title(names[i], fontsize=8)
        axes[0, i].set_xlabel("lag", fontsize=8)
    fig.tight_layout()
    save_figure(fig, autocorr_path)
    return trace_path, autocorr_path


def save_trajectory_gif(
    frames: Sequence[Tensor], path: Path, *, label: str, exact: Tensor | None = None
) -> Path:
    """Animate a sampling process (reverse diffusion, annealed Langevin) over its states.

    Args:
        frames: states ``[m, *event]`` in order (at most 40 are drawn, evenly spaced).
        path: the GIF to write.
        label: what the frames show (title).
        exact: exact samples; for 2-D they set the axes and are drawn faintly behind.
    """
    plt = pyplot()
    frames = thin_frames(frames, _MAX_GIF_FRAMES)
    rendered: list[np.ndarray] = []
    fig, ax = plt.subplots(figsize=(3.2, 3.4), dpi=72)
    ax.axis("off")
    if frames[0].ndim == 4:  # images: one figure, the picture is swapped per frame
        image = ax.imshow(_image_grid(frames[0][:36], nrow=6), cmap="gray", vmin=0, vmax=255)
        for i, frame in enumerate(frames):
            image.set_data(_image_grid(frame[:36], nrow=6))
            ax.set_title(f"{label} {i + 1}/{len(frames)}", fontsize=8)
            rendered.append(canvas_rgb(fig))
        plt.close(fig)
        return save_gif(rendered, path)
    ref = _points(exact) if exact is not None else _points(frames[-1])
    limits = _limits(ref)
    if exact is not None:
        ax.scatter(ref[:2000, 0], ref[:2000, 1], s=2, color="0.85", linewidths=0)
    points = ax.scatter([], [], s=2, alpha=0.5, color="tab:green", linewidths=0)
    ax.set_xlim(limits[0], limits[1])
    ax.set_ylim(limits[2], limits[3])
    ax.set_aspect("equal")
    for i, frame in enumerate(frames):
        points.set_offsets(_points(frame))
        ax.set_title(f"{label} {i + 1}/{len(frames)}", fontsize=8)
        rendered.append(canvas_rgb(fig))
    plt.close(fig)
    return save_gif(rendered, path)


def save_chain_path_gif(
    samples: Samples,
    path: Path,
    *,
    exact: Tensor | None = None,
    steps: int = 150,
    target: Target | None = None,
) -> Path:
    """Animate the path of the first chain over its first ``steps`` draws (first two coords)."""
    plt = pyplot()
    x = samples.x[0, :steps].detach().float().cpu().reshape(-1, samples.x[0, 0].numel())
    path_pts = x[:, :2].numpy()  # [steps, 2]
    ref = _points(exact) if exact is not None else _points(samples.flat())
    limits = _limits(np.concatenate([ref, path_pts]))
    ends = np.unique(
        np.linspace(1, len(path_pts), min(_MAX_GIF_FRAMES, len(path_pts))).round().astype(int)
    )
    fig, ax = plt.subplots(figsize=(3.2, 3.4), dpi=72)
    _density_contours(ax, target, limits)
    if exact is not None:
        ax.scatter(ref[:2000, 0], ref[:2000, 1], s=2, color="0.85", linewidths=0)
    (line,) = ax.plot([], [], "-", color="tab:red", lw=0.7, alpha=0.7)
    (head,) = ax.plot([], [], "o", color="tab:red", ms=4)
    ax.set_xlim(limits[0], limits[1])
    ax.set_ylim(limits[2], limits[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    rendered = []
    for end in ends:
        line.set_data(path_pts[:end, 0], path_pts[:end, 1])
        head.set_data(path_pts[end - 1 : end, 0], path_pts[end - 1 : end, 1])
        ax.set_title(f"chain 1, draw {end}", fontsize=8)
        rendered.append(canvas_rgb(fig))
    plt.close(fig)
    return save_gif(rendered, path)


def _quality(row: MethodRow) -> tuple[str, float] | None:
    for key, name in (("fd_ratio", "FD / FD floor"), ("mmd_ratio", "MMD² / MMD² floor")):
        value = row.metrics.get(key)
        if isinstance(value, int | float) and math.isfinite(value) and value > 0:
            return name, float(value)
    return None


def _target_evals(row: MethodRow) -> float | None:
    """The row's target evaluations, or None when it made none (trained on samples)."""
    evals = row.cost.get("target_evals")
    return float(evals) if isinstance(evals, int | float) and evals > 0 else None


def save_quality_cost_plot(result: ComparisonReport, path: Path) -> Path | None:
    """Quality (metric over its floor, log scale; 1 is exact) against cost, one point per method.

    Left: seconds to train plus sample ``n`` draws. Middle: sampling seconds per 1,000
    samples. Right, when some method evaluated the target: its target evaluations (density
    plus gradient, training included; methods trained on samples are not on it).
    Returns None when no method has both a quality and a cost.
    """
    rows = [(r, q) for r in result.methods if r.status == "ok" and (q := _quality(r))]
    if not rows:
        return None
    plt = pyplot()
    from matplotlib.ticker import NullFormatter

    xs_keys = [
        (lambda r: r.cost["train_seconds"] + r.cost["sample_seconds"], "train + sample seconds"),
        (lambda r: r.cost["sample_seconds_per_1000"], "sampling seconds per 1,000 samples"),
    ]
    if any(_target_evals(r) for r, _ in rows):
        xs_keys.append((_target_evals, "target evaluations (density + gradient)"))
    fig, axes = plt.subplots(1, len(xs_keys), figsize=(4.5 * len(xs_keys), 3.6), dpi=90)
    for ax, (cost_of, xlabel) in zip(axes, xs_keys, strict=True):
        for row, (_, value) in rows:
            if cost_of(row) is None:
                continue
            cost = max(float(cost_of(row)), 1e-4)
            ax.scatter(cost, value, color=CAMP_COLOURS.get(row.camp, "0.3"), s=30, zorder=3)
            ax.annotate(
                row.method, (cost, value), textcoords="offset points", xytext=(4, 3), fontsize=8
            )
        ax.axhline(1.0, color="0.6", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        if cost_of is not _target_evals:  # evaluations often span less than a decade
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel)
        ax.set_ylabel(rows[0][1][0] + " (lower is better)")
    for camp, colour in CAMP_COLOURS.items():
        if any(r.camp == camp for r, _ in rows):
            axes[0].scatter([], [], color=colour, label=camp)
    axes[0].legend(fontsize=8, loc="best")
    fig.tight_layout()
    return save_figure(fig, path)


def save_log_z_estimates(
    estimates: Mapping[str, Sequence[tuple[float, float]]],
    path: Path,
    *,
    true_log_z: float | None = None,
    title: str = "",
) -> Path | None:
    """log Z estimates with error bars, one column per method.

    Args:
        estimates: method → its ``(log Ẑ, se)`` of each run (one per seed).
        path: where the PNG goes.
        true_log_z: the target's log Z; the plot then shows log Ẑ − log Z around 0.
        title: the figure's title.

    Each run is a point with ± 2 se (when the se is finite); with several runs their mean
    gets a bar of ± 2 sd / √k across them, the error bar across seeds. Returns None when no
    estimate is finite.
    """
    finite = {m: [(e, s) for e, s in runs if math.isfinite(e)] for m, runs in estimates.items()}
    finite = {m: runs for m, runs in finite.items() if runs}
    if not finite:
        return None
    shift = true_log_z if true_log_z is not None else 0.0
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(3.5, 1.1 * len(finite) + 1.5), 3.4), dpi=90)
    for i, runs in enumerate(finite.values()):
        offsets = np.linspace(-0.15, 0.15, len(runs)) if len(runs) > 1 else np.zeros(1)
        for off, (estimate, se) in zip(offsets, runs, strict=True):
            bar = 2 * se if math.isfinite(se) else None
            ax.errorbar(i + off, estimate - shift, yerr=bar, fmt="o", ms=4, color="tab:orange")
        if len(runs) > 1:
            values = np.array([e for e, _ in runs]) - shift
            spread = 2 * values.std(ddof=1) / math.sqrt(len(values))
            ax.errorbar(i + 0.3, values.mean(), yerr=spread, fmt="s", ms=5, color="0.2")
    if true_log_z is not None:
        ax.axhline(0.0, color="0.5", lw=0.8, ls="--")
    ax.set_xticks(range(len(finite)), list(finite), rotation=30, fontsize=8)
    ax.set_ylabel("log Ẑ − log Z" if true_log_z is not None else "log Ẑ")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def save_log_z_plot(result: ComparisonReport, path: Path) -> Path | None:
    """The comparison's log Z estimates (rows with one; ± 2 standard errors of each run)
    against the target's log Z when it is known. None when no row has an estimate."""
    rows = [r for r in result.methods if r.status == "ok" and r.log_z]
    if not rows:
        return None
    truth = next((r.log_z["true_log_z"] for r in rows if "true_log_z" in r.log_z), None)
    estimates = {
        r.method: [(float(r.log_z["log_z"]), float(r.log_z.get("log_z_se", math.nan)))]
        for r in rows
    }
    return save_log_z_estimates(estimates, path, true_log_z=truth, title=result.target)


def method_figures(
    row: MethodRow,
    samples: Samples,
    output: RecordedTrajectory,
    exact: Tensor | None,
    target: Target,
    out: Path,
) -> dict[str, str]:
    """Every figure of one method; returns name → path relative to ``out``."""
    method = row.method
    figures: dict[str, str] = {}
    flat = samples.flat()
    if flat.ndim in (2, 4) and (flat.ndim == 4 or flat.shape[1] >= 2):
        rel = f"{method}/samples.png"
        save_sample_comparison(flat, exact, out / rel, title=method, camp=row.camp, target=target)
        figures["samples"] = rel
    if samples.chains is not None:
        names = target.param_names() if hasattr(target, "param_names") else None
        save_trace_autocorr(
            samples, out / method / "trace.png", out / method / "autocorr.png", names=names
        )
        figures["trace"] = f"{method}/trace.png"
        figures["autocorr"] = f"{method}/autocorr.png"
        if _is_plane(flat):  # a path in the plane; none is drawn for d > 2
            save_chain_path_gif(
                samples, out / method / "chain_path.gif", exact=exact, target=target
            )
            figures["animation"] = f"{method}/chain_path.gif"
            row.notes["animation_label"] = "a chain's path"
    elif output.trajectory and (flat.ndim == 4 or _is_plane(flat)):
        save_trajectory_gif(
            output.trajectory,
            out / method / "trajectory.gif",
            label=output.trajectory_label,
            exact=exact,
        )
        figures["animation"] = f"{method}/trajectory.gif"
        row.notes["animation_label"] = output.trajectory_label
    return figures
