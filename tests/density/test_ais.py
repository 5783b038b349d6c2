"""Annealed importance sampling: log Z against known normalisers, weights, schedules, cost."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.budget import Budget
from genmodels.catalogue import get_method
from genmodels.density import AISSettings, log_z_estimate, run_ais
from genmodels.density.ais import schedule
from genmodels.errors import ConfigError
from genmodels.targets import get_target
from genmodels.targets.mixture import GaussianMixture

pytestmark = pytest.mark.usefixtures("one_thread")

from test_smc import ShiftedGaussian  # noqa: E402  (the same unnormalised Gaussian)

# The moves these tests were written for (one MALA move, no jitter): cheap on a Gaussian.
MALA = {"kernel": "mala", "step_jitter": 0.0}
GAUSS = AISSettings(particles=1000, temperatures=100, reference_scale=2.0, **MALA)


def test_log_z_of_a_shifted_scaled_gaussian_within_3_se() -> None:
    target = ShiftedGaussian()
    ws = run_ais(target, GAUSS, seed=0)
    assert 0 < ws.log_z_se < 0.1 and ws.ess > 0.2
    assert abs(ws.log_z - target.log_z) < 3 * ws.log_z_se
    assert (ws.log_z, ws.log_z_se) == log_z_estimate(ws.log_w)


def test_weighted_particles_have_the_target_moments() -> None:
    target = ShiftedGaussian()
    ws = run_ais(target, GAUSS, seed=1)
    x = ws.resample(2000, torch.Generator().manual_seed(0))
    assert torch.allclose(x.mean(0), target.mu, atol=0.1 * float(target.s.max()))
    assert torch.allclose(x.std(0) / target.s, torch.ones(5), atol=0.15)


def test_hmc_moves_and_the_cost() -> None:
    s = AISSettings(particles=200, temperatures=30, kernel="hmc", moves=2,
                    kernel_options={"num_steps": 4}, reference_scale=2.0)  # fmt: skip
    ws = run_ais(ShiftedGaussian(), s, seed=0)
    # start: one gradient per particle; then 30 × 2 transitions of 2..6 leapfrog steps each
    assert 200 * (1 + 60 * 2) <= ws.cost.grad_evals <= 200 * (1 + 60 * 6)
    assert abs(ws.log_z - ShiftedGaussian().log_z) < 3 * ws.log_z_se
    mala = run_ais(ShiftedGaussian(), AISSettings(particles=50, temperatures=7, **MALA), seed=0)
    assert mala.cost.grad_evals == 50 * (1 + 7) and mala.info["temperatures"] == 7


def test_bimodal_mixture_weights_from_the_importance_weights() -> None:
    target = GaussianMixture(torch.tensor([[-4.0], [4.0]]), 0.5, [0.25, 0.75])
    ws = run_ais(target, AISSettings(particles=2000, temperatures=100, reference_scale=4.0, **MALA))
    x = ws.resample(4000, torch.Generator().manual_seed(0))
    assert float((target.modes.assign(x) == 0).double().mean()) == pytest.approx(0.25, abs=0.05)
    assert abs(ws.log_z) < 3 * ws.log_z_se


@pytest.mark.parametrize("kind", ["sigmoid", "geometric", "linear"])
def test_schedules_rise_from_0_to_1(kind: str) -> None:
    b = schedule(kind, 50)
    assert b.shape == (51,) and float(b[0]) == 0.0 and float(b[-1]) == 1.0
    assert (b.diff() > 0).all()


def test_fixed_seed_reproduces_and_an_expired_budget_jumps_to_the_target() -> None:
    s = AISSettings(particles=100, temperatures=20, reference_scale=2.0, **MALA)
    a, b = run_ais(ShiftedGaussian(), s, seed=2), run_ais(ShiftedGaussian(), s, seed=2)
    assert torch.equal(a.x, b.x) and torch.equal(a.log_w, b.log_w)
    assert not torch.equal(a.x, run_ais(ShiftedGaussian(), s, seed=3).x)
    cut = run_ais(ShiftedGaussian(), s, seed=2, budget=Budget(0.0))
    assert cut.info["stopped_by_budget"] and cut.info["temperatures"] == 1
    assert cut.ess < a.ess  # one big step: plain importance sampling from q


def test_registered_in_the_density_camp() -> None:
    spec = get_method("ais", "density")
    assert spec.build is run_ais and spec.settings is AISSettings


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("particles", 1),
        ("temperatures", 0),
        ("moves", 0),
        ("schedule", "cosine"),
        ("beta_min", 0.0),
        ("beta_min", 1.0),
        ("step_size", -1.0),
        ("step_jitter", math.inf),
        ("target_accept", 0.0),
        ("reference", "standard"),
        ("reference_scale", 0.0),
        ("kernel", "ula"),
        ("kernel_options", {"max_tree_depth": 3}),
    ],
)
def test_bad_settings_are_config_errors(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field.split("_")[0]):
        AISSettings(**{field: value})


@pytest.mark.slow
def test_funnel_log_z_is_close_but_biased_low() -> None:
    """As SMC's (see test_smc): the moves reach neither the funnel's neck nor its mouth, the
    weights' tail is never seen, and log Ẑ falls below log Z = 0 by more than the weights'
    own standard error (which is the delta method's, blind to an unseen tail): stated, not
    hidden. With HMC moves and a jittered step it stays close."""
    target = get_target("funnel")
    s = AISSettings(particles=1000, temperatures=200, kernel="hmc", moves=2,
                    kernel_options={"num_steps": 10}, step_jitter=2.0)  # fmt: skip
    ws = run_ais(target, s, seed=0)
    assert -0.3 < ws.log_z < 0.05 and ws.ess > 0.1, (ws.log_z, ws.log_z_se, ws.ess)
