"""Chain diagnostics (ArviZ): R-hat, ESS and autocorrelation against known answers."""

from __future__ import annotations

import numpy as np
import torch

from genmodels.mcmc import ChainSamples
from genmodels.metrics.chains import autocorrelation, chain_summary, to_inference_data


def _ar1(chains: int, draws: int, phi: float, seed: int = 0) -> np.ndarray:
    """Stationary AR(1) chains x_t = φ x_{t-1} + sqrt(1-φ²) ε_t, ``[chains, draws, 1]``."""
    rng = np.random.default_rng(seed)
    x = np.empty((chains, draws))
    x[:, 0] = rng.standard_normal(chains)
    noise = rng.standard_normal((chains, draws)) * np.sqrt(1 - phi**2)
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x[..., None]


def test_ess_and_autocorrelation_of_ar1() -> None:
    phi = 0.8
    x = _ar1(4, 5000, phi)
    s = chain_summary(x)
    expected_ess = 4 * 5000 * (1 - phi) / (1 + phi)  # = 2222
    assert 0.8 * expected_ess < s["min_ess_bulk"] < 1.2 * expected_ess
    assert s["max_r_hat"] < 1.01
    rho = autocorrelation(x, max_lag=5).mean(0)[:, 0]
    np.testing.assert_allclose(rho, phi ** np.arange(6), atol=0.03)


def test_r_hat_flags_chains_in_different_places() -> None:
    x = np.random.default_rng(1).standard_normal((4, 500, 2))
    x[:2, :, 0] += 3.0  # two chains elsewhere in coordinate 0
    s = chain_summary(x, ["a", "b"])
    assert s["params"]["a"]["r_hat"] > 1.1
    assert s["params"]["b"]["r_hat"] < 1.02


def test_inference_data_carries_names_and_sample_stats() -> None:
    stats = {"divergent": torch.zeros(2, 30, dtype=torch.bool), "accept_prob": torch.rand(2, 30)}
    stats["divergent"][0, 3] = True
    samples = ChainSamples(torch.randn(2, 30, 3), chains=2, stats=stats)
    idata = to_inference_data(samples, ["a", "b", "c"])
    assert list(idata.posterior["x"].coords["param"].values) == ["a", "b", "c"]
    assert int(idata.sample_stats["diverging"].sum()) == 1
    assert chain_summary(samples)["divergences"] == 1
