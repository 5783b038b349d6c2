"""`mixing`: chains must travel between modes; a trained map's samples need no mixing.

Four chains each of RWMH and NUTS on `eight_gaussians`, all started in the same mode, are
compared with a diffusion model (DDPM, DDIM sampler) trained on samples of the target and
with the flow-proposal MH hybrid. Reported: the modes visited as draws accumulate, R-hat
and bulk ESS (independent draws are laid out as chains too, so the numbers compare), and
the total-variation error of the mode weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from genmodels.demos._plot import pyplot
from genmodels.demos._train import train_demo_model
from genmodels.demos.base import register_demo, save_figure, write_result
from genmodels.targets import get_target

__all__ = ["modes_visited"]


def modes_visited(labels: Tensor, k: int) -> Tensor:
    """Mean over chains of the distinct modes seen up to each draw: ``[chains, draws] → [draws]``.

    Example:
        >>> modes_visited(torch.tensor([[0, 0, 1, 2]]), 3).tolist()
        [1.0, 1.0, 2.0, 3.0]
    """
    seen = torch.nn.functional.one_hot(labels, k).cummax(dim=1).values  # [chains, draws, k]
    return seen.sum(-1).double().mean(0)


@register_demo(
    "mixing",
    "chains (rwmh, nuts) started in one mode of eight_gaussians mix slowly between modes; "
    "a diffusion model's independent samples cover all modes at once",
)
def run(out_dir: Path, *, seed: int = 0, quick: bool = False) -> dict:
    """Chains from one mode vs a trained DDPM (and flow-proposal MH) on `eight_gaussians`."""
    from genmodels.hybrids import FlowFitConfig, fit_flow, flow_mh
    from genmodels.mcmc import sample_chains
    from genmodels.metrics.chains import chain_summary

    out_dir = Path(out_dir)
    target = get_target("eight_gaussians")
    modes = target.modes
    chains, draws, warmup = (4, 300, 200) if quick else (4, 2000, 500)
    g = torch.Generator().manual_seed(seed)
    init = modes.centres[0] + 0.1 * torch.randn(chains, 2, generator=g)  # all in mode 0

    runs: dict[str, Tensor] = {}
    cost: dict[str, float] = {}
    for name in ("rwmh", "nuts"):
        s = sample_chains(
            target, name, chains=chains, draws=draws, warmup=warmup, init=init, seed=seed,
            progress=False,
        )  # fmt: skip
        runs[name], cost[name] = s.x, s.seconds

    ddpm, state = train_demo_model("ddpm", target, seed=seed, quick=quick, steps=(400, 4000))
    s = ddpm.sample(chains * draws, generator=g, sampler="ddim", steps=50)
    runs["ddpm"] = s.x.reshape(chains, draws, 2)  # independent draws laid out as chains
    cost["ddpm"] = s.seconds + state.seconds

    flow, fit_info = fit_flow(target, FlowFitConfig(steps=200 if quick else 1500), seed=seed)
    s = flow_mh(target.log_prob, flow, chains=chains, draws=draws, generator=g, init=init)
    runs["flow_mh"], cost["flow_mh"] = s.x, s.seconds + fit_info["seconds"]

    result: dict = {"target": "eight_gaussians", "chains": chains, "draws": draws,
                    "started_in_mode": 0}  # fmt: skip
    curves = {}
    for name, x in runs.items():
        labels = modes.assign(x.reshape(-1, 2)).reshape(chains, draws)  # [chains, draws]
        curves[name] = modes_visited(labels, modes.k)
        weights = torch.bincount(labels.flatten(), minlength=modes.k).double() / labels.numel()
        summary = chain_summary(x)
        result[name] = {
            "modes_visited_per_chain": float(curves[name][-1]),
            "draws_to_visit_all_modes": _first_full(curves[name], modes.k),
            "mode_weight_tv": 0.5 * float((weights - modes.weights.double()).abs().sum()),
            "max_r_hat": summary["max_r_hat"],
            "min_ess_bulk": summary["min_ess_bulk"],
            "seconds": cost[name],
        }
    _figure(out_dir / "mixing.png", runs, curves, modes.k)
    result["figure"] = "mixing.png"
    return write_result(out_dir, result)


def _first_full(curve: Tensor, k: int) -> int | None:
    full = (curve >= k).nonzero()
    return int(full[0]) + 1 if len(full) else None


def _figure(path: Path, runs: dict[str, Tensor], curves: dict[str, Tensor], k: int) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(runs) + 1, figsize=(4 * (len(runs) + 1), 4))
    for ax, (name, x) in zip(axes, runs.items(), strict=False):
        flat = x.reshape(-1, 2)
        ax.scatter(flat[:, 0], flat[:, 1], s=1, alpha=0.2, c="0.6")
        ax.plot(x[0, :100, 0], x[0, :100, 1], "r.-", lw=0.5, ms=2)  # chain 0, first 100 draws
        ax.set(xlim=(-4, 4), ylim=(-4, 4), aspect="equal",
               title=f"{name} (red: first 100 draws of chain 0)")  # fmt: skip
    for name, curve in curves.items():
        axes[-1].plot(torch.arange(1, len(curve) + 1), curve, label=name)
    axes[-1].set(xscale="log", xlabel="draws", ylabel="modes visited (mean per chain)",
                 ylim=(0, k + 0.5), title="modes visited over time")  # fmt: skip
    axes[-1].legend(fontsize=8)
    save_figure(fig, path)
