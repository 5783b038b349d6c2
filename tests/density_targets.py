"""A target the density samplers' tests share (on the tests' path, like cli_contract.py)."""

from __future__ import annotations

import torch

from genmodels.targets.base import Target

LOG_Z = 1.7  # the test target's log normaliser


class ShiftedGaussian(Target):
    """N(μ, Σ) with a non-standard mean and correlation, times e^{1.7} (so Z = e^{1.7}); it
    counts the rows it is evaluated on, the check on a sampler's own `Cost`."""

    kind = "posterior"
    event_shape = (2,)

    def __init__(self) -> None:
        self.mean = torch.tensor([1.5, -1.0])
        self.cov = torch.tensor([[1.0, 0.6], [0.6, 0.8]])
        self.rows = 0

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += x.shape[0]
        dist = torch.distributions.MultivariateNormal(self.mean.to(x), self.cov.to(x))
        return dist.log_prob(x) + LOG_Z
