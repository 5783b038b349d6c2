"""Annealed Langevin on eight_gaussians with the exact noised score, per ladder (README table).

    PYTHONPATH=src python benchmarks/ncsn_ladder.py '[[8, 0.1, 30, 20], [10, 0.01, 10, 10, 2e-5]]'

Each entry: [σ_max, σ_min, levels L, steps per level T, optional ε (default: technique 4)].
"""

from __future__ import annotations

import json
import math
import sys

import torch

from genmodels.diffusion import langevin_step_size
from genmodels.diffusion.samplers.langevin import annealed_langevin
from genmodels.metrics.evaluate import evaluate_samples
from genmodels.targets import get_target


def main(configs: list[list[float]]) -> None:
    torch.set_num_threads(1)
    target = get_target("eight_gaussians")
    noised: dict[float, object] = {}

    def score(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = float(sigma[0])
        if s not in noised:
            noised[s] = target.convolve(s)
        return noised[s].score(x)

    for cfg in configs:
        sigma_max, sigma_min, levels, per_level = cfg[:4]
        sigmas = torch.logspace(math.log10(sigma_max), math.log10(sigma_min), int(levels))
        step_lr = cfg[4] if len(cfg) > 4 else langevin_step_size(sigmas, int(per_level))
        ratios = []
        for seed in (1, 2):
            g = torch.Generator().manual_seed(seed)
            x0 = torch.randn(5000, 2, generator=g) * sigma_max
            out = annealed_langevin(
                score, x0, sigmas, steps_per_level=int(per_level), step_lr=step_lr, generator=g
            )
            m = evaluate_samples(out.x, target)
            ratios.append(round(m["mmd"] / m["mmd_floor"], 2))
        print(cfg, f"eps {step_lr:.2e}", "mmd/floor", ratios, "modes", m["modes_covered"],
              "nfe", out.nfe, flush=True)  # fmt: skip


if __name__ == "__main__":
    main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else [[8, 0.1, 30, 20]])
