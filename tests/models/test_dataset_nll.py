"""Test-set NLL: nats, bits/dim, and the dequantisation offset for discrete images."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from genmodels.errors import NotApplicableError
from genmodels.models.base import GenerativeModel
from genmodels.models.common import bin_width
from genmodels.models.likelihood import dataset_nll
from genmodels.samples import Samples


class _Uniform(GenerativeModel):
    """Uniform density on the dequantised cube [−1 − δ/2, 1 + δ/2]^D."""

    camp = "map"
    likelihood = "exact"

    def __init__(self, event_shape: tuple[int, ...], num_levels: int) -> None:
        super().__init__(None, event_shape)
        self.width = 2.0 + bin_width(num_levels)
        self.dim = math.prod(event_shape)

    def loss(self, batch: Tensor) -> Tensor:
        return -self.log_prob(batch).mean()

    def sample(self, n: int, *, generator: torch.Generator | None = None, **options) -> Samples:
        u = torch.rand(n, *self.event_shape, generator=generator)
        return Samples(self.width * (u - 0.5))

    def log_prob(self, x: Tensor) -> Tensor:
        inside = (x.abs() <= self.width / 2).flatten(1).all(1)
        value = torch.full((x.shape[0],), -self.dim * math.log(self.width))
        return torch.where(inside, value, torch.full_like(value, -math.inf))


class _StdNormal(_Uniform):
    def log_prob(self, x: Tensor) -> Tensor:
        return (-0.5 * x**2 - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)


@pytest.mark.parametrize("levels", [17, 256])
def test_uniform_model_gives_log2_levels_bits_per_dim(levels: int) -> None:
    # Every one of the L^D discrete images has probability L^-D under the uniform model,
    # so the exact answer is log2(L) bits per dimension: 4.087 for 17-level digits.
    grid = torch.linspace(-1, 1, levels)
    x = grid[torch.randint(0, levels, (500, 1, 8, 8), generator=torch.Generator().manual_seed(0))]
    result = dataset_nll(_Uniform((1, 8, 8), levels), x, num_levels=levels)
    assert result["bits_per_dim"] == pytest.approx(math.log2(levels), rel=1e-6)
    assert result["nll_nats"] == pytest.approx(64 * math.log(levels), rel=1e-6)
    assert result["dequantized"] and result["kind"] == "exact" and result["dim"] == 64


def test_continuous_nll_matches_the_entropy() -> None:
    x = torch.randn(20_000, 2, generator=torch.Generator().manual_seed(0))
    result = dataset_nll(_StdNormal((2,), 17), x)
    entropy = 1 + math.log(2 * math.pi)  # of N(0, I_2)
    assert result["nll_nats"] == pytest.approx(entropy, abs=4 * result["nll_stderr"])
    assert result["bits_per_dim"] == pytest.approx(result["nll_nats"] / (2 * math.log(2)))
    assert not result["dequantized"]


def test_sample_only_models_have_no_likelihood() -> None:
    model = _Uniform((2,), 17)
    model.likelihood = "none"
    with pytest.raises(NotApplicableError):
        dataset_nll(model, torch.zeros(3, 2))
