"""Intrinsic-dimension estimators recover known dimensions; digits sit far below 64."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.demos.manifold import levina_bickel_mle, two_nn


@pytest.mark.parametrize("d", [2, 6])
def test_estimators_recover_linear_dimension(d: int, generator: torch.Generator) -> None:
    z = torch.randn(1500, d, generator=generator) @ torch.randn(d, 64, generator=generator)
    assert two_nn(z)[0] == pytest.approx(d, rel=0.15)
    assert levina_bickel_mle(z, k=10) == pytest.approx(d, rel=0.15)


def test_estimators_see_through_curvature(generator: torch.Generator) -> None:
    # a circle in 10-D: intrinsic dimension 1, though it spans 2 linear dimensions
    t = 2 * math.pi * torch.rand(1000, generator=generator)
    circle = torch.stack([t.cos(), t.sin()], -1) @ torch.randn(2, 10, generator=generator)
    assert two_nn(circle)[0] == pytest.approx(1.0, abs=0.2)
    assert levina_bickel_mle(circle, k=10) == pytest.approx(1.0, abs=0.2)
