"""Importance-corrected maps on normalised 2-D targets (log Z = 0): ESS/N, log Ẑ ± se,
target evaluations and CPU seconds (process time, one thread) of

- ``flow_is``: a flow fitted by reverse KL on the density, then SNIS;
- a flow trained by maximum likelihood on exact samples, corrected by SNIS;
- a flow-matching model trained on exact samples, corrected through its PF-ODE density
  (exact divergence);
- the analytic-score PF-ODE of a Gaussian (the adapter's own error: solver tolerance).

PYTHONPATH=src python benchmarks/importance_maps.py [fit_steps] [particles]
"""

from __future__ import annotations

import math
import sys
import time
from functools import partial

import torch

from genmodels.density import FlowISSettings, importance_correct, run_flow_is
from genmodels.diffusion import VPSDE, FlowMatching, ScoreModel
from genmodels.hybrids import FlowFitConfig, fit_flow
from genmodels.targets import get_target
from genmodels.training import TrainConfig, fit


def _row(what: str, target: str, ws, seconds: float) -> None:
    print(
        f"{what:<26} {target:<15} ESS/N {ws.ess:6.3f}  log Z {ws.log_z:+.4f} ± {ws.log_z_se:.4f}"
        f"  grad evals {ws.cost.grad_evals:>8}  density evals {ws.cost.density_evals:>6}"
        f"  cpu {seconds:6.1f} s"
    )


def _timed(fn):
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


def _ml_flow_is(target, config: FlowFitConfig, particles: int):
    return importance_correct(fit_flow(target, config)[0], target, particles)


def main(steps: int = 1000, particles: int = 5000) -> None:
    torch.set_num_threads(1)
    fit_cfg = FlowFitConfig(objective="reverse", steps=steps, transforms=4, hidden=32)
    for name in ("banana", "mixture_80_20", "eight_gaussians"):
        target = get_target(name)
        settings = FlowISSettings(particles=particles, fit=fit_cfg)
        ws, s = _timed(partial(run_flow_is, target, settings, seed=0))
        _row("flow_is (reverse KL)", name, ws, s)
        forward = FlowFitConfig(objective="forward", steps=steps, transforms=4, hidden=32)
        ws, s = _timed(partial(_ml_flow_is, target, forward, particles))
        _row("flow (ML on samples) + IS", name, ws, s)
    target = get_target("banana")
    torch.manual_seed(0)
    model = FlowMatching(FlowMatching.Config(), (2,))
    _, s_train = _timed(lambda: fit(model, target, TrainConfig(steps=3 * steps, progress=False)))
    n = particles // 5
    ws, s = _timed(lambda: importance_correct(model.eval(), target, n, divergence="exact"))
    _row(f"flow matching + PF-ODE IS (train {s_train:.0f} s)", "banana", ws, s)
    print(f"{'':<26} {'':<15} PF-ODE drift evaluations {ws.info['proposal_nfe']}")

    def score(x_hat, sigma_hat):
        return -x_hat / (4.0 + sigma_hat[:, None] ** 2)  # N(0, 2² I)

    exact = ScoreModel.from_fn(score, kind="score", process=VPSDE(), event_shape=(2,), coords="edm")
    log_p = lambda x: -0.125 * x.square().sum(-1) - math.log(8 * math.pi)  # noqa: E731
    ws, s = _timed(lambda: importance_correct(exact, log_p, n))
    _row("analytic score + PF-ODE IS", "N(0, 4 I)", ws, s)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
