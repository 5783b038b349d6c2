"""iDEM (`genmodels.density.idem`): the Monte Carlo noised score against its closed form, the
trained sampler against a Gaussian's moments and normaliser, cost, seeds, budget, settings."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.budget import Budget
from genmodels.catalogue import get_method
from genmodels.density.idem import (
    DEFAULT_SIGMA_MAX,
    IDEMSettings,
    clip_norm,
    mc_score_estimate,
    run_idem,
    sigma_max_for,
)
from genmodels.errors import ConfigError, NotApplicableError
from genmodels.mcmc.base import LogDensity
from genmodels.targets.base import Target, get_target

MU = torch.tensor([2.0, -1.0])
L = torch.tensor([[1.0, 0.0], [0.8, 0.6]])  # Σ = L Lᵀ = [[1, 0.8], [0.8, 1]]
LOG_NORMALISER = 3.0  # log p̃ = log N(x; μ, Σ) + 3: log Z = 3


class Gaussian(Target):
    """N(μ, Σ) known up to its normaliser, correlated and off the origin."""

    name = "gaussian"
    kind = "vector"
    event_shape = (2,)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.linalg.solve_triangular(L.to(x), (x - MU.to(x)).T, upper=False).T
        log_det = float(torch.log(torch.det(L)))
        return -0.5 * z.square().sum(-1) - math.log(2 * math.pi) - log_det + LOG_NORMALISER


def exact_noised_score(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """∇ log (N(μ, Σ) * N(0, σ² I))(x) = −(Σ + σ² I)⁻¹ (x − μ)."""
    cov = L @ L.T + sigma**2 * torch.eye(2)
    return -(x - MU) @ torch.linalg.inv(cov)


def _points(sigma: float, n: int, seed: int) -> torch.Tensor:
    """Draws of the noised Gaussian, where the estimate is used."""
    cov = L @ L.T + sigma**2 * torch.eye(2)
    z = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    return MU + z @ torch.linalg.cholesky(cov).T


@pytest.mark.parametrize("blend_scale", [None, 1.0], ids=["paper", "blend"])
@pytest.mark.parametrize(("sigma", "num_mc", "tol"), [(0.05, 64, 0.03), (3.0, 100_000, 0.1)])
def test_mc_score_estimate_is_the_noised_score(sigma, num_mc, tol, blend_scale):
    # small σ: a few draws suffice (S_K → ∇ log p̃); large σ: the self-normalised estimate
    # is consistent, so many draws bring it to the closed form (uniform weights, i.e. a
    # plain mean of the gradients, stay far off: −Σ⁻¹(x − μ) instead of −(Σ + σ²I)⁻¹(x − μ))
    x = _points(sigma, 8, seed=1)
    density = LogDensity(Gaussian().log_prob, (2,))
    s = mc_score_estimate(
        density, x, torch.full((8,), sigma), num_mc, torch.Generator().manual_seed(2),
        blend_scale=blend_scale,
    )  # fmt: skip
    exact = exact_noised_score(x, sigma)
    rel = float((s - exact).norm(dim=1).mean() / exact.norm(dim=1).mean())
    assert rel < tol, rel


def test_the_blend_cuts_the_large_noise_error_at_small_k():
    # K = 32 at σ = 10: the paper's estimate is dominated by one draw's gradient, orders of
    # magnitude above the true score; blended with Tweedie's form it stays close
    x = _points(10.0, 400, seed=3)
    density = LogDensity(Gaussian().log_prob, (2,))
    exact = exact_noised_score(x, 10.0)
    errors = {}
    for blend in (None, 1.0):
        s = mc_score_estimate(
            density, x, torch.full((400,), 10.0), 32, torch.Generator().manual_seed(4),
            blend_scale=blend,
        )  # fmt: skip
        errors[blend] = float((s - exact).norm(dim=1).mean() / exact.norm(dim=1).mean())
    assert errors[1.0] < 0.8 < 5 < errors[None], errors


def test_clip_norm_rescales_only_long_rows():
    v = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    assert torch.allclose(clip_norm(v, 1.0), torch.tensor([[0.6, 0.8], [0.3, 0.4]]))
    assert clip_norm(v, None) is v


SMALL = dict(
    train_steps=300, inner_steps=50, batch_size=128, num_mc=32, samples_per_round=500,
    sde_steps=100, sigma_max=10.0, lr=1e-3, particles=1000,
)  # fmt: skip


@pytest.mark.slow
def test_reverse_sde_draws_match_the_gaussian():
    run = run_idem(Gaussian(), IDEMSettings(**SMALL, output="sde"), seed=0)
    x = run.x
    assert math.isnan(run.log_z) and run.ess == pytest.approx(1.0)
    assert torch.allclose(x.mean(0), MU, atol=0.35), x.mean(0)
    assert torch.allclose(torch.cov(x.T), L @ L.T, atol=0.3), torch.cov(x.T)
    assert run.cost.grad_evals == 300 * 128 * 32 and run.cost.density_evals == 0


@pytest.mark.slow
def test_pf_ode_importance_sampling_gives_log_z_and_the_moments():
    run = run_idem(Gaussian(), IDEMSettings(**SMALL), seed=0)
    assert run.log_z_kind.startswith("unbiased Z")
    assert abs(run.log_z - LOG_NORMALISER) < 0.6, (run.log_z, run.log_z_se)
    assert run.ess > 0.2
    x = run.resample(4000, torch.Generator().manual_seed(1))
    assert torch.allclose(x.mean(0), MU, atol=0.3), x.mean(0)
    assert torch.allclose(torch.cov(x.T), L @ L.T, atol=0.3), torch.cov(x.T)
    assert run.cost.density_evals == 1000  # one per proposal, beside the training's gradients
    assert run.info["train_steps"] == 300 and run.train_seconds <= run.seconds


TINY = dict(train_steps=12, inner_steps=5, batch_size=16, num_mc=4, samples_per_round=32,
            sde_steps=10, sigma_max=5.0, particles=64)  # fmt: skip


@pytest.mark.parametrize("output", ["sde", "importance"])
def test_a_seed_fixes_the_run(output):
    settings = IDEMSettings(**TINY, output=output)
    a, b = (run_idem(Gaussian(), settings, seed=3) for _ in range(2))
    c = run_idem(Gaussian(), settings, seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(a.log_w, b.log_w)
    assert not torch.equal(a.x, c.x)
    assert a.cost.grad_evals == 12 * 16 * 4  # K per point of every batch
    assert a.info["rounds"] == 3  # 5 + 5 + 2 steps


def test_an_expired_budget_still_trains_one_step_and_draws():
    run = run_idem(Gaussian(), IDEMSettings(**TINY, output="sde"), budget=Budget(0.0))
    assert run.info["train_steps"] == 1 and run.info["stopped_by_budget"]
    assert run.x.shape == (64, 2) and torch.isfinite(run.x).all()


def test_registered_in_the_density_camp():
    spec = get_method("idem", "density")
    assert spec.build is run_idem and spec.settings is IDEMSettings


@pytest.mark.parametrize(
    "bad",
    [
        {"num_mc": 0},
        {"sigma_max": 0.005},  # below sigma_min
        {"sigma_min": -1.0},
        {"max_score_norm": 0.0},
        {"blend_scale": -1.0},
        {"output": "both"},
        {"divergence": "none"},
        {"buffer_size": 10, "batch_size": 20},
        {"lr": float("nan")},
    ],
)
def test_bad_settings_are_refused(bad):
    with pytest.raises(ConfigError):
        IDEMSettings(**bad)


def test_a_target_without_density_is_not_applicable():
    class SamplesOnly(Target):
        name, kind, event_shape = "samples_only", "vector", (2,)

        def sample(self, n, generator=None):
            return torch.zeros(n, 2)

    with pytest.raises(NotApplicableError):
        run_idem(SamplesOnly(), IDEMSettings(**TINY))


def _exact_draws(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n draws of N(μ, Σ) with their exact log-density: a perfect PF-ODE (log w = log Z)."""
    x = MU + torch.randn(n, 2, generator=torch.Generator().manual_seed(5)) @ L.T
    return x, Gaussian().log_prob(x) - LOG_NORMALISER


def test_a_diverged_pf_ode_draw_gets_weight_zero(monkeypatch):
    # a perfect proposal but for three draws: x not finite, log q absurdly low (which alone
    # would carry all the weight: log w ≈ 1e30), log q not finite; each gets weight 0
    def draws(score, sde, z, **_):
        x, log_q = _exact_draws(z.shape[0])
        x[0] = math.inf
        log_q[1], log_q[2] = -1e30, math.nan
        return x, log_q, 1

    monkeypatch.setattr("genmodels.density.idem.pf_ode_draws", draws)
    run = run_idem(Gaussian(), IDEMSettings(**TINY), seed=0)
    assert run.info["diverged"] == 3 and run.info["zero_weight"] == 3
    assert (run.log_w[:3] == -math.inf).all() and torch.isfinite(run.log_w[3:]).all()
    assert run.log_w.dtype == torch.float64
    assert run.log_z == pytest.approx(LOG_NORMALISER + math.log(61 / 64), abs=1e-5)
    assert run.ess == pytest.approx(61 / 64, abs=1e-6)
    assert run.cost.density_evals == 61  # the target is not evaluated at diverged draws


class Overflowing(Gaussian):
    """log p̃ = −inf at every draw (float32 overflow far out, as the funnel's e^{v/2} at
    v > 177): `LogDensity` maps −inf to float32's lowest number."""

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return 0 * x.sum(-1) - math.inf  # differentiable, as training needs


def test_all_weights_zero_give_log_z_minus_inf_not_the_float_minimum(monkeypatch):
    monkeypatch.setattr(
        "genmodels.density.idem.pf_ode_draws", lambda s, sde, z, **_: (*_exact_draws(z.shape[0]), 1)
    )
    run = run_idem(Overflowing(), IDEMSettings(**TINY), seed=0)
    assert run.log_z == -math.inf and run.ess == 0.0
    assert run.info["zero_weight"] == 64 and run.info["diverged"] == 0


def test_sigma_max_defaults_to_the_targets_spread():
    funnel = get_target("funnel")  # spread 3
    assert sigma_max_for(IDEMSettings(), funnel) == 3.0
    assert sigma_max_for(IDEMSettings(sigma_max=7.0), funnel) == 7.0
    assert sigma_max_for(IDEMSettings(), Gaussian()) == DEFAULT_SIGMA_MAX  # states no spread
    with pytest.raises(ConfigError, match="sigma_max"):
        sigma_max_for(IDEMSettings(sigma_min=5.0), funnel)
