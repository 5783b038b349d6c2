"""Inpainting with the exact ε of a Gaussian prior, where p(x₂ | x₁) is known in closed form:
the Langevin corrector removes the bias of plain replacement and samples the exact
conditional; DPS lands near the exact conditional mean (it is an approximation)."""

from __future__ import annotations

import pytest
import torch

from genmodels.errors import InvalidInputError
from genmodels.hybrids.inpainting import inpaint

# thousands of tiny steps: a second intra-op thread only adds synchronisation
pytestmark = pytest.mark.usefixtures("one_thread")

# prior x ~ N(0, Σ) in 2-D, observe x₁ = 1.5: x₂ | x₁ ~ N(ρ x₁, 1 − ρ²)
RHO, X1 = 0.9, 1.5
COV = torch.tensor([[1.0, RHO], [RHO, 1.0]], dtype=torch.float64)
ABAR = (1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)).cumprod(0)
POST_MEAN, POST_SD = RHO * X1, (1 - RHO**2) ** 0.5
N = 2000
Y = torch.tensor([X1, 0.0], dtype=torch.float64).repeat(N, 1)
MASK = torch.tensor([1.0, 0.0], dtype=torch.float64)


def eps_exact(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """ε*(x_t) = σ_t Σ_t⁻¹ x_t, Σ_t = ᾱ_t Σ + (1 − ᾱ_t) I (differentiable in x_t)."""
    a = float(ABAR[t[0]])  # one level per call
    sigma_t = a * COV + (1 - a) * torch.eye(2, dtype=x.dtype)
    return (1 - a) ** 0.5 * x @ torch.linalg.inv(sigma_t)  # Σ_t symmetric


def test_corrector_fixes_replacement_bias_on_a_gaussian() -> None:
    def run(corrector_steps: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(0)
        out = inpaint(eps_exact, ABAR, Y, MASK, steps=100, corrector_steps=corrector_steps,
                      snr=0.3, clip_x0=None, generator=g)  # fmt: skip
        return out.x

    plain, corrected = run(0), run(5)
    assert torch.equal(corrected[:, 0], Y[:, 0])  # the given part is kept exactly
    assert abs(float(plain[:, 1].mean()) - POST_MEAN) > 0.3  # replacement alone: biased
    assert abs(float(corrected[:, 1].mean()) - POST_MEAN) < 0.05
    assert abs(float(corrected[:, 1].std()) - POST_SD) < 0.03


def _dps(monkeypatch: pytest.MonkeyPatch | None = None, guidance_sign: float = 1.0):
    if monkeypatch is not None:  # a broken DPS: guidance switched off or its sign flipped
        import genmodels.hybrids.inpainting as module

        real = module.dps_guidance

        def broken(*args):
            eps, grad = real(*args)
            return eps, guidance_sign * grad

        monkeypatch.setattr(module, "dps_guidance", broken)
    g = torch.Generator().manual_seed(0)
    return inpaint(eps_exact, ABAR, Y, MASK, method="dps", steps=100, zeta=0.1, clip_x0=None,
                   generator=g)  # fmt: skip


def test_dps_is_near_the_exact_conditional_mean_on_a_gaussian(monkeypatch) -> None:
    out = _dps()
    x1, x2 = out.x[:, 0], out.x[:, 1]
    # DPS replaces p(y | x_t) by p(y | x̂₀(x_t)) and is biased even here: early on the
    # guidance moves x₂ with x₁ (∂x̂₀₁/∂x_t ∝ (1, ρ) at high noise), and the prior does not
    # pull it all the way back. Measured at seed 0 (and 1): E[x₂] = 1.44 (1.46) against the
    # exact 1.35, so the tolerance is 0.2; without guidance E[x₂] = 0.0 (the prior) and with
    # the gradient's sign flipped −3.3: both miss by more than 1.
    assert abs(float(x2.mean()) - POST_MEAN) < 0.2
    # the known coordinate is pulled to y, not clamped: spread ~ζ (measured 0.12)
    assert abs(float(x1.mean()) - X1) < 0.05 and float(x1.std()) < 0.2
    assert not torch.equal(x1, Y[:, 0])
    assert out.nfe == 100
    for sign in (0.0, -1.0):
        broken = _dps(monkeypatch, sign).x
        assert abs(float(broken[:, 1].mean()) - POST_MEAN) > 1.0


def test_mask_broadcasts_and_selects_the_observed_entries() -> None:
    # a per-pixel mask for a batch of 2×2 "images": replacement keeps exactly the observed ones
    # (a zero network: the corrector has no score to follow and must not produce NaN)
    y = torch.arange(16.0).reshape(4, 1, 2, 2) / 16
    mask = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # broadcasts to [4, 1, 2, 2]
    out = inpaint(lambda x, t: torch.zeros_like(x), ABAR.float(), y, mask, steps=5,
                  generator=torch.Generator().manual_seed(0)).x  # fmt: skip
    assert out.shape == y.shape and bool(out.isfinite().all())
    observed = mask.bool().expand_as(y)
    assert torch.equal(out[observed], y[observed])
    assert not torch.equal(out[~observed], y[~observed])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "nope"},
        {"steps": 0},
        {"corrector_steps": -1},
        {"method": "dps", "zeta": 0.0},
        {"method": "dps", "corrector_steps": 2},
        {"mask": torch.ones(3)},  # does not broadcast to [2, 2]
        {"mask": torch.tensor([0.5, 1.0])},  # not 0/1
    ],
)
def test_bad_inputs_raise_invalid_input(kwargs) -> None:
    args = {"y": torch.zeros(2, 2), "mask": torch.tensor([1.0, 0.0]), **kwargs}
    with pytest.raises(InvalidInputError):
        inpaint(lambda x, t: torch.zeros_like(x), ABAR, **args)
