"""Outliers of an under-trained DDPM before and after the x̂₀ bound (benchmarks/README.md).

PYTHONPATH=src python benchmarks/diffusion_outliers.py [train_steps]
"""

from __future__ import annotations

import sys

import torch

from genmodels.diffusion import DDPM
from genmodels.targets.mixture import GaussianMixture


def main(steps: int = 300) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    means = torch.randn(6, 5, generator=torch.Generator().manual_seed(0)) * 2.5
    data = GaussianMixture(means, 0.7)
    x = data.sample(20000, torch.Generator().manual_seed(1))
    data_max = float(x.abs().max())
    print(f"data max|x| {data_max:.1f}")
    model = DDPM(DDPM.Config(width=64, depth=2), (5,))
    unbounded = model.x0_range.clone()
    model.init_from_data(x[:256])  # what `fit` does
    bounded = model.x0_range.clone()
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    for _ in range(steps):
        loss = model.loss(x[torch.randint(0, len(x), (256,))])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    for sampler in ("ddim", "heun", "dpmpp_2m", "ancestral"):
        for name, bounds in (("before", unbounded), ("after", bounded)):
            model.x0_range.copy_(bounds)
            out = model.sample(2000, sampler=sampler, generator=torch.Generator().manual_seed(2))
            beyond = float((out.x.abs().amax(1) > data_max).float().mean())
            print(
                f"{sampler:10s} {name:6s} max|x| {float(out.x.abs().max()):6.1f}  "
                f"beyond data max {beyond:.3f}  nfe {out.nfe}",
                flush=True,
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
