"""Contract tests for every diffusion method, and the PF-ODE likelihood against closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from analytic import Mixture
from safetensors.torch import load_file, save_file

import genmodels.diffusion as D
from genmodels.catalogue import get_method, list_methods
from genmodels.diffusion.likelihood import dequantized_nll, pf_ode_log_prob
from genmodels.diffusion.sde import VPSDE
from genmodels.errors import ConfigError, NotApplicableError, UnknownNameError

SMALL = {"width": 16, "depth": 1, "unet_base": 8, "unet_blocks": 1}
EVENTS = [(2,), (1, 8, 8)]


def build(name, event, **cfg):
    cls = get_method(name).build
    torch.manual_seed(0)
    model = cls(cls.Config(**SMALL, **cfg), event)
    with torch.no_grad():  # leave the zero-initialised output layers non-trivial
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def test_methods_are_registered():
    assert {s.name for s in list_methods("diffusion")} == {
        "ncsn",
        "ddpm",
        "sde_vp",
        "sde_ve",
        "sde_subvp",
        "flow_matching",
    }
    assert all(s.camp == "diffusion" for s in list_methods("diffusion"))
    for name in (s.name for s in list_methods("diffusion")):
        assert issubclass(get_method(name).build, D.DiffusionModel)


@pytest.mark.parametrize("event", EVENTS, ids=["vector", "image"])
@pytest.mark.parametrize("name", sorted(s.name for s in list_methods("diffusion")))
def test_method_contract(name, event, tmp_path):
    model = build(name, event)
    batch = torch.randn(8, *event)
    loss = model.loss(batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in model.net.parameters())
    # every sampler on vectors; on images the default one and Heun (the tensors' ranks differ)
    samplers = model.samplers if len(event) == 1 else {model.default_sampler, "heun"}
    for sampler in samplers:
        opts = {"steps_per_level": 2} if sampler == "annealed_langevin" else {}
        seen = []
        out = model.sample(
            3, sampler=sampler, steps=3, generator=torch.Generator().manual_seed(1),
            callback=lambda s, seen=seen: seen.append(tuple(s["x"].shape)), **opts,
        )  # fmt: skip
        assert out.x.shape == (3, *event) and torch.isfinite(out.x).all(), sampler
        assert out.nfe > 0 and seen and all(s == (3, *event) for s in seen)
    # determinism under a seed, and a safetensors round trip gives the same samples
    a = model.sample(
        4,
        sampler="ddim" if name == "ddpm" else "heun",
        steps=3,
        generator=torch.Generator().manual_seed(2),
    ).x
    save_file(model.state_dict(), tmp_path / "m.safetensors")
    clone = build(name, event)
    clone.load_state_dict(load_file(tmp_path / "m.safetensors"))
    b = clone.sample(
        4,
        sampler="ddim" if name == "ddpm" else "heun",
        steps=3,
        generator=torch.Generator().manual_seed(2),
    ).x
    torch.testing.assert_close(a, b)


def test_nfe_accounting_and_errors():
    model = build("ddpm", (2,))
    assert model.sample(5, sampler="ddim", steps=7).nfe == 7
    assert model.sample(5, sampler="ancestral", steps=9).nfe == 9
    assert model.sample(5, sampler="heun", steps=6).nfe == 11  # 2N − 1
    assert model.sample(5, sampler="dpmpp_2m", steps=6).nfe == 6
    with pytest.raises(NotApplicableError):
        model.sample(2, sampler="pc")
    with pytest.raises(UnknownNameError):
        model.sample(2, sampler="hewn")
    with pytest.raises(ConfigError):
        get_method("ddpm").build(get_method("ddpm").build.Config(schedule="quadratic"), (2,))
    sde = build("sde_vp", (2,))
    assert sde.sample(3, sampler="pc", steps=10).nfe == 20  # predictor + 1 corrector step
    assert sde.sample(3, sampler="euler_maruyama", steps=10).nfe == 10


GAUSS = Mixture([[0.5, -1.0]], [0.7], [1.0])  # x₀ ~ N(μ, 0.49 I)
CENTRED = Mixture([[0.0, 0.0]], [0.7], [1.0])


class ExactDDPM(D.DDPM):
    """A DDPM whose denoiser is the exact posterior mean of Gaussian data."""

    def denoiser(self, x_hat, sigma_hat):
        return x_hat - sigma_hat[:, None] * CENTRED.eps(
            x_hat, torch.ones_like(sigma_hat), sigma_hat
        )


def test_pf_ode_likelihood_of_gaussian_data_is_exact():
    """Song et al. 2021, App. D: with the exact score the PF-ODE NLL is the true one."""
    x = torch.tensor([[0.5, -1.0], [2.0, 0.0], [-1.0, -2.5]])
    model = ExactDDPM(ExactDDPM.Config(**SMALL), (2,))
    # the ODE starts from σ̂_min = 0.01, where the data carry that much noise: compare with p_σ̂min.
    # Centred data: the model's prior N(0, (σ̂_max² + 1) I) then differs from the true p_σ̂max by
    # O(1/σ̂_max²); a mean μ would add O(|μ|/σ̂_max) ≈ 0.007 nats (finite T, as in score_sde).
    truth = CENTRED.log_prob(x, 1.0, model.process.sigma_hat_min)
    result = model.pf_ode_log_prob(x)
    torch.testing.assert_close(result.log_prob, truth, atol=2e-3, rtol=0)
    assert result.nfe > 10
    # the same through the native VP drift f − ½ g² s with t ∈ [ε, 1] and prior N(0, I)
    vp = VPSDE()

    def drift(x_t, t):
        alpha, sigma = vp.marginal(t)
        return vp.probability_flow_drift(x_t, t, -GAUSS.eps(x_t, alpha, sigma) / sigma[:, None])

    a_T, s_T = vp.marginal(torch.tensor(1.0))
    exact_prior = lambda z: GAUSS.log_prob(z, a_T, s_T)  # noqa: E731  (p_T itself, not N(0, I))
    a, s = vp.marginal(torch.tensor(1e-3))
    r = pf_ode_log_prob(drift, x, (1e-3, 1.0), exact_prior)
    torch.testing.assert_close(r.log_prob, GAUSS.log_prob(x, a, s), atol=2e-3, rtol=0)


def test_hutchinson_divergence_and_dequantisation(generator):
    """Diagonal Jacobians make Rademacher probes exact; uniform density ⇒ NLL = d log L."""
    stds = torch.linspace(0.5, 2.0, 64).reshape(1, 8, 8)

    def drift(x, t):  # dx/dt = −x/(2 s²)... a linear ODE with a diagonal Jacobian
        return -0.5 * x / stds**2

    def prior(z):
        return -0.5 * (z * z).flatten(1).sum(1)

    x = torch.randn(3, 1, 8, 8, generator=generator)
    exact = pf_ode_log_prob(drift, x, (0.0, 1.0), prior, divergence="exact")
    hutch = pf_ode_log_prob(
        drift, x, (0.0, 1.0), prior, divergence="hutchinson", generator=generator
    )
    torch.testing.assert_close(hutch.log_prob, exact.log_prob, atol=1e-4, rtol=1e-5)
    L, d = 17, 64
    delta = 2 / (L - 1)
    uniform = lambda y: torch.full((y.shape[0],), -d * math.log(L * delta))  # noqa: E731
    levels = torch.randint(0, L, (5, 1, 8, 8), generator=generator) * delta - 1
    out = dequantized_nll(uniform, levels, num_levels=L, generator=generator)
    assert out["nll_nats"] == pytest.approx(d * math.log(L))
    assert out["bits_per_dim"] == pytest.approx(math.log2(L))
