import math

import pytest
import torch

from genmodels.targets import get_target
from genmodels.targets.unconstrained import unconstrained


def test_funnel_moments_and_normalised_density():
    target = get_target("funnel")
    assert target.event_shape == (10,)
    x = target.sample(200_000, torch.Generator().manual_seed(0))
    assert x[:, 0].var().item() == pytest.approx(9.0, rel=0.02)
    assert x[:, 0].mean().item() == pytest.approx(0.0, abs=0.03)
    # density equals the product of its conditionals from torch.distributions
    v = x[:100, 0]
    ref = torch.distributions.Normal(0, 3).log_prob(v) + torch.distributions.Normal(
        0, (v / 2).exp()[:, None]
    ).log_prob(x[:100, 1:]).sum(-1)
    torch.testing.assert_close(target.log_prob(x[:100]), ref)
    assert target.param_names()[0] == "v"


def test_illconditioned_gaussian():
    target = get_target("gaussian_100d_illcond")
    eig = torch.linalg.eigvalsh(target.covariance.double())
    assert eig.max() / eig.min() >= 999
    x = target.sample(50_000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(x.var(0), target.variance, rtol=0.05, atol=1e-3)
    ref = torch.distributions.MultivariateNormal(
        torch.zeros(100, dtype=torch.float64), target.covariance.double()
    )
    xd = x[:5]
    torch.testing.assert_close(
        target.log_prob(xd).double(), ref.log_prob(xd.double()), rtol=1e-4, atol=1e-3
    )
    torch.testing.assert_close(target.score(xd), get_target("gaussian_100d_illcond").score(xd))


def test_illconditioned_gaussian_rotation_is_fixed():
    a, b = get_target("gaussian_100d_illcond"), get_target("gaussian_100d_illcond")
    torch.testing.assert_close(a.covariance, b.covariance)


def test_logreg_posterior():
    target = get_target("logreg_breast_cancer")
    assert target.event_shape == (31,) and not target.normalized and not target.has_samples
    assert target.param_names()[0] == "intercept" and len(target.param_names()) == 31
    beta = torch.zeros(4, 31)
    # at β = 0 every likelihood term is log ½; prior term is 0
    assert target.log_prob(beta)[0].item() == pytest.approx(569 * math.log(0.5), rel=1e-5)
    beta = 0.1 * torch.randn(3, 31, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    g = target.score(beta)
    e = torch.zeros_like(beta)
    e[:, 5] = 1e-6
    fd = (target.log_prob(beta + e) - target.log_prob(beta - e)) / 2e-6
    torch.testing.assert_close(g[:, 5], fd, rtol=1e-4, atol=1e-4)


def test_eight_schools_parametrisations_agree():
    """p_nc(μ, log τ, θ̃) = p_c(μ, log τ, μ + τθ̃) · τ⁸ (change of variables θ = μ + τθ̃)."""
    centered, noncentered = get_target("eight_schools"), get_target("eight_schools_noncentered")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 10, generator=g, dtype=torch.float64)
    mu, log_tau, z = x[:, 0], x[:, 1], x[:, 2:]
    theta = mu[:, None] + log_tau.exp()[:, None] * z
    xc = torch.cat([x[:, :2], theta], -1)
    # the chains' densities, on the unconstrained (μ, log τ, θ or θ̃)
    lp_nc, lp_c = unconstrained(noncentered).log_prob, unconstrained(centered).log_prob
    torch.testing.assert_close(lp_nc(x), lp_c(xc) + 8 * log_tau)
    assert centered.param_names()[2] == "theta[0]"
    assert noncentered.param_names()[2] == "theta_tilde[0]"
