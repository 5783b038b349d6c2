"""Train a model with the Python API, sample it, score the samples and plot them.

A flow on ``eight_gaussians`` (a mixture of eight Gaussians on a circle, with an exact
sampler and density): `fit` trains it, its EMA weights draw samples, `evaluate_samples`
scores them against exact samples (``mmd`` beside ``mmd_floor``, the best reachable at that
sample size, and the modes covered), and a scatter plot is written as a PNG.

    python examples/train_and_sample.py            # about a minute on a laptop CPU
    python examples/train_and_sample.py runs/ex    # keep the outputs in runs/ex

With ``GENMODELS_EXAMPLE_QUICK=1`` (what the test suite sets) it trains a few steps only,
to check that the script runs; the scores are then poor by design.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import torch

from genmodels.catalogue import get_method
from genmodels.metrics import evaluate_samples
from genmodels.report.animate import save_scatter
from genmodels.targets import get_target
from genmodels.training import TrainConfig, fit

QUICK = os.environ.get("GENMODELS_EXAMPLE_QUICK") == "1"


def main(out_dir: Path) -> dict[str, float]:
    target = get_target("eight_gaussians")

    # Every method is one catalogue entry: its class and its typed Config.
    Flow = get_method("flow").build
    model = Flow(Flow.Config(kind="nsf", transforms=4, hidden=64), target.event_shape)

    config = TrainConfig(steps=30 if QUICK else 3000, lr=2e-3, progress=False, seed=0)
    state = fit(model, target, config)  # no out_dir: nothing is written, no checkpoint

    n = 500 if QUICK else 5000
    with torch.no_grad(), state.ema.applied(model) as ema_model:  # sample the EMA weights
        samples = ema_model.sample(n, generator=torch.Generator().manual_seed(0))

    scores = evaluate_samples(samples, target, seed=0)
    png = save_scatter(samples.x, out_dir / "samples.png", title=f"flow, {state.step} steps")
    print(f"trained {state.step} steps in {state.seconds:.1f} s; samples -> {png}")
    print(json.dumps({k: v for k, v in scores.items() if isinstance(v, int | float)}, indent=2))
    return scores


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
