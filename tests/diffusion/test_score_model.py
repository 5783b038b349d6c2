"""`ScoreModel.from_fn`: every registered solver and the PF-ODE likelihood on an analytic score.

The data are N(m, s² I), whose noised density at EDM level σ̂ is N(m, (s² + σ̂²) I): the exact
ε, score and denoiser are known in closed form, so each solver's sample must have mean m and
standard deviation s, and log p(x) is known exactly.
"""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.diffusion import (
    SOLVERS,
    VESDE,
    VPSDE,
    DiscreteSchedule,
    ScoreModel,
    geometric_sigmas,
)
from genmodels.errors import InvalidInputError, NotApplicableError

M, S, D = 1.0, 2.0, 2  # data N(M, S² I) in D dimensions


def score_hat(x_hat, sigma_hat):  # ∇ log N(x̂; m, (s² + σ̂²) I)
    return (M - x_hat) / (S**2 + sigma_hat[:, None] ** 2)


def denoiser_hat(x_hat, sigma_hat):  # E[x₀ | x̂] = m + s²/(s² + σ̂²) (x̂ − m)
    return M + S**2 / (S**2 + sigma_hat[:, None] ** 2) * (x_hat - M)


def eps_hat(x_hat, sigma_hat):  # ε̂ = (x̂ − D)/σ̂
    return (x_hat - denoiser_hat(x_hat, sigma_hat)) / sigma_hat[:, None]


FNS = {"score": score_hat, "denoiser": denoiser_hat, "eps": eps_hat}
PROCESS_OF_FAMILY = {
    "discrete": lambda: DiscreteSchedule.linear(1000),
    "sde": VPSDE,
    "ode": VPSDE,
    "langevin": VPSDE,
}


def true_log_prob(x):
    return -0.5 * ((x - M) / S).square().sum(1) - D * math.log(S * math.sqrt(2 * math.pi))


@pytest.mark.parametrize("name", list(SOLVERS))
def test_every_registered_solver_samples_an_analytic_gaussian(name):
    spec = SOLVERS.get(name)
    model = ScoreModel.from_fn(
        score_hat, kind="score", process=PROCESS_OF_FAMILY.get(spec.family, VPSDE)(),
        event_shape=(D,), coords="edm",
    )  # fmt: skip
    x = model.sample(3000, sampler=name, generator=torch.Generator().manual_seed(0)).x
    assert x.shape == (3000, D) and torch.isfinite(x).all()
    # a sampler that ignores the score, or gets its sign or scale wrong, misses both by far
    assert abs(float(x.mean()) - M) < 0.12, name
    assert abs(float(x.std()) - S) < 0.15, name


@pytest.mark.parametrize("kind", ["eps", "score", "denoiser"])
@pytest.mark.parametrize(
    "process", [VPSDE(), VESDE(0.01, 100.0), DiscreteSchedule.linear(1000)], ids=type
)
def test_pf_ode_log_prob_of_an_analytic_gaussian_is_exact(kind, process):
    model = ScoreModel.from_fn(
        FNS[kind], kind=kind, process=process, event_shape=(D,), coords="edm"
    )
    x = torch.tensor([[1.0, 1.0], [3.0, -1.0], [-2.0, 0.5]])
    lp = model.pf_ode_log_prob(x).log_prob
    torch.testing.assert_close(lp, true_log_prob(x), atol=0.02, rtol=0)


def test_native_coordinates_with_a_vp_sde():
    """An ε-function of the native (x_t, t): the SDE's own time, no 999·t, no rescaling."""
    sde = VPSDE()

    def eps_native(x_t, t):
        alpha, sigma = (c[:, None] for c in sde.marginal(t))
        return eps_hat(x_t / alpha, (sigma / alpha)[:, 0])

    model = ScoreModel.from_fn(eps_native, kind="eps", process=sde, event_shape=(D,))
    for sampler in ("pc", "dpmpp_2m"):
        x = model.sample(3000, sampler=sampler, generator=torch.Generator().manual_seed(1)).x
        assert abs(float(x.std()) - S) < 0.15 and abs(float(x.mean()) - M) < 0.12
    x0 = torch.tensor([[0.0, 2.0]])
    torch.testing.assert_close(
        model.pf_ode_log_prob(x0).log_prob, true_log_prob(x0), atol=0.02, rtol=0
    )


def test_a_network_module_is_registered_and_followed_to_its_dtype():
    net = torch.nn.Linear(D, D).double()
    plain = ScoreModel.from_fn(
        lambda x, t: torch.zeros_like(x), kind="eps", process=VPSDE(), event_shape=(D,)
    )
    assert list(plain.parameters()) == []  # no parameters: no StopIteration, the CPU, float32
    assert plain.sample(4, sampler="euler", steps=3).x.dtype == torch.float32
    wrapped = ScoreModel.from_fn(_TimeIgnoring(net), kind="eps", process=VPSDE(), event_shape=(D,))
    assert wrapped.sample(4, sampler="euler", steps=3).x.dtype == torch.float64


class _TimeIgnoring(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, t):
        return self.net(x)


def test_bad_arguments_answer_clearly():
    with pytest.raises(InvalidInputError, match="NoiseProcess"):
        ScoreModel.from_fn(score_hat, kind="score", process="vp", event_shape=(D,))
    with pytest.raises(InvalidInputError, match="callable"):
        ScoreModel.from_fn(3, kind="score", process=VPSDE(), event_shape=(D,))
    model = ScoreModel.from_fn(score_hat, kind="score", process=VPSDE(), event_shape=(D,))
    with pytest.raises(NotApplicableError):
        model.loss(torch.zeros(2, D))
    with pytest.raises(NotApplicableError, match="ancestral"):
        model.sample(2, sampler="ancestral")


def test_geometric_sigmas_is_exported():
    assert geometric_sigmas(3, 0.01, 1.0)[-1] == 0
