"""`reverse-gif`: the reverse diffusion on digits, from noise to images, as a GIF.

A small DDPM (ε-prediction, TimeMLP on the 64 flattened pixels) is trained on `digits`;
ancestral sampling (Ho et al. 2020, Alg. 2) is recorded every few steps, x_t for 32 images
per frame: coarse shapes appear first, strokes last — a process that slowly mixes to the
data, like a chain, yet started afresh for every sample, like a map.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from genmodels.demos._train import train_digits_ddpm
from genmodels.demos.base import register_demo, write_result
from genmodels.diffusion.samplers import StepState
from genmodels.targets import get_target

__all__: list[str] = []


@register_demo("reverse-gif", "the reverse diffusion on digits, from noise to digits, as a GIF")
def run(out_dir: Path, *, seed: int = 0, quick: bool = False) -> dict:
    """Train a small DDPM on digits and animate its ancestral sampling."""
    from genmodels.report.animate import save_animation
    from genmodels.report.grid import save_image_grid

    out_dir = Path(out_dir)
    digits = get_target("digits")
    ddpm, state = train_digits_ddpm(digits.train_x, seed=seed, quick=quick)

    steps = 50 if quick else 200
    every = max(1, steps // 40)
    frames: list[Tensor] = []

    def record(state: StepState) -> None:
        if state["i"] % every == 0 or state["i"] == steps - 1:
            frames.append(state["x"].clamp(-1, 1).reshape(-1, 1, 8, 8).clone())

    g = torch.Generator().manual_seed(seed)
    out = ddpm.sample(32, generator=g, sampler="ancestral", steps=steps, callback=record)
    final = out.x.clamp(-1, 1).reshape(-1, 1, 8, 8)
    frames += [final] * 10  # hold the last frame
    save_animation(frames, out_dir / "reverse.gif", fps=10, nrow=8)
    save_image_grid(final, out_dir / "final.png", nrow=8)
    result = {
        "train_steps": state.step,
        "train_seconds": round(state.seconds, 1),
        "sampler": "ancestral",
        "steps": steps,
        "nfe": out.nfe,
        "frames": len(frames),
        "figure": "reverse.gif",
        "final_grid": "final.png",
    }
    return write_result(out_dir, result)
