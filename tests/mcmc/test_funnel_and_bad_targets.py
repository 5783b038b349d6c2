"""NUTS flags divergences in the funnel's neck; broken targets fail fast and clearly."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.errors import InvalidInputError, NotApplicableError
from genmodels.mcmc import sample_chains
from genmodels.targets import get_target


def test_nuts_reports_divergences_in_funnel_neck() -> None:
    # Chains start in the neck (v = -5, where the curvature e^{-v} needs ε < 0.17) with a
    # step size fit for the mouth: leapfrog blows up there and NUTS must say so.
    funnel = get_target("funnel")
    init = torch.zeros(8, funnel.dim)
    init[:, 0] = torch.linspace(-6.0, 2.0, 8)  # v from the neck to the mouth
    s = sample_chains(
        funnel,
        "nuts",
        chains=8,
        draws=40,
        warmup=0,
        init=init,
        step_size=0.5,
        seed=0,
        progress=False,
        kernel_options={"max_tree_depth": 6},
    )
    divergent = s.stats["divergent"]  # [chains, draws]
    assert int(divergent.sum()) > 0
    assert s.info["divergences"] == float(divergent.sum())
    # they happen in the neck: the chains starting deepest diverge most
    per_chain = divergent.sum(1)
    assert int(per_chain[:3].sum()) > int(per_chain[-3:].sum())


def test_nan_log_density_at_init_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="initial position"):
        sample_chains(
            lambda x: torch.full((x.shape[0],), math.nan), "nuts", event_shape=(2,), progress=False
        )


def test_log_density_infinite_for_some_chains_names_them() -> None:
    def log_prob(x: torch.Tensor) -> torch.Tensor:
        return torch.where(x[:, 0] > 0, -(x**2).sum(-1), -math.inf)

    init = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    with pytest.raises(InvalidInputError, match=r"chain\(s\) \[1\]"):
        sample_chains(log_prob, "rwmh", chains=2, init=init, progress=False)


@pytest.mark.parametrize(
    "bad", [lambda x: -(x**2).sum(), lambda x: -(x**2), lambda x: -(x**2).sum(-1, keepdim=True)]
)
def test_wrong_output_shape_is_a_clear_error(bad) -> None:
    with pytest.raises(InvalidInputError, match="log_prob must return"):
        sample_chains(bad, "mala", event_shape=(3,), chains=4, progress=False)


def test_nan_during_sampling_is_rejected_not_propagated() -> None:
    # NaN outside the unit ball: proposals there are rejected, chains stay finite
    def log_prob(x: torch.Tensor) -> torch.Tensor:
        r2 = (x**2).sum(-1)
        return torch.where(r2 < 1.0, -r2, torch.full_like(r2, math.nan))

    s = sample_chains(
        log_prob,
        "nuts",
        event_shape=(2,),
        chains=2,
        draws=30,
        warmup=20,
        init_spread=0.5,
        progress=False,
    )
    assert torch.isfinite(s.x).all() and float((s.x**2).sum(-1).max()) < 1.0


def test_target_without_density_and_score_only_kernels() -> None:
    with pytest.raises(NotApplicableError, match="no density"):
        sample_chains(get_target("digits"), "nuts", progress=False)
    with pytest.raises(NotApplicableError, match="ula"):
        sample_chains(score=lambda x: -x, sampler="mala", event_shape=(2,), progress=False)
    # ULA runs on a score alone
    # on N(0, I) its stationary variance is 1 / (1 - ε²/4) (ESS ~ 2000: sd of the
    # variance estimate ~ 0.04)
    s = sample_chains(
        score=lambda x: -x,
        sampler="ula",
        event_shape=(2,),
        chains=8,
        draws=1000,
        warmup=0,
        step_size=0.8,
        progress=False,
    )
    assert abs(float(s.x[:, 200:].var()) - 1 / (1 - 0.8**2 / 4)) < 0.15
    assert math.isnan(s.info["accept_rate"])


def test_event_shapes_are_flattened_and_restored() -> None:
    s = sample_chains(
        lambda x: -0.5 * (x**2).sum((-2, -1)),
        "hmc",
        event_shape=(2, 3),
        chains=3,
        draws=20,
        warmup=20,
        progress=False,
    )
    assert s.x.shape == (3, 20, 2, 3)


def test_time_allowance_cuts_draws_not_warmup() -> None:
    """A slow density under a `Budget`: warm-up completes, sampling stops early with at
    least MIN_DRAWS draws, and `info` says so; without an allowance every draw is made."""
    import time as _time

    from genmodels.budget import Budget
    from genmodels.mcmc.driver import MIN_DRAWS

    def slow(x: torch.Tensor) -> torch.Tensor:
        _time.sleep(0.001)
        return -0.5 * (x**2).sum(-1)

    s = sample_chains(
        slow, "rwmh", event_shape=(2,), chains=2, draws=5000, warmup=50, progress=False,
        budget=Budget(0.1),
    )  # fmt: skip
    assert MIN_DRAWS <= s.x.shape[1] < 5000
    assert s.info["stopped_by_budget"] == 1.0 and s.info["draws"] == s.x.shape[1]
    assert s.stats["accept_prob"].shape == (2, s.x.shape[1])
    full = sample_chains(slow, "rwmh", event_shape=(2,), chains=2, draws=150, progress=False)
    assert full.x.shape[1] == 150 and full.info["stopped_by_budget"] == 0.0
