"""The compiled hot path (``compile=True``) gives a correct sampler, and falls back to eager."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genmodels.errors import ConfigError
from genmodels.mcmc import NUTS, LogDensity, compaction, hmc, sample_chains
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
def test_compiled_nuts_doublings_match_eager() -> None:
    """The compiled tree steps (begin, leaves four at a time, merge) compute the eager ones:
    the same doublings from the same inputs and draws. The start has both ends of every
    trajectory as one tensor, which a graph traced on aliased inputs would get wrong."""
    from genmodels.mcmc import nuts

    density = LogDensity(log_prob, (D,))
    g = torch.Generator().manual_seed(3)
    chains = 6
    x0 = torch.randn(chains, D, generator=g)
    lp0, grad0 = density.value_and_grad(x0)
    r0 = torch.randn(chains, D, generator=g)
    eps, inv_mass = torch.full((chains, 1), 0.3), torch.ones(chains, D)
    energy0 = -lp0 + 0.5 * (r0**2).sum(-1)
    trees = []
    for mode in (False, True):
        kernel = NUTS(density, step_size=0.3, compile=mode)
        ops, tree = kernel._tree_ops(), nuts._start(x0, r0, lp0, grad0)
        gen = torch.Generator().manual_seed(4)
        for depth in range(4):
            going_right = torch.rand(chains, generator=gen) < 0.5
            u = torch.rand(2**depth, chains, generator=gen)
            sub, eps_dir = ops.begin(tree, going_right, eps)
            n = 4 if mode and depth >= 2 else 1
            for k in range(0, 2**depth, n):
                write, check = nuts._mask_tensors(k, n, kernel.max_tree_depth, x0.device)
                sub, _ = ops.leaves(sub, tree.done, eps_dir, inv_mass, energy0, write, check,
                                    u[k : k + n])  # fmt: skip
            tree, _ = ops.merge(tree, sub, going_right, inv_mass, torch.rand(chains, generator=gen))
        trees.append(tree)
    eager, comp = trees
    assert eager.num_leaves.max() >= 8  # sub-trees of four leaves were built
    for name, a, b in zip(eager._fields, eager, comp, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)


def test_compiled_nuts_compaction_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Moving a sub-tree's chains still building into a smaller batch (`SubtreeCompactor`) gives
    the same transitions as running every row to the end: same draws, same trees. The
    graphs run eagerly here (compiling fails on purpose: the bookkeeping is what is
    tested, and compiling every batch size would cost a minute)."""
    from types import SimpleNamespace

    from genmodels.mcmc import nuts

    smaller = []
    update = compaction.SubtreeCompactor.update

    def counting(self, state):
        out = update(self, state)
        if out is not None and out[0].shape[0] < state[0].shape[0]:
            smaller.append(out[0].shape[0])
        return out

    def no_backend(fn, example):
        raise RuntimeError("no compiler in this test")

    monkeypatch.setattr(compaction.SubtreeCompactor, "update", counting)
    monkeypatch.setattr(hmc, "compile_graph", no_backend)
    monkeypatch.setattr(nuts, "_SHARED", SimpleNamespace())  # keep the real graphs apart
    chains = 32
    x0 = torch.randn(chains, D, generator=torch.Generator().manual_seed(5))
    eps = torch.linspace(0.02, 0.9, chains)  # trees of very different depths
    runs = []
    for below in (0.0, 0.5):  # 0: never compacts
        kernel = NUTS(LogDensity(log_prob, (D,)), step_size=eps, compile=True,
                      compact_below=below, compact_min_chains=8, compact_min_rows=4)  # fmt: skip
        state, gen, out = kernel.init(x0), torch.Generator().manual_seed(6), []
        with pytest.warns(RuntimeWarning, match="running eagerly"):
            for _ in range(3):
                state, info = kernel.step(state, gen)
                out.append((state.position, info.num_grad_evals, info.tree_depth))
        runs.append(out)
    assert smaller and min(smaller) == 4  # it compacted, down to the smallest batch
    for (x_a, n_a, d_a), (x_b, n_b, d_b) in zip(*runs, strict=True):
        assert torch.equal(n_a, n_b) and torch.equal(d_a, d_b)
        torch.testing.assert_close(x_b, x_a, rtol=1e-5, atol=1e-6)
