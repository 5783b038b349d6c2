"""`ddpm-is-score`: a DDPM ε-network is a noise-conditional score model.

Ho et al. (2020) showed that L_simple = E‖ε̂ − ε‖² is denoising score matching with weight
λ(σ) = σ² for the score s = −ε̂/σ (up to the factor 2 of DSM's ½). So one trained network
drives three samplers to the same distribution: DDPM ancestral sampling (the discretised
reverse SDE), the probability-flow ODE (Heun), and annealed Langevin dynamics on −ε̂/σ —
the chain view (Song & Ermon 2019). Reported: both losses on the same batch and noise, and
the MMD of each sampler's output to `eight_gaussians` (with the floor of exact samples).
"""

from __future__ import annotations

from pathlib import Path

import torch

from genmodels.demos._plot import pyplot
from genmodels.demos._train import train_demo_model
from genmodels.demos.base import register_demo, save_figure, write_result
from genmodels.targets import get_target

__all__: list[str] = []


@register_demo(
    "ddpm-is-score",
    "a DDPM eps-network used as a score drives annealed Langevin, the reverse SDE and the "
    "PF-ODE to the same distribution; the eps-loss is DSM with lambda = sigma^2",
)
def run(out_dir: Path, *, seed: int = 0, quick: bool = False) -> dict:
    """Train a DDPM on eight_gaussians; compare its losses and three samplers."""
    from genmodels.diffusion.losses import denoising_loss, dsm_loss
    from genmodels.metrics.evaluate import evaluate_samples

    out_dir = Path(out_dir)
    target = get_target("eight_gaussians")
    ddpm, state = train_demo_model("ddpm", target, seed=seed, quick=quick)

    # The two losses on one batch, one t and one ε per example.
    g = torch.Generator().manual_seed(seed)
    x_0 = target.sample(4096, g)
    t = torch.randint(0, ddpm.schedule.num_timesteps, (len(x_0),), generator=g)
    alpha, sigma = (c.float() for c in ddpm.schedule.alpha_sigma(t))
    eps = torch.randn(x_0.shape, generator=g)
    with torch.no_grad():
        l_simple = denoising_loss(ddpm.net, x_0, alpha, sigma, t.float(), eps=eps)
        l_dsm = dsm_loss(
            lambda x_t, c: -ddpm.net(x_t, c) / sigma[:, None], x_0, sigma, t.float(),
            alpha=alpha[:, None], eps=eps,
        )  # fmt: skip

    n = 1000 if quick else 4000
    runs = {
        "ancestral": {"sampler": "ancestral", "steps": 100},
        "pf_ode_heun": {"sampler": "heun", "steps": 25},
        "annealed_langevin": {"sampler": "annealed_langevin", "steps": 10},
    }
    result: dict = {
        "target": "eight_gaussians",
        "train_steps": state.step,
        "loss_eps": float(l_simple),
        "loss_dsm_sigma2": float(l_dsm),
        "loss_eps_over_2dsm": float(l_simple / (2 * l_dsm)),
    }
    samples = {}
    for name, opts in runs.items():
        s = ddpm.sample(n, generator=g, **opts)
        samples[name] = s.x
        metrics = evaluate_samples(s.x, target, seed=seed)
        result[name] = {**opts, "nfe": s.nfe, **{k: metrics[k] for k in
                        ("mmd", "mmd_floor", "mode_weight_tv", "modes_covered")}}  # fmt: skip
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(16, 4))
    panels = {"exact": target.sample(n, g), **samples}
    for ax, (name, x) in zip(axes, panels.items(), strict=True):
        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.5)
        mmd = f"\nmmd {result[name]['mmd']:.4f}" if name in result else ""
        ax.set(xlim=(-4, 4), ylim=(-4, 4), aspect="equal", title=f"{name}{mmd}")
    save_figure(fig, out_dir / "ddpm_is_score.png")
    result["figure"] = "ddpm_is_score.png"
    return write_result(out_dir, result)
