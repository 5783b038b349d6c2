"""`inpainting`: a DDPM trained on digits completes the bottom half of unseen digits, two ways.

The DDPM (ε-prediction, TimeMLP on the 64 flattened pixels) is trained unconditionally;
conditioning happens only at sampling time, by the two methods of `genmodels.hybrids.inpaint`
run side by side on the same digits with the same number of reverse steps:

* replacement + Langevin corrector on the unknown pixels (Song et al. 2021): the given half
  is kept exactly;
* diffusion posterior sampling (Chung et al. 2023, Alg. 1): the gradient of ‖y − A(x̂₀)‖
  through the network pulls the sample towards the given half, which is therefore only
  approximately kept — its error is reported, not hidden.

Reported per method: the MSE on the missing half against the truth, and the error on the
given half; as references, the MSE of unconditional samples and of the training mean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genmodels.demos._train import train_digits_ddpm
from genmodels.demos.base import register_demo, write_result
from genmodels.targets import get_target

__all__: list[str] = []

SNR = 0.16  # replacement's corrector step (Song et al. 2021, their value for images)
# DPS step ζ' (ζ_t = ζ'/‖y − A(x̂₀)‖): each step moves x by 2ζ' along a unit-ish direction.
# The value with the lowest missing-half error in a sweep (benchmarks/README.md); larger
# steps overshoot and oscillate around y, smaller ones leave the missing half blurred.
ZETA = 0.3


@register_demo(
    "inpainting",
    "an unconditional DDPM on digits fills in the missing bottom half of test digits, by "
    "replacement + Langevin corrector (keeps the given half exactly) and by diffusion "
    "posterior sampling (pulls towards it)",
)
def run(out_dir: Path, *, seed: int = 0, quick: bool = False) -> dict:
    """Train a small DDPM on digits, inpaint the bottom half of test digits by both methods."""
    from genmodels.hybrids import inpaint
    from genmodels.report.grid import save_image_grid

    out_dir = Path(out_dir)
    digits = get_target("digits")
    ddpm, state = train_digits_ddpm(digits.train_x, seed=seed, quick=quick)

    n = 16 if quick else 40
    truth = digits.test_x[:n].reshape(n, 64)  # [n, 1, 8, 8] -> [n, 64]
    mask = torch.zeros(1, 8, 8)
    mask[:, :4, :] = 1.0  # the top half is given
    mask = mask.reshape(1, 64)
    unknown = (1 - mask).bool().expand_as(truth)
    steps, corrector = (50, 1) if quick else (200, 2)
    settings: dict[str, dict[str, Any]] = {
        "replacement": {"method": "replacement", "corrector_steps": corrector, "snr": SNR},
        "dps": {"method": "dps", "zeta": ZETA},
    }

    def half_mse(x: Tensor, half: Tensor) -> float:
        return float((x - truth)[half].square().mean())

    result: dict[str, Any] = {
        "n": n,
        "train_steps": state.step,
        "train_seconds": round(state.seconds, 1),
        "steps": steps,
        "missing": "bottom half (rows 4-7)",
    }
    filled = {}
    for name, kwargs in settings.items():
        g = torch.Generator().manual_seed(seed)
        out = inpaint(ddpm.predict_eps, ddpm.schedule.alphas_cumprod, truth, mask,
                      steps=steps, generator=g, **kwargs)  # fmt: skip
        filled[name] = x = out.x.clamp(-1, 1)
        result[name] = {
            "mse_missing_half": half_mse(x, unknown),
            "mse_given_half": half_mse(x, ~unknown),
            "max_abs_error_given_half": float((x - truth)[~unknown].abs().max()),
            "nfe": out.nfe,
            # DPS also back-propagates through the network once per step
            "backward_passes": steps if name == "dps" else 0,
            "seconds": round(out.seconds, 2),
            "settings": {k: v for k, v in kwargs.items() if k != "method"},
        }
    g = torch.Generator().manual_seed(seed)
    free = ddpm.sample(n, generator=g, sampler="ancestral", steps=steps).x.clamp(-1, 1)
    train_mean = digits.train_x.reshape(-1, 64).mean(0, keepdim=True).expand_as(truth)
    result["mse_unconditional_half"] = half_mse(free, unknown)
    result["mse_train_mean_half"] = half_mse(train_mean, unknown)

    observed = truth * mask - (1 - mask)  # the unknown half shown black
    rows = torch.cat([truth[:8], observed[:8], filled["replacement"][:8], filled["dps"][:8]])
    grid = rows.reshape(-1, 1, 8, 8)  # [32, 64] -> [32, 1, 8, 8], one method per row of 8
    save_image_grid(grid, out_dir / "inpainting.png", nrow=8, scale=8)
    result["figure"] = "inpainting.png"
    result["figure_rows"] = ["truth", "given top half", "replacement + corrector", "DPS"]
    return write_result(out_dir, result)
