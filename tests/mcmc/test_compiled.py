"""The compiled hot path (``compile=True``) gives a correct sampler, and falls back to eager."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genmodels.errors import ConfigError
from genmodels.mcmc import NUTS, LogDensity, sample_chains
from genmodels.mcmc.hmc import compile_seconds, leapfrog_fn
from genmodels.metrics.chains import chain_summary

D = 3
MU = torch.tensor([1.0, -1.0, 0.5])
COV = torch.tensor([[0.25, 0.25, 0.3], [0.25, 1.0, -0.8], [0.3, -0.8, 4.0]])
PRECISION = torch.linalg.inv(COV)


def log_prob(x: torch.Tensor) -> torch.Tensor:
    z = x - MU
    return -0.5 * ((z @ PRECISION) * z).sum(-1)


def _moment_z_scores(x: torch.Tensor) -> np.ndarray:
    """(estimate - truth) / MCSE of every mean and covariance entry."""
    z = x - MU
    products = (z[..., :, None] * z[..., None, :]).reshape(*z.shape[:2], D * D)
    summary = chain_summary(torch.cat([x, products], dim=-1))
    est = np.array([p["mean"] for p in summary["params"].values()])
    mcse = np.array([p["mcse_mean"] for p in summary["params"].values()])
    return (est - torch.cat([MU, COV.reshape(-1)]).numpy()) / mcse


@pytest.mark.slow
def test_compiled_nuts_recovers_gaussian_moments() -> None:
    before = compile_seconds()
    s = sample_chains(
        log_prob,
        "nuts",
        event_shape=(D,),
        chains=4,
        draws=250,
        warmup=200,
        kernel_options={"compile": True},
        seed=1,
        progress=False,
    )
    assert compile_seconds() > before  # it did compile
    assert np.abs(_moment_z_scores(s.x)).max() < 4.5


def test_failed_compilation_falls_back_to_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    density = LogDensity(log_prob, (D,))
    x, r = torch.randn(5, D), torch.randn(5, D)
    _, g = density.value_and_grad(x)
    eps, inv_mass = torch.full((5, 1), 0.1), torch.ones(5, D)
    eager = leapfrog_fn(density, False)(x, r, g, eps, inv_mass)

    def no_backend(fn, **kwargs):
        def fail(*args):
            raise RuntimeError("no C++ compiler")

        return fail

    monkeypatch.setattr(torch, "compile", no_backend)
    step = leapfrog_fn(LogDensity(log_prob, (D,)), True)
    with pytest.warns(RuntimeWarning, match="no C.. compiler.*running eagerly"):
        out = step(x, r, g, eps, inv_mass)
    for a, b in zip(eager, out, strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(step(x, r, g, eps, inv_mass)[0], eager[0])  # stays eager


def test_unknown_compile_mode_is_a_config_error() -> None:
    density = LogDensity(log_prob, (D,))
    kernel = NUTS(density, step_size=0.1, compile="sometimes")
    with pytest.raises(ConfigError, match="compile must be"):
        kernel.step(kernel.init(torch.zeros(2, D)), torch.Generator().manual_seed(0))
