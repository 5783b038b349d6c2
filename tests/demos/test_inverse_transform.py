"""Exact CDF inversion samples the mixture; a small flow learns the same monotone map."""

from __future__ import annotations

import pytest
import torch

from genmodels.demos.inverse_transform import inverse_cdf, ks_distance, mixture_1d, mixture_cdf

# thousands of tiny steps: a second intra-op thread only adds synchronisation
pytestmark = pytest.mark.usefixtures("one_thread")


def test_inverse_cdf_inverts_the_cdf() -> None:
    target = mixture_1d()
    u = torch.linspace(0.001, 0.999, 999, dtype=torch.float64)
    assert torch.allclose(mixture_cdf(target, inverse_cdf(target, u)), u, atol=1e-10)


def test_ks_distance_separates_right_from_wrong(generator: torch.Generator) -> None:
    target = mixture_1d()
    n = 4000
    good = target.sample(n, generator)[:, 0]
    shifted = good + 0.3
    assert ks_distance(target, good) < 1.628 / n**0.5  # passes a 1 % KS test
    assert ks_distance(target, shifted) > 0.05


def test_inverse_transform_demo_quick(tmp_path) -> None:
    from genmodels.demos.inverse_transform import run

    r = run(tmp_path, seed=0, quick=True)
    assert r["ks_inverse_transform"] < r["ks_reference_1pct"]  # exact map: exact samples
    assert r["ks_flow"] < 0.08  # a 200-step flow is close, not exact
    assert r["nll_flow"] == pytest.approx(r["nll_exact"], abs=0.15)
    assert r["map_mean_abs_error_central"] < 0.2
    assert (tmp_path / r["figure"]).is_file()
