"""Your own ε-network or analytic score → genmodels' samplers and PF-ODE log-likelihood.

`ScoreModel.from_fn(fn, kind=..., process=..., event_shape=...)` turns a plain function into a
diffusion model: every registered solver (`genmodels.diffusion.SOLVERS`) samples it and
`pf_ode_log_prob` scores it, with the library's time and coordinate conventions handled
inside (docs/howto-own-score.md).

Part 1 plugs in the exact score of a Gaussian mixture (no training: the answer is known);
part 2 trains a small ε-network of your own on the mixture, in your own loop, and hands it
over. Set GENMODELS_EXAMPLE_QUICK=1 for a run of a few seconds.

    python examples/own_score.py
"""

from __future__ import annotations

import os

import torch
from torch import nn

from genmodels.diffusion import SOLVERS, VPSDE, DiscreteSchedule, ScoreModel
from genmodels.metrics.evaluate import evaluate_samples
from genmodels.targets import get_target

QUICK = os.environ.get("GENMODELS_EXAMPLE_QUICK") == "1"
N = 500 if QUICK else 5000


def analytic_score() -> None:
    """The exact noised score of eight_gaussians, ∇ log (p * N(0, σ̂² I)), in EDM coordinates."""
    target = get_target("eight_gaussians")

    def score(x_hat: torch.Tensor, sigma_hat: torch.Tensor) -> torch.Tensor:
        # one σ̂ per call here (every solver steps all samples together)
        return target.convolve(float(sigma_hat[0])).score(x_hat)

    model = ScoreModel.from_fn(score, kind="score", process=VPSDE(), event_shape=(2,), coords="edm")
    solvers = ["dpmpp_2m", "heun"] if QUICK else model.samplers
    for name in solvers:
        steps = None if SOLVERS.get(name).family != "langevin" else 10
        out = model.sample(N, sampler=name, steps=steps, generator=torch.Generator().manual_seed(0))
        m = evaluate_samples(out.x, target)
        print(f"analytic  {name:18s} nfe {out.nfe:5d}  mmd/floor {m['mmd'] / m['mmd_floor']:6.2f}")
    x = target.sample(4 if QUICK else 64, torch.Generator().manual_seed(1))
    lp = model.pf_ode_log_prob(x).log_prob
    print(
        f"analytic  PF-ODE log p − true log p: {float((lp - target.log_prob(x)).abs().max()):.3f}"
    )


class EpsNet(nn.Module):
    """Your own network: ε̂(x_t, t) with t the DDPM timestep in [0, T − 1]."""

    def __init__(self, width: int = 128) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(3, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
            nn.Linear(width, 2),
        )  # fmt: skip

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([x_t, (t / 1000.0)[:, None]], dim=1))


def own_network() -> None:
    """Train ε̂ with L_simple in a plain loop, then sample and score it through genmodels."""
    target, schedule = get_target("eight_gaussians"), DiscreteSchedule.linear(1000)
    net, gen = EpsNet(), torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    abar = schedule.alphas_cumprod.float()
    for _ in range(200 if QUICK else 4000):
        x0 = target.sample(256, gen)
        t = torch.randint(0, 1000, (256,), generator=gen)
        eps = torch.randn(x0.shape, generator=gen)
        x_t = abar[t, None].sqrt() * x0 + (1 - abar[t, None]).sqrt() * eps
        loss = (net(x_t, t.float()) - eps).square().sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model = ScoreModel.from_fn(net, kind="eps", process=schedule, event_shape=(2,)).eval()
    for name in ("ddim", "dpmpp_2m"):
        out = model.sample(N, sampler=name, generator=torch.Generator().manual_seed(0))
        m = evaluate_samples(out.x, target)
        print(f"own net   {name:18s} nfe {out.nfe:5d}  mmd/floor {m['mmd'] / m['mmd_floor']:6.2f}")
    x = target.sample(4 if QUICK else 256, torch.Generator().manual_seed(1))
    nll = -float(model.pf_ode_log_prob(x).log_prob.mean())
    entropy = -float(target.log_prob(x).mean())
    print(f"own net   PF-ODE NLL {nll:.3f} nats (true entropy {entropy:.3f})")


if __name__ == "__main__":
    torch.manual_seed(0)
    analytic_score()
    own_network()
