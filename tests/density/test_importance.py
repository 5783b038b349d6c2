"""Importance-corrected maps: SNIS with a flow, a PF-ODE model, a target or a Gaussian as
proposal, and the catalogue method ``flow_is``, each against a known log Z and ESS/N."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.budget import Budget
from genmodels.catalogue import get_method
from genmodels.density import (
    FlowISSettings,
    FlowProposal,
    GaussianProposal,
    PFODEProposal,
    TargetProposal,
    as_proposal,
    importance_correct,
    importance_sample,
    run_flow_is,
)
from genmodels.diffusion import VPSDE, ScoreModel
from genmodels.errors import ConfigError, InvalidInputError, NotApplicableError
from genmodels.hybrids import FlowFitConfig
from genmodels.models.flow import Flow, FlowConfig
from genmodels.targets import Target, get_target
from genmodels.training.config import config_from_dict

LOG_2PI = math.log(2 * math.pi)


def _gaussian_log_prob(mean: torch.Tensor, std: float, shift: float = 0.0):
    """log N(x; mean, std² I) + shift: an unnormalised Gaussian with log Z = shift."""
    d = mean.numel()

    def log_prob(x: torch.Tensor) -> torch.Tensor:
        z = (x - mean.to(x)) / std
        return -0.5 * z.square().sum(-1) - d * (math.log(std) + 0.5 * LOG_2PI) + shift

    return log_prob


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_the_target_as_its_own_proposal_has_ess_one_and_exact_log_z():
    target = get_target("banana")  # normalised, with exact draws
    shift = 2.5
    ws = importance_sample(
        lambda x: target.log_prob(x) + shift, TargetProposal(target), 3000, generator=_gen()
    )
    assert abs(ws.ess - 1.0) < 1e-6
    assert abs(ws.log_z - shift) < 1e-6 and ws.log_z_se < 1e-6
    assert ws.cost.density_evals == 3000 and ws.cost.grad_evals == 0
    assert ws.log_z_kind == "unbiased Z"
    ws = importance_correct(target, target, 500)  # through the user-facing entry point
    assert abs(ws.ess - 1.0) < 1e-6 and abs(ws.log_z) < 1e-6


def test_gaussian_proposal_on_a_gaussian_log_z_and_ess_closed_form():
    # p = N(μ, σ_p² I), q = N(0, σ_q² I): E_q[(p/q)²] = Π_i σ_q² / (σ_p √(2σ_q² − σ_p²))
    #                                                      · exp(μ_i² / (2σ_q² − σ_p²))
    mean, s_p, s_q, shift = torch.tensor([0.5, -0.5]), 1.0, 1.5, 1.3
    v = 2 * s_q**2 - s_p**2
    second_moment = math.prod(
        s_q**2 / (s_p * math.sqrt(v)) * math.exp(float(m) ** 2 / v) for m in mean
    )
    ws = importance_sample(
        _gaussian_log_prob(mean, s_p, shift),
        GaussianProposal(torch.zeros(2), s_q),
        40_000,
        generator=_gen(1),
        batch_size=7000,  # several chunks, the last one short
    )
    assert ws.x.shape == (40_000, 2) and ws.info["particles"] == 40_000
    assert abs(ws.log_z - shift) < 3 * ws.log_z_se
    assert ws.log_z_se < 0.01
    assert ws.ess == pytest.approx(1 / second_moment, rel=0.03)
    resampled = ws.resample(20_000, _gen(2))  # the weights correct q's mean to p's
    assert torch.allclose(resampled.mean(0), mean, atol=0.05)


def test_the_budget_stops_between_chunks():
    ws = importance_sample(
        _gaussian_log_prob(torch.zeros(2), 1.0),
        GaussianProposal(torch.zeros(2), 1.2),
        10_000,
        generator=_gen(),
        batch_size=1000,
        budget=Budget(0),
    )
    assert ws.info["particles"] == 1000 and ws.cost.density_evals == 1000
    assert ws.info["stopped_by_budget"] == 1.0


def test_flow_proposal_log_q_is_the_flows_density():
    torch.manual_seed(0)
    flow = Flow(FlowConfig(kind="realnvp", transforms=3, hidden=16), (3,))
    x, log_q = FlowProposal(flow).sample_and_log_prob(64, _gen())
    assert x.shape == (64, 3)
    assert torch.allclose(log_q, flow.log_prob(x), atol=1e-4)


def _analytic_vp_model(mean: float, std: float) -> ScoreModel:
    """The exact score of N(mean, std² I) noised in EDM coordinates, under the VP SDE."""

    def score(x_hat: torch.Tensor, sigma_hat: torch.Tensor) -> torch.Tensor:
        return -(x_hat - mean) / (std**2 + sigma_hat[:, None] ** 2)

    return ScoreModel.from_fn(score, kind="score", process=VPSDE(), event_shape=(2,), coords="edm")


def test_pf_ode_proposal_of_an_exact_model_has_ess_near_one_and_log_z_zero():
    model = _analytic_vp_model(mean=1.0, std=0.5)
    log_p = _gaussian_log_prob(torch.ones(2), 0.5)
    proposal = PFODEProposal(model)
    assert proposal.exact_log_prob  # d = 2: the exact divergence
    ws = importance_sample(log_p, proposal, 400, generator=_gen(), batch_size=200)
    # the ODE ends at σ̂_min, where the model's marginal is N(1, 0.5² + σ̂_min²): ESS/N ≈ 1
    assert ws.ess > 0.999
    assert abs(ws.log_z) < 2e-3
    assert ws.log_z_kind == "unbiased Z" and ws.info["proposal_nfe"] > 0
    assert torch.allclose(ws.x.mean(0), torch.ones(2), atol=0.1)
    # the draws' log q is the density the model's own likelihood gives them
    x = ws.x[:16]
    log_q = log_p(x) - ws.log_w[:16].float()
    assert torch.allclose(model.pf_ode_log_prob(x).log_prob, log_q, atol=1e-3)


def test_pf_ode_hutchinson_divergence_is_flagged_and_noisier():
    # a correlated Gaussian: the drift's Jacobian is not diagonal, so a Rademacher probe's
    # vᵀJv differs from tr J (for a diagonal J it would be exact)
    cov = torch.tensor([[1.0, 0.8], [0.8, 1.0]])

    def score(x_hat: torch.Tensor, sigma_hat: torch.Tensor) -> torch.Tensor:
        noised = cov.to(x_hat) + sigma_hat[:, None, None] ** 2 * torch.eye(2).to(x_hat)
        return -torch.linalg.solve(noised, x_hat.unsqueeze(-1)).squeeze(-1)

    model = ScoreModel.from_fn(score, kind="score", process=VPSDE(), event_shape=(2,), coords="edm")
    target = torch.distributions.MultivariateNormal(torch.zeros(2), cov)
    exact = importance_correct(model, target.log_prob, 200, divergence="exact")
    noisy = importance_correct(model, target.log_prob, 200, divergence="hutchinson")
    assert exact.log_z_kind == "unbiased Z" and noisy.log_z_kind.startswith("biased")
    assert exact.ess > 0.999 and abs(exact.log_z) < 2e-3
    assert noisy.ess < 0.99  # the probe's noise in log q̂ spreads the weights


class _SamplesOnly(Target):
    """A stand-in for a data set: exact draws, no density."""

    kind = "vector"
    name = "samples only"
    event_shape = (2,)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, 2, generator=generator)


def _samples_only() -> Target:
    return _SamplesOnly()


@pytest.mark.slow
def test_flow_is_on_banana_recovers_log_z():
    steps, batch = 300, 128
    settings = FlowISSettings(
        particles=4000,
        fit=FlowFitConfig(
            objective="reverse", steps=steps, batch_size=batch, transforms=4, hidden=32
        ),
    )
    ws = run_flow_is(get_target("banana"), settings, seed=0)
    assert ws.x.shape == (4000, 2)
    assert abs(ws.log_z - 0.0) < 0.05 and abs(ws.log_z) < 4 * ws.log_z_se + 0.01
    assert ws.ess > 0.7
    assert ws.cost.grad_evals == steps * batch  # the reverse-KL fit's target gradients
    assert ws.cost.density_evals == 4000  # one per particle
    assert ws.info["fit_steps"] == steps and ws.train_seconds <= ws.seconds


def test_flow_is_is_a_density_method_and_constrains_its_draws():
    spec = get_method("flow_is", "density")
    assert spec.build is run_flow_is and spec.settings is FlowISSettings
    settings = config_from_dict(FlowISSettings, {"particles": 64, "fit": {"steps": 5}})
    ws = spec.build(get_target("eight_schools"), settings, seed=1)
    assert ws.x.shape == (64, 10) and bool((ws.x[:, 1] > 0).all())  # τ > 0
    assert ws.cost.grad_evals == 5 * settings.fit.batch_size
    assert math.isfinite(ws.log_z)


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: FlowISSettings(particles=0), ConfigError),
        (lambda: FlowISSettings(particles=2.5), ConfigError),
        (lambda: FlowISSettings(batch_size=0), ConfigError),
        (lambda: FlowISSettings(fit=FlowFitConfig(objective="forward")), ConfigError),
        (lambda: FlowISSettings(fit="reverse"), ConfigError),
        (lambda: config_from_dict(FlowISSettings, {"particles": -1}), ConfigError),
        (lambda: config_from_dict(FlowISSettings, {"fit": {"objective": "forward"}}), ConfigError),
        (lambda: config_from_dict(FlowISSettings, {"n": 10}), ConfigError),
        (
            lambda: importance_sample(lambda x: x[:, 0], GaussianProposal(torch.zeros(1)), 0),
            ConfigError,
        ),
        (
            lambda: importance_sample(
                lambda x: x[:, 0], GaussianProposal(torch.zeros(1)), 5, batch_size=0
            ),
            ConfigError,
        ),
        (
            lambda: importance_sample(lambda x: x, GaussianProposal(torch.zeros(2)), 5),
            InvalidInputError,  # log p̃ not one value per draw
        ),
        (lambda: GaussianProposal(torch.zeros(2), 0.0), InvalidInputError),
        (
            lambda: PFODEProposal(_analytic_vp_model(0.0, 1.0), divergence="bogus"),
            InvalidInputError,
        ),
        (lambda: TargetProposal(get_target("eight_schools")), NotApplicableError),  # no samples
        (lambda: as_proposal(object()), NotApplicableError),
        (
            lambda: importance_correct(get_target("banana"), get_target("funnel"), 5),
            InvalidInputError,
        ),
        (
            lambda: importance_correct(get_target("banana"), _samples_only(), 5),
            NotApplicableError,
        ),
        (lambda: run_flow_is(_samples_only(), FlowISSettings()), NotApplicableError),
    ],
)
def test_bad_settings_and_inputs_are_refused(build, error):
    with pytest.raises(error):
        build()
