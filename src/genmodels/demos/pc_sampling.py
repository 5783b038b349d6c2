"""`pc-sampling`: predictor-only, corrector-only and predictor–corrector at equal NFE.

Song et al. (2021, §4.2, Table 1): the reverse-SDE predictor moves between noise levels, a
Langevin corrector (a chain) moves within one. At the same number of score evaluations,
"P1000", "C2000" and "PC1000" differ. Here one VE score-SDE model is trained on
`eight_gaussians` and sampled three ways at several NFE budgets: predictor-only with N steps,
corrector-only (annealed Langevin along the SDE's levels) with N levels, and PC with N/2
levels of one predictor plus one corrector step. Reported: MMD to the target against NFE.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genmodels.demos._plot import pyplot
from genmodels.demos._train import train_demo_model
from genmodels.demos.base import register_demo, save_figure, write_result
from genmodels.targets import get_target

__all__: list[str] = []

# name → (sample options, levels per NFE): PC spends two evaluations per level
_VARIANTS = {
    "predictor_only": ({"corrector": None}, 1),
    "corrector_only": ({"predictor": None}, 1),
    "predictor_corrector": ({}, 2),
}


@register_demo(
    "pc-sampling",
    "predictor-only, corrector-only and predictor-corrector sampling of one score-SDE "
    "model at equal NFE: quality against NFE",
)
def run(out_dir: Path, *, seed: int = 0, quick: bool = False) -> dict:
    """Train a VE score SDE on eight_gaussians; MMD of P, C and PC samplers vs NFE."""
    from genmodels.metrics.evaluate import evaluate_samples

    out_dir = Path(out_dir)
    target = get_target("eight_gaussians")
    model, state = train_demo_model("sde_ve", target, seed=seed, quick=quick)

    budgets = [20, 60] if quick else [20, 50, 100, 200, 400]
    n = 1000 if quick else 3000
    g = torch.Generator().manual_seed(seed)
    result: dict = {"target": "eight_gaussians", "model": "sde_ve", "train_steps": state.step,
                    "nfe_budgets": budgets}  # fmt: skip
    for name, (options, per_level) in _VARIANTS.items():
        rows = []
        for budget in budgets:
            s = model.sample(n, generator=g, sampler="pc", steps=budget // per_level, **options)
            m = evaluate_samples(s.x, target, seed=seed)
            rows.append({"nfe": s.nfe, "mmd": m["mmd"], "mode_weight_tv": m["mode_weight_tv"]})
        result[name] = rows
        result["mmd_floor"] = m["mmd_floor"]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in _VARIANTS:
        ax.plot([r["nfe"] for r in result[name]], [r["mmd"] for r in result[name]], "o-",
                label=name)  # fmt: skip
    ax.axhline(result["mmd_floor"], color="k", ls="--", label="floor (exact samples)")
    ax.set(xscale="log", yscale="log", xlabel="score evaluations (NFE)", ylabel="MMD",
           title="eight_gaussians, VE SDE")  # fmt: skip
    ax.legend(fontsize=8)
    save_figure(fig, out_dir / "pc_sampling.png")
    result["figure"] = "pc_sampling.png"
    return write_result(out_dir, result)
