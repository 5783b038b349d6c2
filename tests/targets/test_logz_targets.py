"""The targets with a known normaliser: log Z checked numerically, exact samples checked
against the density, by means independent of the code under test (quadrature, importance
sampling with proposals built from torch.distributions, scipy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from genmodels.density import log_z_estimate
from genmodels.metrics import mode_weight_tv, modes_covered
from genmodels.targets import get_target
from genmodels.targets.logz import double_well_log_z, gmm40_means
from genmodels.targets.posteriors import Funnel

LOG_2PI = math.log(2 * math.pi)


def _log_trapezoid_2d(log_f: torch.Tensor, hx: float, hy: float) -> float:
    """log of the 2-D trapezoid rule of exp(log_f) on a regular grid ``[nx, ny]``."""
    wx = torch.full((log_f.shape[0],), hx, dtype=torch.float64)
    wy = torch.full((log_f.shape[1],), hy, dtype=torch.float64)
    wx[[0, -1]] /= 2
    wy[[0, -1]] /= 2
    log_w = wx.log()[:, None] + wy.log()[None, :]
    return float(torch.logsumexp((log_f + log_w).reshape(-1), 0))


# ---------------------------------------------------------------- funnel


def test_funnel_log_z_is_zero_by_quadrature_in_2d():
    """funnel is normalised (`log_z` 0): ∫∫ p(v, x) on a grid in (v, u = x e^{−v/2})."""
    target = Funnel(dim=2)
    assert target.log_z == 0.0 and get_target("funnel").log_z == 0.0
    v = torch.linspace(-30, 30, 1201, dtype=torch.float64)
    u = torch.linspace(-12, 12, 1201, dtype=torch.float64)
    scale = (v / 2).exp()
    points = torch.stack(torch.broadcast_tensors(v[:, None], u[None, :] * scale[:, None]), -1)
    log_f = target.log_prob(points) + scale.log()[:, None]  # dx = e^{v/2} du
    assert _log_trapezoid_2d(log_f, float(v[1] - v[0]), float(u[1] - u[0])) == pytest.approx(
        0.0, abs=1e-6
    )


def test_funnel_10d_log_z_by_importance_sampling():
    """In 10-D, importance sampling from a wider funnel written with torch.distributions."""
    target = get_target("funnel")
    g = torch.Generator().manual_seed(0)
    n = 200_000
    v = 3.3 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    x = 1.3 * (v / 2).exp() * torch.randn(n, 9, generator=g, dtype=torch.float64)
    q = torch.distributions.Normal(0.0, 3.3).log_prob(v[:, 0]) + torch.distributions.Normal(
        0.0, 1.3 * (v / 2).exp()
    ).log_prob(x).sum(-1)
    log_z, se = log_z_estimate(target.log_prob(torch.cat([v, x], -1)) - q)
    assert se < 0.02
    assert abs(log_z - target.log_z) < 4 * se


# ---------------------------------------------------------------- gmm40


def _gmm_reference(means: torch.Tensor) -> torch.distributions.Distribution:
    """The normalised mixture of N(μₖ, I), equal weights, from torch.distributions."""
    k, d = means.shape
    components = torch.distributions.Independent(
        torch.distributions.Normal(means.double(), torch.ones(k, d, dtype=torch.float64)), 1
    )
    return torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.ones(k, dtype=torch.float64)), components
    )


@pytest.mark.parametrize("name, dim", [("gmm40_2d", 2), ("gmm40_50d", 50)])
def test_gmm40_definition(name, dim):
    target = get_target(name)
    assert target.event_shape == (dim,) and not target.normalized
    assert target.log_z == pytest.approx(math.log(40) + 0.5 * dim * LOG_2PI, abs=1e-12)
    # fixed means, uniform on the box [−40, 40]^d, the same on every build
    torch.testing.assert_close(target.means, get_target(name).means)
    torch.testing.assert_close(target.means, gmm40_means(dim))
    assert target.means.abs().max() <= 40 and target.means.abs().max() > 30
    assert target.modes is not None and target.modes.k == 40
    # log p̃ − log Z is the normalised mixture's log-density, also near the modes and far out
    x = target.means[:5].double() + torch.randn(5, dim, generator=torch.Generator().manual_seed(1))
    x = torch.cat([x, torch.full((1, dim), 50.0, dtype=torch.float64)])
    torch.testing.assert_close(
        target.log_prob(x) - target.log_z, _gmm_reference(target.means).log_prob(x)
    )
    # float32 keeps the distance to the nearest mean accurate far from the origin
    torch.testing.assert_close(
        target.log_prob(x.float()).double(), target.log_prob(x), rtol=1e-6, atol=1e-4
    )


def test_gmm40_2d_log_z_by_quadrature():
    target = get_target("gmm40_2d")
    grid = torch.linspace(-48, 48, 961, dtype=torch.float64)  # h = 0.1; means within ±40
    points = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), -1)
    log_f = torch.cat([target.log_prob(chunk) for chunk in points.split(100)])
    h = float(grid[1] - grid[0])
    assert _log_trapezoid_2d(log_f, h, h) == pytest.approx(target.log_z, abs=1e-6)


def test_gmm40_50d_log_z_by_importance_sampling():
    """A proposal of wider components (torch.distributions), not the target itself."""
    target = get_target("gmm40_50d")
    k, d = target.means.shape
    g = torch.Generator().manual_seed(0)
    n = 40_000
    index = torch.randint(k, (n,), generator=g)
    x = target.means.double()[index] + 1.02 * torch.randn(n, d, generator=g, dtype=torch.float64)
    proposal = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.ones(k, dtype=torch.float64)),
        torch.distributions.Independent(
            torch.distributions.Normal(target.means.double(), torch.full((k, d), 1.02).double()),
            1,
        ),
    )
    log_z, se = log_z_estimate(target.log_prob(x) - proposal.log_prob(x))
    assert se < 0.01
    assert abs(log_z - target.log_z) < 4 * se


@pytest.mark.parametrize("name", ["gmm40_2d", "gmm40_50d"])
def test_gmm40_exact_samples(name):
    """Moments of the mixture (mean of the means; variance 1 + spread of the means), every
    mode covered with its weight, samples on the generator's device."""
    target = get_target(name)
    n = 20_000
    x = target.sample(n, torch.Generator().manual_seed(3))
    means = target.means.double()
    var = 1 + means.var(0, correction=0)
    assert ((x.double().mean(0) - means.mean(0)).abs() < 4.5 * (var / n).sqrt()).all()
    torch.testing.assert_close(x.double().var(0), var, rtol=0.06, atol=0)
    assert modes_covered(x, target.modes) == 40
    assert mode_weight_tv(x, target.modes) < 0.03
    # a sample from one mode only is caught by the same metrics
    one = target.means[:1] + torch.randn(1000, target.dim, generator=torch.Generator())
    assert modes_covered(one, target.modes) == 1 and mode_weight_tv(one, target.modes) > 0.9


# ---------------------------------------------------------------- many-well


def _well(x):
    return np.exp(-(x**4) + 6 * x**2 + 0.5 * x)


def test_manywell_log_z_by_scipy_quadrature():
    target = get_target("manywell_32d")
    z1, err = integrate.quad(_well, -np.inf, np.inf, epsabs=0, epsrel=1e-12, limit=200)
    assert err / z1 < 1e-10
    expected = 16 * (math.log(z1) + 0.5 * LOG_2PI)
    assert target.log_z == pytest.approx(expected, abs=1e-6)
    assert double_well_log_z() == pytest.approx(math.log(z1) + 0.5 * LOG_2PI, abs=1e-9)
    # the value reported by Midgley et al. (2023) and Blessing et al. (2024)
    assert target.log_z == pytest.approx(164.69568, abs=1e-4)


def test_manywell_density_factorises_into_double_wells():
    target = get_target("manywell_32d")
    assert target.event_shape == (32,) and not target.normalized and target.modes is None
    x = torch.randn(7, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a, b = x.reshape(7, 16, 2).unbind(-1)
    expected = (-(a**4) + 6 * a**2 + 0.5 * a - 0.5 * b**2).sum(-1)
    torch.testing.assert_close(target.log_prob(x), expected)
    # the closed-form score is autograd's
    with torch.enable_grad():
        xg = x.clone().requires_grad_(True)
        (auto,) = torch.autograd.grad(target.log_prob(xg).sum(), xg)
    torch.testing.assert_close(target.score(x), auto)


def test_manywell_log_z_by_importance_sampling():
    """32-D importance sampling, each double well proposed by a two-Gaussian mixture."""
    target = get_target("manywell_32d")
    g = torch.Generator().manual_seed(0)
    n = 100_000
    side = torch.where(torch.rand(n, 16, generator=g) < 0.85, 1.7, -1.66).double()
    well = side + 0.3 * torch.randn(n, 16, generator=g, dtype=torch.float64)
    gauss = torch.randn(n, 16, generator=g, dtype=torch.float64)
    normal = torch.distributions.Normal
    log_q_well = torch.logsumexp(
        torch.stack(
            [
                math.log(0.85) + normal(1.7, 0.3).log_prob(well),
                math.log(0.15) + normal(-1.66, 0.3).log_prob(well),
            ]
        ),
        0,
    )
    log_q = log_q_well.sum(-1) + normal(0.0, 1.0).log_prob(gauss).sum(-1)
    x = torch.stack([well, gauss], -1).reshape(n, 32)
    log_z, se = log_z_estimate(target.log_prob(x) - log_q)
    assert se < 0.03
    assert abs(log_z - target.log_z) < 4 * se


def test_manywell_exact_samples_match_the_density():
    """KS test of every double-well coordinate against the CDF by scipy quadrature; moments
    against quadrature; the Gaussian coordinates standard normal; the deep-well share."""
    target = get_target("manywell_32d")
    x = target.sample(20_000, torch.Generator().manual_seed(5)).double().numpy()
    z1 = integrate.quad(_well, -np.inf, np.inf, epsrel=1e-12)[0]
    knots = np.linspace(-4, 4, 4001)
    cdf = np.concatenate([[0.0], integrate.cumulative_trapezoid(_well(knots), knots)]) / z1
    m1 = integrate.quad(lambda t: t * _well(t), -np.inf, np.inf)[0] / z1
    m2 = integrate.quad(lambda t: t * t * _well(t), -np.inf, np.inf)[0] / z1
    pvalues = [stats.kstest(x[:, 2 * i], lambda t: np.interp(t, knots, cdf)).pvalue for i in (0, 7)]
    assert min(pvalues) > 1e-3
    wells, gauss = x[:, 0::2], x[:, 1::2]
    assert abs(wells.mean() - m1) < 0.02 and abs(wells.var() - (m2 - m1**2)) < 0.02
    assert abs(gauss.mean()) < 0.01 and abs(gauss.var() - 1) < 0.01
    share = float(target.well_signs(torch.as_tensor(x)).double().mean())
    assert share == pytest.approx(1 - np.interp(0.0, knots, cdf), abs=0.005)
    assert target.deep_well_share == pytest.approx(1 - np.interp(0.0, knots, cdf), abs=1e-4)
    # a sampler stuck in one well per coordinate is far from it
    assert stats.kstest(np.abs(x[:, 0]), lambda t: np.interp(t, knots, cdf)).pvalue < 1e-6


@pytest.mark.parametrize("name", ["gmm40_2d", "gmm40_50d", "manywell_32d", "funnel"])
def test_draws_follow_the_generator_and_are_reproducible(name):
    target = get_target(name)
    a = target.sample(50, torch.Generator().manual_seed(9))
    b = target.sample(50, torch.Generator().manual_seed(9))
    assert a.shape == (50, target.dim) and a.dtype == torch.float32
    torch.testing.assert_close(a, b)
    assert torch.isfinite(target.log_prob(a)).all()
