"""SMC with adaptive tempering: log Z against known normalisers, moments, mode weights, cost."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.budget import Budget
from genmodels.catalogue import get_method
from genmodels.density import SMCSettings, log_z_estimate, run_smc
from genmodels.density.smc import conditional_ess, next_temperature
from genmodels.errors import ConfigError, NotApplicableError
from genmodels.targets import get_target
from genmodels.targets.base import Target
from genmodels.targets.mixture import GaussianMixture

pytestmark = pytest.mark.usefixtures("one_thread")


class ShiftedGaussian(Target):
    """exp(c) · N(μ, diag s²) unnormalised: log Z = c + (d/2) log 2π + Σ log s."""

    kind = "posterior"

    def __init__(self) -> None:
        self.mu = torch.tensor([1.0, -2.0, 0.5, 3.0, 0.0])
        self.s = torch.tensor([0.5, 1.0, 2.0, 0.3, 1.5])
        self.c = 7.0
        self.event_shape = (5,)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return -0.5 * (((x - self.mu.to(x)) / self.s.to(x)) ** 2).sum(-1) + self.c

    @property
    def log_z(self) -> float:
        return self.c + 2.5 * math.log(2 * math.pi) + float(self.s.log().sum())


# The moves these tests were written for (MALA, 5 moves, no jitter, steps chosen by the
# conditional ESS alone): cheap on a Gaussian; the defaults are tuned for the funnel.
MALA = {"kernel": "mala", "moves": 5, "step_jitter": 0.0, "max_step": 1.0}
GAUSS = SMCSettings(particles=300, populations=8, reference_scale=2.0, **MALA)


def test_log_z_of_a_shifted_scaled_gaussian_within_3_se() -> None:
    target = ShiftedGaussian()
    ws = run_smc(target, GAUSS, seed=0)
    assert 0 < ws.log_z_se < 0.1  # a broken sampler fails here or below
    assert abs(ws.log_z - target.log_z) < 3 * ws.log_z_se
    assert ws.log_z_kind == "unbiased Z"
    # the pooled weights give the same estimate: weights Ẑ_r · N W_ri
    assert log_z_estimate(ws.log_w)[0] == pytest.approx(ws.log_z, abs=1e-9)
    assert len(ws.info["log_z_populations"]) == 8


def test_resampled_particles_have_the_target_moments() -> None:
    target = ShiftedGaussian()
    ws = run_smc(target, GAUSS, seed=1)
    x = ws.resample(2400, torch.Generator().manual_seed(0))
    assert torch.allclose(x.mean(0), target.mu, atol=0.1 * float(target.s.max()))
    assert torch.allclose(x.std(0) / target.s, torch.ones(5), atol=0.12)


def test_cost_counts_every_gradient_evaluation() -> None:
    """MALA: one gradient per particle at the start and per move and temperature."""
    s = SMCSettings(particles=50, populations=2, reference_scale=2.0, **{**MALA, "moves": 3})
    ws = run_smc(ShiftedGaussian(), s, seed=0)
    steps = sum(ws.info["num_temperatures"])
    assert ws.cost.grad_evals == 50 * (2 + steps * 3) and ws.cost.density_evals == 0
    rw = run_smc(ShiftedGaussian(), SMCSettings(**{**s.__dict__, "kernel": "rwmh"}), seed=0)
    assert rw.cost.grad_evals == 0 and rw.cost.density_evals == 50 * (
        2 + sum(rw.info["num_temperatures"]) * 3
    )


def test_bimodal_mixture_mode_weights_are_recovered() -> None:
    """Two modes 8 σ apart with weights 0.25 / 0.75: chains from one start would keep one;
    tempering from a broad reference keeps the weights."""
    target = GaussianMixture(torch.tensor([[-4.0, 0.0], [4.0, 0.0]]), 0.5, [0.25, 0.75])
    ws = run_smc(
        target, SMCSettings(particles=400, populations=4, reference_scale=4.0, **MALA), seed=0
    )
    x = ws.resample(4000, torch.Generator().manual_seed(0))
    share = float((target.modes.assign(x) == 0).double().mean())
    assert share == pytest.approx(0.25, abs=0.05)
    assert abs(ws.log_z) < 3 * ws.log_z_se


def test_fixed_seed_reproduces_and_another_seed_differs() -> None:
    s = SMCSettings(particles=100, populations=2, reference_scale=2.0, **MALA)
    a, b = run_smc(ShiftedGaussian(), s, seed=3), run_smc(ShiftedGaussian(), s, seed=3)
    c = run_smc(ShiftedGaussian(), s, seed=4)
    assert torch.equal(a.x, b.x) and a.log_z == b.log_z and a.cost == b.cost
    assert not torch.equal(a.x, c.x) and a.log_z != c.log_z


def test_next_temperature_keeps_the_conditional_ess() -> None:
    g = torch.Generator().manual_seed(0)
    ell = 5 * torch.randn(3, 500, generator=g, dtype=torch.float64)
    log_w = torch.log_softmax(torch.randn(3, 500, generator=g, dtype=torch.float64), -1)
    beta = torch.tensor([0.0, 0.3, 0.999], dtype=torch.float64)
    new = next_temperature(ell, log_w, beta, 0.7)
    kept = conditional_ess(ell, log_w, new - beta)
    assert torch.allclose(kept[:2], torch.full((2,), 0.7, dtype=torch.float64), atol=1e-6)
    assert (new > beta).all() and float(new[2]) == 1.0 and float(kept[2]) >= 0.7
    forced = next_temperature(ell, log_w, beta, 0.7, force=torch.tensor([True, False, False]))
    assert float(forced[0]) == 1.0 and float(forced[1]) == float(new[1])


def test_an_expired_budget_jumps_to_the_target() -> None:
    ws = run_smc(ShiftedGaussian(), GAUSS, seed=0, budget=Budget(0.0))
    assert ws.info["stopped_by_budget"] and ws.info["num_temperatures"] == [1] * 8
    assert ws.info["resamples"] == [1] * 8  # the one big step collapsed the weights
    assert abs(ws.log_z - ShiftedGaussian().log_z) < 3 * ws.log_z_se  # valid, noisier


def test_hmc_moves_and_constrained_targets() -> None:
    """HMC moves; eight schools runs in unconstrained space and returns τ > 0."""
    target = get_target("eight_schools")
    s = SMCSettings(particles=100, populations=2, kernel="hmc", moves=2,
                    kernel_options={"num_steps": 3})  # fmt: skip
    ws = run_smc(target, s, seed=0)
    names = target.param_names()
    assert ws.x.shape == (200, 10) and (ws.x[:, names.index("tau")] > 0).all()
    assert math.isfinite(ws.log_z) and ws.cost.grad_evals > 200 * 2 * 2


def test_a_targets_prior_is_the_reference_unless_told_otherwise() -> None:
    from genmodels.density import GaussianReference

    target = ShiftedGaussian()
    target.prior = GaussianReference(5, 2.0)  # normalised: log Ẑ still estimates log Z
    s = SMCSettings(particles=100, populations=2, **MALA)
    auto = run_smc(target, s, seed=0)
    same = run_smc(target, SMCSettings(**{**s.__dict__, "reference": "gaussian",
                                          "reference_scale": 2.0}), seed=0)  # fmt: skip
    plain = run_smc(target, SMCSettings(**{**s.__dict__, "reference": "gaussian"}), seed=0)
    assert auto.log_z == same.log_z and torch.equal(auto.x, same.x)
    assert auto.log_z != plain.log_z


def test_registered_in_the_density_camp() -> None:
    spec = get_method("smc", "density")
    assert spec.build is run_smc and spec.settings is SMCSettings


class SamplesOnly(Target):
    kind = "toy2d"
    event_shape = (2,)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, 2, generator=generator)


def test_not_applicable_without_a_density() -> None:
    with pytest.raises(NotApplicableError, match="density"):
        run_smc(SamplesOnly(), SMCSettings(particles=10, populations=1))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("particles", 1),
        ("populations", 0),
        ("cess", 1.0),
        ("cess", 0.0),
        ("resample", 1.5),
        ("moves", -1),
        ("step_size", 0.0),
        ("step_size", math.nan),
        ("target_accept", 1.0),
        ("reference", "prior"),
        ("reference_scale", -1.0),
        ("max_temperatures", 0),
        ("max_step", 0.0),
        ("max_step", 1.5),
        ("step_jitter", -0.1),
        ("kernel", "nuts"),
        ("kernel", "no_such"),
        ("kernel_options", {"num_stepz": 3}),
        ("kernel_options", [1]),
    ],
)
def test_bad_settings_are_config_errors(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field.split("_")[0]):
        SMCSettings(**{field: value})


def test_defaults_reach_a_funnels_neck_and_mouth() -> None:
    """A 5-D funnel at the default moves and temperatures (100 particles per population):
    log Ẑ within 0.15 of log Z = 0. The former defaults (MALA, 5 moves, a unit reference,
    steps by the conditional ESS alone: 5-7 temperatures) miss the neck and the mouth that
    open only near β = 1 and fall 0.58 low at this seed. What is left is a bias of about
    0.06 (12 seeds: 0.05-0.07 low, with or without the local step), often more than 3 se:
    the HMC moves' slow mixing in v, measured in benchmarks/README."""
    target = get_target("funnel", dim=5)
    ws = run_smc(target, SMCSettings(particles=100), seed=0)
    assert 0 < ws.log_z_se < 0.15
    assert abs(ws.log_z - target.log_z) < 0.15, (ws.log_z, ws.log_z_se)
    assert min(ws.info["num_temperatures"]) >= 50  # max_step = 0.02


@pytest.mark.slow
def test_funnel_log_z_is_close_but_biased_low() -> None:
    """Neal's funnel (10-D, normalised: log Z = 0) is where SMC's moves do not mix: the neck
    (v ≪ 0) needs steps orders of magnitude smaller than the mouth, and the mouth (v ≫ 0)
    opens only in the last per cent of β. Ẑ stays unbiased, but its distribution is skewed
    and every population misses the same tails, so log Ẑ falls below 0 by more than the
    spread across populations (3 standard errors): stated here, not hidden. A sampler that
    missed a half of v, or ignored the weights, is off by far more."""
    target = get_target("funnel")
    s = SMCSettings(particles=500, populations=8, kernel="hmc", moves=20,
                    kernel_options={"num_steps": 10}, step_jitter=2.0, cess=0.9,
                    max_step=1.0)  # fmt: skip
    ws = run_smc(target, s, seed=0)
    assert target.log_z == 0.0
    assert -0.3 < ws.log_z < 0.05, (ws.log_z, ws.log_z_se)
    v = ws.resample(4000, torch.Generator().manual_seed(0))[:, 0]  # exact: N(0, 3²)
    assert abs(float(v.mean())) < 0.5 and 2.2 < float(v.std()) < 3.3


def test_manywell_log_z_within_3_se_and_the_deep_well_share() -> None:
    """16 double wells (2^16 modes): log Z by quadrature; each well's deep side holds 84 %."""
    target = get_target("manywell_32d")
    ws = run_smc(target, SMCSettings(particles=500, populations=8, **MALA), seed=0)
    assert 0 < ws.log_z_se < 0.5
    assert abs(ws.log_z - target.log_z) < 3 * ws.log_z_se
    x = ws.resample(4000, torch.Generator().manual_seed(0))
    deep = float(target.well_signs(x).double().mean())
    assert deep == pytest.approx(target.deep_well_share, abs=0.03)


@pytest.mark.slow
def test_defaults_cover_the_40_modes_from_the_targets_stated_spread():
    """No setting given: the reference scale comes from `gmm40_2d.spread`, and SMC finds the
    modes spread over the [-40, 40]² box with log Z near the truth (a unit reference finds 3)."""
    from genmodels.metrics.modes import modes_covered
    from genmodels.targets import get_target

    target = get_target("gmm40_2d")
    run = run_smc(target, SMCSettings(), seed=0)
    x = run.resample(4000, torch.Generator().manual_seed(1))
    assert modes_covered(x, target.modes) >= 35
    assert abs(run.log_z - target.log_z) < max(4 * run.log_z_se, 0.2)
