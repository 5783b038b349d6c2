"""Inpainting with the exact ε of a Gaussian prior: the Langevin corrector removes the bias
of plain replacement and samples the exact conditional."""

from __future__ import annotations

import pytest
import torch

from genmodels.hybrids.inpainting import inpaint

# thousands of tiny steps: a second intra-op thread only adds synchronisation
pytestmark = pytest.mark.usefixtures("one_thread")


def test_corrector_fixes_replacement_bias_on_a_gaussian() -> None:
    # prior x ~ N(0, Σ) in 2-D, observe x₁ = 1.5: x₂ | x₁ ~ N(ρ x₁, 1 − ρ²)
    rho = 0.9
    cov = torch.tensor([[1.0, rho], [rho, 1.0]], dtype=torch.float64)
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    abar = (1 - betas).cumprod(0)

    def eps_exact(x, t):  # ε*(x_t) = σ_t Σ_t⁻¹ x_t, Σ_t = ᾱ_t Σ + (1 − ᾱ_t) I
        a = float(abar[t[0]])  # one level per call
        sigma_t = a * cov + (1 - a) * torch.eye(2, dtype=x.dtype)
        return (1 - a) ** 0.5 * x @ torch.linalg.inv(sigma_t)  # Σ_t symmetric

    n = 2000
    y = torch.tensor([1.5, 0.0], dtype=torch.float64).repeat(n, 1)
    mask = torch.tensor([1.0, 0.0], dtype=torch.float64)
    mean, sd = rho * 1.5, (1 - rho**2) ** 0.5

    def run(corrector_steps: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(0)
        out = inpaint(eps_exact, abar, y, mask, steps=100, corrector_steps=corrector_steps,
                      snr=0.3, clip_x0=None, generator=g)  # fmt: skip
        return out.x

    plain, corrected = run(0), run(5)
    assert torch.equal(corrected[:, 0], y[:, 0])  # the given part is kept exactly
    assert abs(float(plain[:, 1].mean()) - mean) > 0.3  # replacement alone: biased
    assert abs(float(corrected[:, 1].mean()) - mean) < 0.05
    assert abs(float(corrected[:, 1].std()) - sd) < 0.03
