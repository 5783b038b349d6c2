"""The x̂₀ bound: an ε error amplified by σ̂ at high noise no longer sends samples far away.

A DDPM whose network is replaced by the exact ε of N(0, s² I) (plus, for the bad network, a
constant error): with the exact ε the bound changes nothing; with the bad one the unbounded
samples land far outside the data and the bounded ones stay within the recorded range.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genmodels.diffusion import DDPM
from genmodels.diffusion.parameterization import dynamic_threshold

S = 1.5


class ExactEps(nn.Module):
    """ε(x_t, t) of N(0, S² I) under a `DiscreteSchedule`, at fractional t (log-σ̂ interpolation,
    as `DiscreteSchedule.sigma_hat_to_t` inverts it), with ``error`` added: a constant plus
    the same fraction of x_t (an under-trained network's ε̂ ≈ (1 + a) x_t at high noise)."""

    def __init__(self, schedule, error: float = 0.0) -> None:
        super().__init__()
        self.log_table = schedule.sigmas_hat.log().float()
        self.error = error

    def forward(self, x_t, t, labels=None):
        lo = t.floor().long().clamp(0, len(self.log_table) - 2)
        w = (t - lo)[:, None]
        sigma_hat = (
            (1 - w) * self.log_table[lo][:, None] + w * self.log_table[lo + 1][:, None]
        ).exp()
        alpha = (1 + sigma_hat.square()).rsqrt()
        x_hat = x_t / alpha
        eps = x_hat * sigma_hat / (S**2 + sigma_hat.square())  # (x̂ − D)/σ̂
        return eps + self.error * (1 + x_t)


def _model(error: float) -> DDPM:
    model = DDPM(DDPM.Config(width=8, depth=1), (2,))
    model.net = ExactEps(model.schedule, error)
    model.init_from_data(S * torch.randn(256, 2, generator=torch.Generator().manual_seed(0)))
    return model.eval()


def _unbounded(model: DDPM) -> DDPM:
    model.x0_range.copy_(DDPM(DDPM.Config(width=8, depth=1), (2,)).x0_range)
    return model


@pytest.mark.parametrize("sampler", ["ddim", "heun", "dpmpp_2m"])
def test_the_bound_keeps_a_biased_eps_in_range_and_leaves_the_exact_one_alone(sampler):
    gen = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    exact = _model(0.0).sample(2000, sampler=sampler, generator=gen()).x
    exact_unbounded = _unbounded(_model(0.0)).sample(2000, sampler=sampler, generator=gen()).x
    torch.testing.assert_close(exact, exact_unbounded)
    assert abs(float(exact.std()) - S) < 0.1

    bad = _model(-0.5)
    high = float(bad.x0_range.abs().max())
    bounded = bad.sample(2000, sampler=sampler, generator=gen()).x
    unbounded = _unbounded(_model(-0.5)).sample(2000, sampler=sampler, generator=gen()).x
    assert float(unbounded.abs().max()) > 2 * high  # the σ̂-amplified error
    assert float(bounded.abs().max()) <= high + 1e-4


def test_a_checkpoint_without_the_range_loads_unbounded():
    model = _model(0.0)
    state = {k: v for k, v in model.state_dict().items() if k != "x0_range"}
    fresh = DDPM(DDPM.Config(width=8, depth=1), (2,))
    fresh.net = ExactEps(fresh.schedule)
    fresh.load_state_dict(state, strict=True)
    assert float(fresh.x0_range.abs().min()) > 1e30


def test_dynamic_threshold_pulls_saturated_pixels_in():
    x0 = torch.tensor([[0.2, -0.5, 4.0, 0.9]])
    out = dynamic_threshold(x0, 0.5)  # s = median |x0| = 0.7 → max(s, 1) = 1: plain clipping
    torch.testing.assert_close(out, x0.clamp(-1, 1))
    out = dynamic_threshold(x0, 1.0)  # s = 4: everything divided by 4
    torch.testing.assert_close(out, x0 / 4)
    model = DDPM(DDPM.Config(width=8, depth=1, dynamic_threshold=0.99), (2,))
    model.net = ExactEps(model.schedule, error=3.0)
    assert float(model.eval().sample(200, sampler="ddim").x.abs().max()) <= 1.0 + 1e-5
