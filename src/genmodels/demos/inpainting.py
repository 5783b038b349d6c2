"""`inpainting`: a DDPM trained on digits completes the bottom half of unseen digits.

The DDPM (ε-prediction, TimeMLP on the 64 flattened pixels) is trained unconditionally;
conditioning happens only at sampling time (`genmodels.hybrids.inpaint`: replacement plus a
Langevin corrector on the unknown pixels, Song et al. 2021). Reported: the given half is
kept exactly, and the completed half is closer to the truth than unconditional samples are.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from genmodels.demos._train import train_digits_ddpm
from genmodels.demos.base import register_demo, write_result
from genmodels.targets import get_target

__all__: list[str] = []


@register_demo(
    "inpainting",
    "an unconditional DDPM on digits fills in the missing bottom half of test digits "
    "(replacement + Langevin corrector), keeping the given half exactly",
)
def run(out_dir: Path, *, seed: int = 0, quick: bool = False) -> dict:
    """Train a small DDPM on digits, inpaint the bottom half of test digits."""
    from genmodels.hybrids import inpaint
    from genmodels.report.grid import save_image_grid

    out_dir = Path(out_dir)
    digits = get_target("digits")
    ddpm, state = train_digits_ddpm(digits.train_x, seed=seed, quick=quick)

    n = 16 if quick else 40
    truth = digits.test_x[:n].reshape(n, 64)  # [n, 64]
    mask = torch.zeros(1, 8, 8)
    mask[:, :4, :] = 1.0  # the top half is given
    mask = mask.reshape(1, 64)
    g = torch.Generator().manual_seed(seed)
    steps, corrector = (50, 1) if quick else (200, 2)
    filled = inpaint(ddpm.predict_eps, ddpm.schedule.alphas_cumprod, truth, mask,
                     steps=steps, corrector_steps=corrector, snr=0.16, generator=g)  # fmt: skip
    free = ddpm.sample(n, generator=g, sampler="ancestral", steps=steps).x.clamp(-1, 1)
    unknown = (1 - mask).bool().expand_as(truth)

    def half_mse(x: Tensor) -> float:
        return float((x - truth)[unknown].square().mean())

    train_mean = digits.train_x.reshape(-1, 64).mean(0, keepdim=True).expand_as(truth)
    result = {
        "n": n,
        "train_steps": state.step,
        "train_seconds": round(state.seconds, 1),
        "sampler": {"steps": steps, "corrector_steps": corrector, "snr": 0.16},
        "known_half_max_abs_error": float((filled.x - truth)[~unknown].abs().max()),
        "mse_inpainted_half": half_mse(filled.x.clamp(-1, 1)),
        "mse_unconditional_half": half_mse(free),
        "mse_train_mean_half": half_mse(train_mean),
        "nfe": filled.nfe,
    }
    masked = truth * mask - (1 - mask)  # the unknown half shown black
    rows = torch.cat([masked[:8], filled.x[:8].clamp(-1, 1), truth[:8]])  # [24, 64]
    save_image_grid(rows.reshape(-1, 1, 8, 8), out_dir / "inpainting.png", nrow=8)
    result["figure"] = "inpainting.png"
    result["figure_rows"] = ["given top half", "inpainted", "truth"]
    return write_result(out_dir, result)
