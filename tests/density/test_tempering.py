"""The moves SMC and AIS share: the locally scaled step keeps π invariant."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.density import SMCSettings, run_smc
from genmodels.density.tempering import (
    GaussianReference,
    LocalStep,
    Particles,
    TemperedPath,
    local_step_scale,
    move,
)
from genmodels.mcmc.start import as_log_density
from genmodels.targets import get_target

pytestmark = pytest.mark.usefixtures("one_thread")


def _funnel_moved(monkeypatch: pytest.MonkeyPatch | None = None) -> torch.Tensor:
    """v of 4,000 exact draws of a 5-D funnel after 100 MALA moves with the local step, β = 1."""
    target = get_target("funnel", dim=5)
    g = torch.Generator().manual_seed(0)
    path = TemperedPath(as_log_density(target), GaussianReference(5, 3.0))
    x = target.sample(4000, g)
    p = Particles(x, *path.target.value_and_grad(x))
    beta, step = torch.ones(4000), torch.full((4000,), 0.5)
    for _ in range(5):
        p, _, _ = move(path, p, beta, "mala", moves=20, step_size=step, inverse_mass=None,
                       generator=g, options={}, jitter=1.0, local=True)  # fmt: skip
    return p.x[:, 0]


def test_local_step_keeps_a_funnel_invariant(monkeypatch: pytest.MonkeyPatch) -> None:
    """Started at the target, the chains stay there: v ~ N(0, 3²), P(v < −3) = Φ(−1). Without
    the reverse window check (the step then depends on the state alone) the same moves
    drift into the neck, where the steps are small and rarely leave: the check is what
    makes the state-dependent step π-invariant."""
    exact = 0.5 * (1 + math.erf(-1 / math.sqrt(2)))  # 0.1587
    v = _funnel_moved()
    assert abs(float(v.mean())) < 0.12
    assert float((v < -3).double().mean()) == pytest.approx(exact, abs=0.01)

    def unchecked(self, state, proposed, accepted, eps):
        return proposed, torch.ones_like(eps, dtype=torch.float64)

    monkeypatch.setattr(LocalStep, "check", unchecked)
    v = _funnel_moved()
    assert float(v.mean()) < -0.2 and float((v < -3).double().mean()) > exact + 0.02


def test_local_step_scale_is_the_local_scale() -> None:
    """About 1 (capped) in a Gaussian's bulk at the right preconditioner; e^(v/2) / σ in a
    funnel's neck, whatever the preconditioner σ²."""
    g = torch.Generator().manual_seed(0)
    x = 3.0 * torch.randn(1000, 10, generator=g)
    bulk = local_step_scale(-x / 9.0, torch.full((1000, 10), 9.0))
    assert float(bulk.median()) == pytest.approx(1.0, abs=0.05)
    funnel = as_log_density(get_target("funnel"))
    x = math.exp(-3) * torch.randn(1000, 9, generator=g)
    neck = torch.cat([torch.full((1000, 1), -6.0), x], 1)
    scale = local_step_scale(funnel.value_and_grad(neck)[1], torch.full((1000, 10), 4.0))
    assert float(scale.median()) == pytest.approx(math.exp(-3) / 2, rel=0.25)


def test_local_step_without_jitter_is_the_plain_step() -> None:
    """A window of one point would undo every move: with no jitter the local step is off,
    and SMC gives the plain step's run exactly."""
    target = get_target("funnel", dim=3)
    plain = dict(particles=50, populations=2, moves=2, step_jitter=0.0, max_step=0.1)
    a = run_smc(target, SMCSettings(local_step=True, **plain), seed=0)
    b = run_smc(target, SMCSettings(local_step=False, **plain), seed=0)
    assert torch.equal(a.x, b.x) and a.log_z == b.log_z
    c = run_smc(target, SMCSettings(local_step=True, **{**plain, "step_jitter": 1.0}), seed=0)
    assert not torch.equal(a.x, c.x)
