"""`langevin-weights`: Langevin dynamics alone gets mixture weights wrong; annealing fixes it.

The setting of Song & Ermon (2019, §3.2.2 and Fig. 3): p = 0.8 N((5,5), I) + 0.2 N((−5,−5), I),
particles started uniformly in [−8, 8]². The score ∇ log p is *exact*, yet plain Langevin
leaves the relative weights where the initialisation put them: between the two modes the
density is ~e⁻²⁵, the score there does not depend on the weights, and a particle never
crosses. Annealed Langevin (Algorithm 1) runs the same dynamics on p_σ = p * N(0, σ²I) for
σ from 20 down to σ_L: at large σ the modes overlap, particles move between them and settle
in proportion to the weights. Here the noised scores are exact too (`GaussianMixture.convolve`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from genmodels.demos._plot import pyplot
from genmodels.demos.base import register_demo, save_figure, write_result
from genmodels.targets import get_target

__all__ = ["mode_weights"]


def mode_weights(x: Tensor, assign: object, k: int) -> list[float]:
    """Fraction of the points ``x`` assigned to each of the ``k`` modes."""
    counts = torch.bincount(assign(x), minlength=k).double()  # type: ignore[operator]
    return (counts / counts.sum()).tolist()


@register_demo(
    "langevin-weights",
    "Langevin with the exact score gets the 0.8/0.2 mode weights wrong; annealed Langevin "
    "gets them right (Song & Ermon 2019)",
)
def run(out_dir: Path, *, seed: int = 0, quick: bool = False) -> dict:
    """Plain vs annealed Langevin on `mixture_80_20`, both with exact scores."""
    from genmodels.diffusion.samplers import annealed_langevin

    out_dir = Path(out_dir)
    target = get_target("mixture_80_20")
    modes = target.modes
    n = 2_000 if quick else 10_000
    g = torch.Generator().manual_seed(seed)
    x_init = 16 * torch.rand(n, 2, generator=g) - 8  # uniform on [−8, 8]²

    levels, steps_per_level = 20, 100
    # Plain Langevin: one level; the exact score of p itself (σ ignored); ε = 0.1 and as many
    # steps as the annealed run takes in total (equal NFE).
    plain = annealed_langevin(
        lambda x, sigma: target.score(x),
        x_init,
        [1.0],
        steps_per_level=levels * steps_per_level,
        step_lr=0.1,
        generator=g,
        final_denoise=False,
    )
    # Annealed: σ geometric from 20 to 0.1, exact noised scores, α_i = ε σ_i²/σ_L². At σ_L = 0.1
    # p_σ is p up to a 0.5 % wider spread, so no final denoising step is needed.
    sigmas = torch.logspace(torch.tensor(20.0).log10(), -1.0, levels).tolist()
    noised = {s: target.convolve(s) for s in sigmas}
    annealed = annealed_langevin(
        lambda x, sigma: noised[float(sigma[0])].score(x),
        x_init,
        sigmas,
        steps_per_level=steps_per_level,
        step_lr=1e-3,
        generator=g,
        final_denoise=False,
    )
    true_w = modes.weights.tolist()
    w_plain = mode_weights(plain.x, modes.assign, modes.k)
    w_annealed = mode_weights(annealed.x, modes.assign, modes.k)
    minor = int(modes.weights.argmin())
    result = {
        "target": "mixture_80_20",
        "n": n,
        "true_weights": true_w,
        "weights_langevin": w_plain,
        "weights_annealed": w_annealed,
        "minor_mode_error_langevin": abs(w_plain[minor] - true_w[minor]),
        "minor_mode_error_annealed": abs(w_annealed[minor] - true_w[minor]),
        "langevin": {"step_size": 0.1, "nfe": plain.nfe},
        "annealed": {
            "sigmas": sigmas,
            "steps_per_level": steps_per_level,
            "step_lr": 1e-3,
            "nfe": annealed.nfe,
        },
    }
    _figure(out_dir / "langevin_weights.png", target, x_init, plain.x, annealed.x, result)
    result["figure"] = "langevin_weights.png"
    return write_result(out_dir, result)


def _figure(path: Path, target, x_init: Tensor, x_plain: Tensor, x_ann: Tensor, r: dict) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(16, 4))
    exact = target.sample(len(x_plain), torch.Generator().manual_seed(1))
    panels = [
        ("initialisation: uniform", x_init),
        (f"Langevin, exact score\nweights {_fmt(r['weights_langevin'])}", x_plain),
        (f"annealed Langevin\nweights {_fmt(r['weights_annealed'])}", x_ann),
        (f"exact samples\nweights {_fmt(r['true_weights'])}", exact),
    ]
    for ax, (title, x) in zip(axes, panels, strict=True):
        ax.scatter(x[:2000, 0], x[:2000, 1], s=2, alpha=0.4)
        ax.set(xlim=(-10, 10), ylim=(-10, 10), title=title, aspect="equal")
    save_figure(fig, path)


def _fmt(w: list[float]) -> str:
    return "/".join(f"{v:.2f}" for v in w)
