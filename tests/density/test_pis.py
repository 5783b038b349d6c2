"""DDS and PIS (genmodels.density.pis): trained on a correlated 2-D Gaussian with a known
normaliser, their resampled draws match its moments and their log Z its truth; every target
evaluation is counted; runs are reproducible; bad settings are refused."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import constraints

from density_targets import LOG_Z, ShiftedGaussian
from genmodels.budget import Budget
from genmodels.catalogue import get_method
from genmodels.density.pis import DDSSettings, PISSettings, run_dds, run_pis
from genmodels.errors import ConfigError, NotApplicableError
from genmodels.targets.base import Target
from genmodels.targets.constraints import ParamBlock

SHORT = {"train_steps": 200, "batch_size": 64, "time_steps": 16, "particles": 4000, "lr": 3e-3}


def _untrained_ess(run, settings_cls) -> float:
    out = run(ShiftedGaussian(), settings_cls(**{**SHORT, "train_steps": 0}), seed=0)
    return out.ess


@pytest.mark.slow  # about 8 s of CPU each
@pytest.mark.parametrize(
    ("run", "settings_cls", "loss"),
    [(run_dds, DDSSettings, "log_variance"), (run_pis, PISSettings, "kl")],
    ids=["dds-log_variance", "pis-kl"],
)
def test_trained_sampler_matches_a_gaussian_and_its_normaliser(run, settings_cls, loss):
    target = ShiftedGaussian()
    out = run(target, settings_cls(**SHORT, loss=loss), seed=0)
    x = out.resample(4000, torch.Generator(out.x.device).manual_seed(1))
    assert torch.allclose(x.mean(0).cpu(), target.mean, atol=0.1)
    assert torch.allclose(torch.cov(x.T).cpu(), target.cov, atol=0.12)
    # the importance-weighted estimate: unbiased for Z, so log Ẑ within a few se of the truth
    assert out.log_z_kind == "unbiased Z"
    assert abs(out.log_z - LOG_Z) < max(4 * out.log_z_se, 0.03)
    # the ELBO is a lower bound, and training brought it close
    assert LOG_Z - 0.3 < out.info["elbo"] < LOG_Z + 0.02
    # training did the work: the untrained sampler (the reference, N(0, σ²)) has ESS/N < 0.1
    assert out.ess > 0.7 > _untrained_ess(run, settings_cls) + 0.5
    assert out.info["train_steps"] == 200 and out.info["stopped_by_budget"] == 0.0


@pytest.mark.parametrize("loss", ["log_variance", "kl"])
def test_every_target_evaluation_is_counted(loss):
    target = ShiftedGaussian()
    s = DDSSettings(train_steps=3, batch_size=8, time_steps=5, particles=20, loss=loss)
    out = run_dds(target, s, seed=0)
    # one gradient per step of every path; one log p̃ at every path's end (a gradient
    # evaluation when KL differentiates through it)
    paths = 3 * 8 + 20
    terminal_grads = 3 * 8 if loss == "kl" else 0
    assert out.cost.grad_evals == paths * 5 + terminal_grads
    assert out.cost.density_evals == paths - terminal_grads
    assert out.cost.target_evals == target.rows  # what the target itself saw
    assert out.info["train_target_evals"] == 3 * 8 * 6


def test_same_seed_same_draws_other_seed_other_draws():
    s = DDSSettings(train_steps=5, batch_size=16, time_steps=6, particles=50)
    a, b = run_dds(ShiftedGaussian(), s, seed=3), run_dds(ShiftedGaussian(), s, seed=3)
    c = run_dds(ShiftedGaussian(), s, seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(a.log_w, b.log_w)
    assert not torch.equal(a.x, c.x)


def test_an_expired_budget_stops_training_but_still_draws():
    out = run_dds(ShiftedGaussian(), DDSSettings(time_steps=4, particles=30), budget=Budget(0.0))
    assert out.info["train_steps"] == 0 and out.info["stopped_by_budget"] == 1.0
    assert out.x.shape == (30, 2) and torch.isfinite(out.log_w).all()
    # untrained, the sampler is the reference: log w = log p̃ − log N(0, σ²) exactly, so
    # log Ẑ is plain importance sampling from N(0, I)
    ref = torch.distributions.Normal(0.0, 1.0).log_prob(out.x).sum(-1)
    expected = ShiftedGaussian().log_prob(out.x) - ref
    assert torch.allclose(out.log_w, expected, atol=1e-4)


def test_both_are_in_the_density_camp():
    assert get_method("dds", "density").build is run_dds
    assert get_method("pis", "density").settings is PISSettings
    assert PISSettings().reference == "brownian" and DDSSettings().reference == "ou"


def test_a_target_without_density_is_not_applicable():
    class OnlySamples(Target):
        kind = "toy2d"
        event_shape = (2,)

        def sample(self, n, generator=None):
            return torch.zeros(n, 2)

    with pytest.raises(NotApplicableError, match="no density"):
        run_dds(OnlySamples(), DDSSettings(train_steps=1, time_steps=2, particles=4))


@pytest.mark.parametrize(
    "bad",
    [
        {"train_steps": -1},
        {"batch_size": 1},
        {"time_steps": 0},
        {"particles": 1.5},
        {"sigma": 0.0},
        {"noise_total": -1.0},
        {"lr": math.nan},
        {"score_clip": math.inf},
        {"loss": "forward_kl"},
        {"reference": "vp"},
        {"width": 1},
    ],
    ids=lambda bad: next(iter(bad)),
)
def test_bad_settings_are_refused(bad):
    with pytest.raises(ConfigError):
        DDSSettings(**bad)


class PositiveScale(Target):
    """(μ, τ) with μ ~ N(0, 1) and τ ~ Exponential(2) unnormalised: p̃ = e^{−μ²/2 − 2τ} on
    τ > 0, Z = √(2π) / 2. The sampler runs in unconstrained space (log τ) with the Jacobian,
    which keeps Z; its draws come back with τ > 0."""

    kind = "posterior"
    event_shape = (2,)
    params = (ParamBlock("mu"), ParamBlock("tau", support=constraints.positive))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return -0.5 * x[..., 0] ** 2 - 2.0 * x[..., 1]


@pytest.mark.slow  # about 8 s of CPU
def test_a_constrained_target_is_sampled_in_unconstrained_space():
    out = run_dds(PositiveScale(), DDSSettings(**SHORT), seed=0)
    assert (out.x[:, 1] > 0).all()
    assert abs(out.log_z - math.log(math.sqrt(2 * math.pi) / 2)) < max(4 * out.log_z_se, 0.03)
    x = out.resample(4000, torch.Generator(out.x.device).manual_seed(1))
    assert abs(float(x[:, 1].mean()) - 0.5) < 0.05  # E τ = 1/2
