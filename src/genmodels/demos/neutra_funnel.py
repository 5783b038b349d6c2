"""`neutra-funnel`: NUTS in a flow's latent space beats NUTS on Neal's funnel.

Neal's funnel (10-D) has a neck where the curvature changes by orders of magnitude, so NUTS
with one adapted step size diverges there and mixes slowly in v. NeuTra (Hoffman et al.
2019) first fits a flow x = T(z), then runs the same NUTS on p(T(z)) |det ∂T/∂z|, which is
close to N(0, I). Both get the same number of draws; the figures are divergences, R-hat,
and bulk ESS per gradient evaluation (for NeuTra a gradient also passes through the flow,
so seconds are reported as well).
"""

from __future__ import annotations

from pathlib import Path

import torch

from genmodels.demos._plot import pyplot
from genmodels.demos.base import register_demo, save_figure, write_result
from genmodels.targets import get_target

__all__: list[str] = []


def _row(s, summary: dict, flow_seconds: float = 0.0) -> dict:
    grads = s.info["grad_evals_sampling"]
    return {
        "divergences": int(summary["divergences"]),
        "max_r_hat": summary["max_r_hat"],
        "min_ess_bulk": summary["min_ess_bulk"],
        "ess_bulk_v": summary["params"]["v"]["ess_bulk"],
        "grad_evals_sampling": int(grads),
        "grad_evals_total": int(s.nfe),
        "min_ess_per_grad_eval": summary["min_ess_bulk"] / grads,
        "mean_v": summary["params"]["v"]["mean"],
        "sd_v": summary["params"]["v"]["sd"],
        "seconds_sampling": s.seconds,
        "seconds_flow_fit": flow_seconds,
    }


@register_demo(
    "neutra-funnel",
    "on Neal's funnel, NUTS in a trained flow's latent space (NeuTra) has fewer divergences "
    "and higher ESS per gradient evaluation than NUTS",
)
def run(out_dir: Path, *, seed: int = 0, quick: bool = False) -> dict:
    """NUTS vs NeuTra-NUTS on the 10-D funnel at equal draws."""
    from genmodels.hybrids import FlowFitConfig, fit_flow, neutra_hmc
    from genmodels.mcmc import sample_chains
    from genmodels.metrics.chains import chain_summary

    out_dir = Path(out_dir)
    target = get_target("funnel")
    names = target.param_names()
    chains, draws, warmup = (2, 100, 100) if quick else (4, 300, 300)
    nuts = sample_chains(
        target, "nuts", chains=chains, draws=draws, warmup=warmup, seed=seed, progress=False
    )
    fit_config = FlowFitConfig(steps=200 if quick else 1500, transforms=6, hidden=64)
    flow, fit_info = fit_flow(target, fit_config, seed=seed)
    neutra = neutra_hmc(
        target.log_prob, flow, sampler="nuts", chains=chains, draws=draws, warmup=warmup,
        seed=seed, kernel_options={"max_tree_depth": 6},
    )  # fmt: skip
    rows = {
        "nuts": _row(nuts, chain_summary(nuts, names)),
        "neutra_hmc": _row(neutra, chain_summary(neutra, names), fit_info["seconds"]),
    }
    result = {
        "target": "funnel",
        "chains": chains,
        "draws": draws,
        "warmup": warmup,
        "exact_sd_v": 3.0,
        "flow": {"steps": fit_config.steps, "kind": fit_config.kind, "nll": fit_info["loss"]},
        **rows,
        "fewer_divergences": rows["neutra_hmc"]["divergences"] < rows["nuts"]["divergences"],
        "ess_per_grad_ratio": rows["neutra_hmc"]["min_ess_per_grad_eval"]
        / rows["nuts"]["min_ess_per_grad_eval"],
    }
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    exact = target.sample(2000, torch.Generator().manual_seed(seed + 1))
    for ax, (label, s) in zip(axes[:2], [("NUTS", nuts), ("NeuTra NUTS", neutra)], strict=True):
        x = s.flat()
        ax.scatter(exact[:, 1], exact[:, 0], s=2, c="0.8", label="exact")
        ax.scatter(x[:, 1], x[:, 0], s=3, alpha=0.5, label=label)
        div = s.stats["divergent"].reshape(-1)
        ax.scatter(x[div, 1], x[div, 0], s=12, c="r", marker="x", label="divergent")
        r = rows["nuts" if label == "NUTS" else "neutra_hmc"]
        title = f"{label}: {r['divergences']} divergences, ESS(v) {r['ess_bulk_v']:.0f}"
        ax.set(xlim=(-20, 20), ylim=(-9, 9), xlabel="x₁", ylabel="v", title=title)
        ax.legend(fontsize=7, loc="lower right")
    for label, s in [("NUTS", nuts), ("NeuTra NUTS", neutra)]:
        axes[2].plot(s.x[0, :, 0], lw=0.8, label=label)
    axes[2].set(xlabel="draw", ylabel="v", title="trace of v (chain 0)")
    axes[2].legend(fontsize=8)
    save_figure(fig, out_dir / "neutra_funnel.png")
    result["figure"] = "neutra_funnel.png"
    return write_result(out_dir, result)
