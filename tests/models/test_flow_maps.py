"""Flows: the density is normalised and the sampler inverts it; the VAE bound is a bound."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.models.flow import Flow, FlowConfig
from genmodels.models.vae import VAE, VAEConfig


@pytest.mark.parametrize("kind", ["nsf", "maf", "realnvp"])
def test_flow_density_integrates_to_one(kind: str) -> None:
    torch.manual_seed(0)
    flow = Flow(FlowConfig(kind=kind, transforms=3, hidden=32), (2,))
    flow.init_from_data(torch.randn(512, 2) * torch.tensor([1.5, 0.7]) + 0.5)
    with torch.no_grad():  # make the map far from the identity
        for p in flow.flow.parameters():
            p.add_(0.2 * torch.randn_like(p))
    h = 0.08
    g = torch.arange(-12.0, 12.0, h) + h / 2
    grid = torch.cartesian_prod(g, g)  # (M, 2) cell centres
    with torch.no_grad():
        mass = float(flow.log_prob(grid).exp().sum() * h * h)
    assert mass == pytest.approx(1.0, abs=0.01)


def test_flow_sample_inverts_the_density_map() -> None:
    torch.manual_seed(0)
    flow = Flow(FlowConfig(kind="nsf", transforms=2, hidden=16), (2,))
    with torch.no_grad():
        for p in flow.flow.parameters():
            p.add_(0.3 * torch.randn_like(p))
    frames = []
    x = flow.sample(
        200, generator=torch.Generator().manual_seed(0), callback=lambda i, x: frames.append(x)
    ).x
    with torch.no_grad():
        z = flow.flow().transform(x)
    assert torch.allclose(z, frames[0], atol=1e-4)
    assert len(frames) == 3 and torch.equal(frames[-1], x)


def test_iwae_bound_tightens_the_elbo() -> None:
    torch.manual_seed(0)
    vae = VAE(VAEConfig(hidden=32, depth=2), (2,))
    x = torch.randn(2000, 2)
    with torch.no_grad():
        elbo = vae.log_prob(x, k=1).mean()
        iwae = vae.log_prob(x, k=64).mean()
    # For a Gaussian target the true log-likelihood bounds both from above.
    true = (-0.5 * (x**2).sum(-1) - math.log(2 * math.pi)).mean()
    assert elbo < iwae < true + 0.05
