"""flow_mh and neutra_hmc are exact whatever the flow; a trained flow makes them efficient."""

from __future__ import annotations

import pytest
import torch

from genmodels.catalogue import list_methods
from genmodels.hybrids import FlowFitConfig, fit_flow, flow_mh, neutra_hmc
from genmodels.metrics.chains import chain_summary
from genmodels.models.flow import Flow, FlowConfig
from genmodels.targets import get_target

# thousands of tiny steps: a second intra-op thread only adds synchronisation
pytestmark = pytest.mark.usefixtures("one_thread")


def _correlated_gaussian():
    cov = torch.tensor([[1.0, 0.8], [0.8, 1.0]])
    mean = torch.tensor([1.0, -2.0])
    dist = torch.distributions.MultivariateNormal(mean, cov)
    return dist.log_prob, mean, cov


def test_methods_are_hybrids() -> None:
    assert [s.name for s in list_methods("hybrid")] == ["flow_mh", "neutra_hmc"]


def test_flow_mh_exact_with_an_untrained_flow() -> None:
    # a poor proposal (a random flow, widened ×3 so that p/q is bounded: uniform ergodicity)
    # still yields the right moments
    torch.manual_seed(0)
    log_prob, mean, cov = _correlated_gaussian()
    flow = Flow(FlowConfig(kind="realnvp", transforms=2, hidden=8), (2,))
    flow.requires_grad_(False)
    flow.standardize.scale.fill_(3.0)
    s = flow_mh(log_prob, flow, chains=8, draws=2000, generator=torch.Generator().manual_seed(1))
    x = s.x[:, 200:].reshape(-1, 2)
    summary = chain_summary(s.x[:, 200:])
    mcse = torch.tensor([p["mcse_mean"] for p in summary["params"].values()])
    assert ((x.mean(0) - mean).abs() < 5 * mcse + 0.02).all()
    assert torch.allclose(torch.cov(x.T), cov, atol=0.15)
    assert 0.0 < s.info["accept_rate"] < 0.9


@pytest.mark.slow
def test_neutra_exact_with_an_untrained_flow() -> None:
    torch.manual_seed(0)
    log_prob, mean, cov = _correlated_gaussian()
    flow = Flow(FlowConfig(kind="realnvp", transforms=2, hidden=8), (2,))
    flow.requires_grad_(False)
    # a fixed step size (no warm-up) keeps this cheap; the pulled-back density is near N(a, Σ)
    s = neutra_hmc(log_prob, flow, sampler="hmc", chains=4, draws=150, warmup=0, step_size=0.3,
                   kernel_options={"num_steps": 5})  # fmt: skip
    x = s.flat()
    assert tuple(s.x.shape) == (4, 150, 2)
    assert ((x.mean(0) - mean).abs() < 0.2).all()
    assert torch.allclose(torch.cov(x.T), cov, atol=0.25)


def test_flow_mh_on_eight_gaussians_mixes() -> None:
    target = get_target("eight_gaussians")
    flow, _ = fit_flow(target, FlowFitConfig(steps=150, transforms=4, hidden=32), seed=0)
    # enough draws that R-hat tests mixing, not which side of 1.01 one fit seed happens to fall
    s = flow_mh(target.log_prob, flow, chains=4, draws=1600, generator=torch.Generator())
    summary = chain_summary(s)
    assert summary["max_r_hat"] <= 1.01
    assert s.info["accept_rate"] > 0.2
    weights = torch.bincount(target.modes.assign(s.flat()), minlength=8) / s.n
    assert (weights - 1 / 8).abs().max() < 0.04


def test_reverse_kl_fit_reduces_kl() -> None:
    target = get_target("banana")
    config = FlowFitConfig(objective="reverse", steps=60, transforms=2, hidden=16)
    _, early = fit_flow(target, FlowFitConfig(**{**config.__dict__, "steps": 1}), seed=0)
    _, late = fit_flow(target, config, seed=0)
    assert late["loss"] < early["loss"] - 0.5
