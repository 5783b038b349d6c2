"""FAB (genmodels.density.fab): trained on a correlated, off-centre 2-D Gaussian with a known
normaliser, its importance-corrected draws match the moments and its log Ẑ the truth; on
four separated modes of unequal weight it finds every mode with its weight, where a flow
fitted by reverse KL keeps only some; every target evaluation is counted; the budget stops
training and a run still returns; bad settings are refused."""

from __future__ import annotations

import math

import pytest
import torch

from density_targets import LOG_Z, ShiftedGaussian
from genmodels.budget import Budget
from genmodels.catalogue import get_method
from genmodels.density import FABSettings, FlowISSettings, run_fab, run_flow_is
from genmodels.density.fab import ReplayBuffer
from genmodels.errors import ConfigError, NotApplicableError
from genmodels.hybrids.flow_fit import FlowFitConfig
from genmodels.targets.base import Target
from genmodels.targets.mixture import GaussianMixture

SMALL = {"batch_size": 64, "buffer_min": 128, "temperatures": 4, "transforms": 3,
         "hidden": 32, "particles": 4000, "reference_scale": 2.0}  # fmt: skip


def test_trained_flow_matches_a_gaussian_and_its_normaliser():
    target = ShiftedGaussian()
    out = run_fab(target, FABSettings(**SMALL, iterations=30, lr=3e-3), seed=0)
    x = out.resample(4000, torch.Generator().manual_seed(1))
    assert torch.allclose(x.mean(0), target.mean, atol=0.05)
    assert torch.allclose(torch.cov(x.T), target.cov, atol=0.08)
    assert out.log_z_kind == "unbiased Z"
    assert abs(out.log_z - LOG_Z) < max(4 * out.log_z_se, 0.02)
    # training did the work: the untrained flow, N(0, 2² I), is a poor proposal
    untrained = run_fab(ShiftedGaussian(), FABSettings(**SMALL, iterations=0), seed=0)
    assert out.ess > 0.8 > untrained.ess + 0.4
    assert out.info["train_steps"] == 30 * 4 and out.info["stopped_by_budget"] == 0.0


# four unit-scale modes at the corners of a square of side 10, weights 0.4, 0.3, 0.2, 0.1
MODES = torch.tensor([[-5.0, -5.0], [5.0, -5.0], [-5.0, 5.0], [5.0, 5.0]])
WEIGHTS = torch.tensor([0.4, 0.3, 0.2, 0.1])


def _mode_weights(x: torch.Tensor) -> torch.Tensor:
    """The fraction of draws nearest each mode (within 3 of it)."""
    d = torch.cdist(x, MODES)
    near = d.min(1)
    hits = near.indices[near.values < 3.0]
    return torch.bincount(hits, minlength=4).double() / x.shape[0]


@pytest.mark.slow  # about 8 s of CPU
def test_fab_finds_every_mode_with_its_weight_where_reverse_kl_does_not():
    target = GaussianMixture(MODES, 1.0, weights=WEIGHTS)
    settings = FABSettings(
        iterations=30, batch_size=128, temperatures=4, transforms=4, hidden=32,
        particles=4000, reference_scale=5.0,
    )  # fmt: skip
    fab = run_fab(target, settings, seed=0)
    x = fab.resample(4000, torch.Generator().manual_seed(1))
    weights = _mode_weights(x)
    assert (weights > 0.05).all()  # all four modes
    assert 0.5 * (weights - WEIGHTS.double()).abs().sum() < 0.05  # each with its mass
    assert abs(fab.log_z) < max(4 * fab.log_z_se, 0.05)  # normalised: log Z = 0
    # the AIS weights matter: FAB with them ignored (every log w = 0, no w_adjust) gave
    # ESS/N 0.11 here, against 0.31 with them
    assert fab.ess > 0.25
    # a reverse-KL flow of the same size after as many gradient steps (120) is a far worse
    # proposal: it has started to drop the light modes
    kl = run_flow_is(
        target,
        FlowISSettings(particles=4000, fit=FlowFitConfig(steps=120, transforms=4, hidden=32)),
        seed=0,
    )
    assert kl.ess < 0.1 < fab.ess - 0.15


def test_every_target_evaluation_is_counted():
    target = ShiftedGaussian()
    s = FABSettings(batch_size=8, buffer_min=16, temperatures=3, iterations=2, transforms=1,
                    hidden=8, particles=50)  # fmt: skip
    out = run_fab(target, s, seed=0)
    assert out.cost.target_evals == target.rows  # every row the target saw
    assert out.cost.density_evals == 50  # the importance draws
    passes = out.info["ais_passes"]
    assert passes == 2 + 2  # two to fill the buffer, then one per iteration
    # per pass and particle: one at the start, then per temperature one HMC transition of
    # between ceil(0.5 L) and ceil(1.5 L) leapfrog steps (L = 5), each one evaluation
    per_particle = out.cost.grad_evals / (passes * 8)
    assert 1 + 3 * 3 <= per_particle <= 1 + 3 * 8
    assert out.cost.grad_evals % 8 == 0


def test_budget_stops_training_and_the_run_still_returns():
    out = run_fab(ShiftedGaussian(), FABSettings(**SMALL, iterations=50), budget=Budget(0.0))
    assert out.info["stopped_by_budget"] == 1.0 and out.info["ais_passes"] == 0
    assert out.x.shape[1:] == (2,) and math.isfinite(out.log_z)


def test_runs_are_reproducible():
    s = FABSettings(**{**SMALL, "particles": 200}, iterations=3)
    a, b = run_fab(ShiftedGaussian(), s, seed=3), run_fab(ShiftedGaussian(), s, seed=3)
    assert torch.equal(a.x, b.x) and a.log_z == b.log_z and a.cost == b.cost


def test_replay_buffer_samples_by_weight_and_reweighs():
    buffer = ReplayBuffer(4, 1, torch.zeros(1))
    buffer.add(torch.arange(3.0)[:, None], torch.tensor([0.0, -math.inf, 0.0]), torch.zeros(3))
    g = torch.Generator().manual_seed(0)
    assert sorted(buffer.sample(2, g).tolist()) == [0, 2]  # weight 0 never drawn first
    buffer.add(torch.tensor([[7.0], [8.0]]), torch.zeros(2), torch.ones(2))  # wraps around
    assert buffer.size == 4 and buffer.x[0, 0] == 8.0
    buffer.adjust(torch.tensor([2, 3]), torch.tensor([0.5, math.inf]), torch.tensor([2.0, 3.0]))
    assert buffer.log_w[2] == 0.5 and buffer.log_q[2] == 2.0  # q_old/q_θ = e^0.5
    assert buffer.log_w[3] == 0.0 and buffer.log_q[3] == 1.0  # a non-finite ratio: kept


def test_fab_is_a_density_method():
    spec = get_method("fab", "density")
    assert spec.build is run_fab and spec.settings is FABSettings


@pytest.mark.parametrize(
    "values",
    [
        {"iterations": -1},
        {"batch_size": 1},
        {"updates_per_pass": 0},
        {"temperatures": 0},
        {"step_size": 0.0},
        {"target_accept": 1.0},
        {"w_adjust_clip": 0.0},
        {"lr": -1.0},
        {"buffer_min": 10, "batch_size": 64},
        {"buffer_size": 256, "buffer_min": 256},
        {"kernel": "nuts"},
        {"kernel_options": {"no_such_option": 1}},
        {"flow_kind": "glow"},
        {"reference_scale": -1.0},
    ],
)
def test_bad_settings_are_refused(values):
    with pytest.raises(ConfigError):
        FABSettings(**values)


def test_a_target_without_a_density_is_refused():
    class SamplesOnly(Target):
        kind = "toy2d"
        event_shape = (2,)
        has_log_prob = False

        def sample(self, n, generator=None):
            return torch.zeros(n, 2)

    with pytest.raises(NotApplicableError):
        run_fab(SamplesOnly(), FABSettings())
