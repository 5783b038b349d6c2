"""Conversions, schedules, SDEs and losses: identities that must hold exactly."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.diffusion import parameterization as P
from genmodels.diffusion.losses import (
    denoising_loss,
    dsm_loss,
    flow_matching_loss,
    minibatch_ot_pairing,
    sliced_score_matching_loss,
)
from genmodels.diffusion.schedules import DiscreteSchedule, geometric_sigmas, karras_sigmas
from genmodels.diffusion.sde import VESDE, VPSDE, SubVPSDE


def test_conversions_round_trip(generator):
    x0, eps = torch.randn(2, 16, 3, generator=generator)
    alpha, sigma = torch.rand(16, generator=generator) + 0.1, torch.rand(16, generator=generator)
    x_t = P.append_dims(alpha, 2) * x0 + P.append_dims(sigma, 2) * eps
    v = P.x0_to_v(x_t, x0, alpha, sigma)
    torch.testing.assert_close(P.eps_to_x0(x_t, eps, alpha, sigma), x0)
    torch.testing.assert_close(P.x0_to_eps(x_t, x0, alpha, sigma), eps)
    torch.testing.assert_close(P.v_to_x0(x_t, v, alpha, sigma), x0)
    torch.testing.assert_close(P.v_to_eps(x_t, v, alpha, sigma), eps)
    torch.testing.assert_close(P.score_to_eps(P.eps_to_score(eps, sigma), sigma), eps)
    # EDM view: x̂ = x_t/α, σ̂ = σ/α; the score of x̂ from D = x₀ is −ε/σ̂
    x_hat, s_hat = x_t / P.append_dims(alpha, 2), sigma / alpha
    torch.testing.assert_close(P.denoiser_to_score(x_hat, x0, s_hat), P.eps_to_score(eps, s_hat))


def test_schedules():
    lin = DiscreteSchedule.linear(1000)
    assert lin.alphas_cumprod[-1] == pytest.approx(4.0358e-05, rel=1e-3)
    cos = DiscreteSchedule.cosine(1000)
    assert cos.alphas_cumprod[0] > 0.9999 and cos.alphas_cumprod[-1] < 1e-8
    assert lin.timesteps(10).tolist() == list(range(900, -1, -100))
    assert lin.timesteps(10, "trailing").tolist()[0] == 999
    t = torch.tensor([0.0, 17.0, 500.0, 999.0])
    torch.testing.assert_close(lin.sigma_hat_to_t(lin.sigmas_hat[t.long()].float()), t)
    s = karras_sigmas(10, 0.002, 80.0)
    assert s[0] == pytest.approx(80.0) and s[-2] == pytest.approx(0.002) and s[-1] == 0
    assert bool((s[:-1].diff() < 0).all())
    g = geometric_sigmas(10, 0.002, 80.0)  # uniform in log σ: one constant ratio
    assert g[0] == pytest.approx(80.0) and g[-2] == pytest.approx(0.002) and g[-1] == 0
    ratios = g[1:-1] / g[:-2]
    torch.testing.assert_close(ratios, torch.full_like(ratios, (0.002 / 80.0) ** (1 / 9)))


def test_ode_grid_starts_at_most_at_edm_sigma_max():
    """A linear-β DDPM reaches σ̂ ≈ 157; its ODE grids start at 80 with x̂ of std √(80² + 1).
    dpmpp_2m uses the log-SNR grid by default, Heun the DDPM's timestep spacing."""
    from genmodels.diffusion.methods import DDPM
    from genmodels.errors import InvalidInputError

    model = DDPM(DDPM.Config(width=8, depth=1), (2,))
    process = model.process
    assert process.sigma_hat_max > 150
    for schedule in ("karras", "logsnr"):
        s = process.sigmas(6, schedule)
        assert s[0] == pytest.approx(80.0) and s[-2] == pytest.approx(process.sigma_hat_min)
    assert process.start_std_hat(80.0) == pytest.approx(math.sqrt(80.0**2 + 1))
    assert process.start_std_hat(process.sigma_hat_max) == pytest.approx(process.prior_std_hat)
    with pytest.raises(InvalidInputError, match="karras, logsnr"):
        process.sigmas(6, "cosine")

    def draw(**options):
        return model.sample(3, generator=torch.Generator().manual_seed(0), steps=5, **options).x

    default = draw(sampler="dpmpp_2m")
    torch.testing.assert_close(default, draw(sampler="dpmpp_2m", grid="logsnr"))
    assert not torch.allclose(default, draw(sampler="dpmpp_2m", grid="karras"))
    heun = draw(sampler="heun")  # Heun: the DDPM's own timestep spacing
    torch.testing.assert_close(heun, draw(sampler="heun", grid=model.config.spacing))
    assert not torch.allclose(heun, draw(sampler="heun", grid="karras"))


@pytest.mark.parametrize("sde", [VPSDE(), SubVPSDE(), VESDE(0.01, 50.0)])
def test_sde_marginals_match_the_sde(sde):
    """d/dt log α_t = f and d/dt σ_t² = 2 f σ_t² + g² (drift f·x): the kernel solves the SDE."""
    t = torch.linspace(0.05, 0.95, 7, dtype=torch.float64)
    h = 1e-5
    (a_p, s_p), (a_m, s_m) = sde.marginal(t + h), sde.marginal(t - h)
    s = sde.marginal(t)[1]
    f = sde.drift(torch.ones(7, 1, dtype=torch.float64), t)[:, 0]
    torch.testing.assert_close((a_p.log() - a_m.log()) / (2 * h), f, rtol=1e-4, atol=1e-6)
    g2 = sde.diffusion(t) ** 2
    torch.testing.assert_close((s_p**2 - s_m**2) / (2 * h), 2 * f * s**2 + g2, rtol=1e-4, atol=1e-6)
    # σ̂ ↔ t is a bijection
    torch.testing.assert_close(sde.sigma_hat_to_t(sde.sigma_hat(t)), t)


def test_eps_loss_is_twice_dsm_with_sigma_squared_weighting(generator):
    """Ho et al. 2020: L_simple = ‖ε̂ − ε‖² = σ² ‖s + ε/σ‖² for s = −ε̂/σ, i.e. 2 × DSM(λ = σ²)."""
    net = torch.nn.Linear(3, 2)
    eps_net = lambda x, c: net(torch.cat([x, c[:, None]], 1))  # noqa: E731
    x0, eps = torch.randn(2, 64, 2, generator=generator)
    schedule = DiscreteSchedule.linear()
    t = torch.randint(0, 1000, (64,), generator=generator)
    alpha, sigma = (c.float() for c in schedule.alpha_sigma(t))
    l_eps = denoising_loss(eps_net, x0, alpha, sigma, t.float(), eps=eps)
    score = lambda x, c: P.eps_to_score(eps_net(x, c), sigma)  # noqa: E731
    l_dsm = dsm_loss(score, x0, sigma, t.float(), alpha=alpha, eps=eps)
    torch.testing.assert_close(l_eps, 2 * l_dsm)
    # and x₀/v parameterisations reach zero loss exactly at the truth
    x_t = P.append_dims(alpha, 2) * x0 + P.append_dims(sigma, 2) * eps
    v_true = P.x0_to_v(x_t, x0, alpha, sigma)
    lookup = {id(x_t): v_true}
    assert (
        float(
            denoising_loss(
                lambda x, c: lookup.get(id(x), v_true),
                x0,
                alpha,
                sigma,
                t.float(),
                parameterization="v",
                eps=eps,
            )
        )
        < 1e-10
    )


def test_sliced_score_matching_is_minimised_by_the_true_score(generator):
    x = 2.0 * torch.randn(4096, 2, generator=generator)  # N(0, 4 I): score −x/4
    true = sliced_score_matching_loss(lambda x: -x / 4, x, generator=generator).detach()
    wrong = sliced_score_matching_loss(lambda x: -x / 2, x, generator=generator).detach()
    assert float(true) == pytest.approx(-0.5 * 2 / 4, abs=0.02)  # −½ E‖s‖² = −d/(2·4)
    assert float(wrong) > float(true) + 0.2


@pytest.mark.slow  # importing POT takes ~10 s on a loaded machine
def test_flow_matching_loss_and_ot_pairing(generator):
    x0 = torch.randn(64, 2, generator=generator)
    eps = torch.randn(64, 2, generator=generator)
    paired = minibatch_ot_pairing(x0, eps)
    assert sorted(paired[:, 0].tolist()) == sorted(eps[:, 0].tolist())  # a permutation
    assert (x0 - paired).square().sum() < (x0 - eps).square().sum()  # lower transport cost
    t = torch.rand(64, generator=generator)
    # the conditional velocity u_t = ε − x₀ gives zero loss on its own pairs
    u = eps - x0
    assert float(flow_matching_loss(lambda x, t: u, x0, t=t, eps=eps)) == pytest.approx(0.0)
    assert math.isfinite(float(flow_matching_loss(lambda x, t: u, x0, coupling="ot")))
