"""Two-sample distances against naive float64 formulas and closed forms."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from genmodels.errors import InvalidInputError
from genmodels.metrics import (
    energy_distance,
    median_pairwise_distance,
    mmd2,
    pairwise_means,
    rbf_bandwidths,
    sliced_wasserstein,
)


def naive_mmd2(x, y, bandwidths):
    x, y = x.double(), y.double()

    def k(a, b):
        d2 = torch.cdist(a, b).square()
        return sum(torch.exp(-d2 / (2 * s**2)) for s in bandwidths)

    return float(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())


@pytest.fixture
def xy(generator):
    x = torch.randn(700, 3, generator=generator)
    y = 1.2 * torch.randn(500, 3, generator=generator) + 0.3
    return x, y


@pytest.mark.parametrize("bandwidths", [[0.25, 0.5, 1.0, 2.0], [0.3, 0.7, 1.9]])
def test_mmd2_matches_naive_v_statistic(xy, bandwidths):
    # [0.25, ...] takes the squaring path, [0.3, ...] one exp per bandwidth.
    x, y = xy
    assert mmd2(x, y, bandwidths) == pytest.approx(naive_mmd2(x, y, bandwidths), rel=1e-5)


def test_mmd2_high_dimension_matches_naive(generator):
    x = torch.randn(300, 1, 8, 8, generator=generator)
    y = torch.randn(200, 1, 8, 8, generator=generator) + 0.2
    bw = [4.0, 8.0, 16.0]
    assert mmd2(x, y, bw) == pytest.approx(naive_mmd2(x.flatten(1), y.flatten(1), bw), rel=1e-4)


def test_upper_triangle_equals_full_sum(xy):
    x, _ = xy
    full = pairwise_means(x, x, [0.5, 1.0])
    half = pairwise_means(x, x, [0.5, 1.0], same=True)
    assert half.kernel == pytest.approx(full.kernel, rel=1e-6)
    assert half.distance == pytest.approx(full.distance, rel=1e-6)


def test_mmd2_zero_on_identical_and_grows_with_shift(generator):
    x = torch.randn(1000, 2, generator=generator)
    y = torch.randn(1000, 2, generator=generator)
    bw = rbf_bandwidths(x)
    assert mmd2(x, x, bw) == pytest.approx(0.0, abs=1e-9)
    same = mmd2(x, y, bw)
    assert mmd2(x, y + torch.tensor([1.0, 0.0]), bw) > 20 * same
    assert mmd2(x, 1.5 * y, bw) > 10 * same


def test_energy_distance_is_square_of_scipys_in_1d(generator):
    x = torch.randn(400, 1, generator=generator)
    y = 0.5 * torch.randn(300, 1, generator=generator) + 0.4
    expected = scipy.stats.energy_distance(x[:, 0].numpy(), y[:, 0].numpy()) ** 2
    assert energy_distance(x, y) == pytest.approx(expected, rel=1e-4)
    assert energy_distance(x, x) == pytest.approx(0.0, abs=1e-6)


def test_sliced_wasserstein_1d_is_exact_w1(generator):
    x = torch.randn(500, 1, generator=generator)
    y = 2.0 * torch.randn(500, 1, generator=generator) + 1.0
    expected = scipy.stats.wasserstein_distance(x[:, 0].numpy(), y[:, 0].numpy())
    sw = sliced_wasserstein(x, y, p=1, num_projections=4, generator=generator)
    assert sw == pytest.approx(expected, rel=1e-5)


def test_sliced_wasserstein_unequal_sizes_by_quantiles(generator):
    x = torch.randn(900, 1, generator=generator)
    y = 2.0 * torch.randn(400, 1, generator=generator) + 1.0
    expected = scipy.stats.wasserstein_distance(x[:, 0].numpy(), y[:, 0].numpy())
    sw = sliced_wasserstein(x, y, p=1, num_projections=2, generator=generator)
    assert sw == pytest.approx(expected, rel=0.02)


def test_sliced_wasserstein_of_a_shift(generator):
    # N(0, I) vs N(μ, I) in 2-D: SW₂² = E_θ (θᵀμ)² = ‖μ‖² / 2.
    x = torch.randn(2000, 2, generator=generator)
    y = torch.randn(2000, 2, generator=generator) + torch.tensor([3.0, 0.0])
    sw = sliced_wasserstein(x, y, num_projections=512, generator=generator)
    assert sw == pytest.approx(3.0 / math.sqrt(2.0), rel=0.05)
    assert sliced_wasserstein(x, x, generator=generator) == pytest.approx(0.0, abs=1e-12)


def test_median_pairwise_distance():
    x = torch.tensor(np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]]))
    assert median_pairwise_distance(x) == pytest.approx(5.0)
    assert rbf_bandwidths(x, factors=(1.0, 2.0)).tolist() == pytest.approx([5.0, 10.0])


def test_bad_inputs_raise():
    with pytest.raises(InvalidInputError):
        mmd2(torch.zeros(5, 2), torch.zeros(5, 3), [1.0])
    with pytest.raises(InvalidInputError):
        mmd2(torch.zeros(5, 2), torch.zeros(5, 2), [-1.0])
    with pytest.raises(InvalidInputError):
        rbf_bandwidths(torch.zeros(5, 2))
