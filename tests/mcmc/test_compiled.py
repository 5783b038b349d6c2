"""The compiled hot path (``compile=True``) gives a correct sampler, and falls back to eager."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genmodels.errors import ConfigError
from genmodels.mcmc import NUTS, LogDensity, hmc, sample_chains
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

    def no_backend(fn, example):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(hmc, "compile_graph", no_backend)
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


def test_packed_subtree_round_trips() -> None:
    from genmodels.mcmc.nuts import _pack, _SubTree, _unpack

    g = torch.Generator().manual_seed(0)
    c, d, depth = 3, 2, 4
    sub = _SubTree(
        *torch.randn(4, c, d, generator=g),
        torch.randn(c, generator=g),
        torch.randn(c, d, generator=g),
        torch.randn(c, generator=g),
        torch.randn(c, d, generator=g),
        torch.rand(c, generator=g),
        torch.tensor([0, 5, 1023]),
        torch.tensor([True, False, True]),
        torch.tensor([False, False, True]),
        torch.randn(depth, c, d, generator=g),
        torch.randn(depth, c, d, generator=g),
    )
    back = _unpack(*_pack(sub))
    for name, a, b in zip(sub._fields, sub, back, strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b), name


@pytest.mark.slow
def test_compiled_nuts_transitions_match_eager() -> None:
    """The compiled tree (begin, leaves four at a time, merge) is the eager tree: same draws
    from the same generator, so the same transitions. The start has both ends of every
    trajectory as one tensor, which a graph traced on aliased inputs would get wrong."""
    density = LogDensity(log_prob, (D,))
    x0 = torch.zeros(6, D)
    results = []
    for mode in (False, True):
        kernel = NUTS(density, step_size=0.3, compile=mode)
        state, g = kernel.init(x0), torch.Generator().manual_seed(3)
        for _ in range(4):
            state, info = kernel.step(state, g)
        results.append((state.position, info.tree_depth, info.num_grad_evals))
    (x_eager, depth_eager, n_eager), (x_comp, depth_comp, n_comp) = results
    assert depth_eager.max() >= 2  # sub-trees of four leaves were built
    assert torch.equal(depth_eager, depth_comp) and torch.equal(n_eager, n_comp)
    torch.testing.assert_close(x_comp, x_eager, rtol=1e-4, atol=1e-5)
