"""A user's own density: ``--target model.py:NAME`` end to end, and constrained blocks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import arviz as az
import numpy as np
import pytest
import torch
from torch.distributions import Beta, Gamma, biject_to, constraints

from genmodels.errors import InvalidInputError
from genmodels.mcmc import sample_chains
from genmodels.metrics.chains import chain_summary
from genmodels.targets import DensityTarget, ParamBlock, ParamSpace, get_target, load_density
from genmodels.targets.unconstrained import unconstrained

MODEL = """
import torch

D = 10
_g = torch.Generator().manual_seed(3)
_a = torch.randn(D, D, generator=_g)
COV = _a @ _a.T / D + 0.5 * torch.eye(D)  # a correlated Gaussian, condition ~ 10
PREC = torch.linalg.inv(COV)


def log_prob(x):
    return -0.5 * ((x @ PREC) * x).sum(-1)
"""


def _write(tmp_path: Path, text: str, name: str = "model.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.slow
def test_nuts_on_a_density_file_recovers_its_covariance(cli, tmp_path: Path) -> None:
    """The issue's check: `mcmc --target model.py:log_prob --dim 10` -> covariance within
    4 MCSE, entry by entry (the products x_i x_j have mean Σ_ij, the true mean being 0)."""
    model = _write(tmp_path, MODEL)
    out = tmp_path / "run"
    args = ("--chains", "4", "--draws", "250", "--warmup", "150", "--seed", "1")
    cli("mcmc", "--target", f"{model}:log_prob", "--dim", "10", *args, "--out", out,
        "--no-progress", "--no-plots", check=True)  # fmt: skip
    idata = az.from_netcdf(out / "posterior.nc")
    x = torch.as_tensor(idata.posterior["x"].values)  # [chains, draws, 10]
    assert x.shape == (4, 250, 10)
    products = (x[..., :, None] * x[..., None, :]).reshape(4, 250, 100)
    summary = chain_summary(products)
    est = np.array([p["mean"] for p in summary["params"].values()])
    mcse = np.array([p["mcse_mean"] for p in summary["params"].values()])
    assert load_density(model, "log_prob", dim=10).dim == 10
    truth = np.asarray(_module_cov(model)).reshape(-1)  # the file's own COV
    z = np.abs(est - truth) / mcse
    assert z.max() < 4, z.max()
    # a sampler that got the correlations wrong fails: the identity is far outside 4 MCSE
    assert (np.abs(est - np.eye(10).reshape(-1)) / mcse).max() > 10


def _module_cov(path: Path) -> torch.Tensor:
    namespace: dict = {}
    exec(path.read_text(), namespace)
    return namespace["COV"]


@pytest.mark.slow
def test_constrained_blocks_are_sampled_with_their_jacobian() -> None:
    """Gamma(3, 2) on a positive block and Beta(2, 5) on (0, 1): NUTS in unconstrained space
    returns draws in the supports whose means are the true ones within 4 MCSE (without the
    Jacobian, the draws' law would be p(T(z)) in z, whose means are off)."""

    def log_prob(x: torch.Tensor) -> torch.Tensor:
        return Gamma(3.0, 2.0).log_prob(x[:, 0]) + Beta(2.0, 5.0).log_prob(x[:, 1])

    blocks = [ParamBlock("s", support=constraints.positive),
              ParamBlock("p", support=constraints.unit_interval)]  # fmt: skip
    target = DensityTarget(log_prob, params=blocks)
    s = sample_chains(target, "nuts", chains=4, draws=300, warmup=150, seed=3, progress=False)
    assert s.x.shape == (4, 300, 2)
    assert bool((s.x[..., 0] > 0).all()) and bool(((s.x[..., 1] > 0) & (s.x[..., 1] < 1)).all())
    summary = chain_summary(s)
    assert list(summary["params"]) == ["s", "p"]
    for name, truth in (("s", 1.5), ("p", 2 / 7)):
        p = summary["params"][name]
        assert abs(p["mean"] - truth) < 4 * p["mcse_mean"], (name, p)
    # the draws' log_prob statistic is the unconstrained density the kernel ran on
    view = unconstrained(target)
    z = target.param_space().unconstrain(s.x[:, -1])
    torch.testing.assert_close(s.stats["log_prob"][:, -1], view.log_prob(z), rtol=1e-4, atol=1e-4)


def test_param_space_round_trip_and_log_det_match_autograd() -> None:
    space = ParamSpace([ParamBlock("a", (2,)), ParamBlock("w", (3,), constraints.simplex),
                        ParamBlock("r", support=constraints.interval(-1.0, 2.0))])  # fmt: skip
    assert space.dim == 6 and space.unconstrained_dim == 5
    z = torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x, log_det = space.constrain_with_log_det(z)
    torch.testing.assert_close(space.unconstrain(x), z)
    assert torch.allclose(x[:, 2:5].sum(-1), torch.ones(4, dtype=torch.float64))
    # element-wise blocks: log|dx/dz| by autograd; the simplex's by torch's own transform
    r = z[:, 4].clone().requires_grad_(True)
    (dr,) = torch.autograd.grad(biject_to(constraints.interval(-1.0, 2.0))(r).sum(), r)
    simplex = biject_to(constraints.simplex)
    expected = dr.log() + simplex.log_abs_det_jacobian(z[:, 2:4], simplex(z[:, 2:4]))
    torch.testing.assert_close(log_det, expected)
    with pytest.raises(InvalidInputError, match="outside its support"):
        space.unconstrain(torch.cat([x[:, :5], torch.full((4, 1), 3.0, dtype=torch.float64)], 1))


def test_eight_schools_view_is_the_textbook_density_in_log_tau() -> None:
    """The chains' density of eight_schools is log p(μ, τ, θ) + log τ at τ = exp(log τ)."""
    target = get_target("eight_schools")
    assert [b.name for b in target.params] == ["mu", "tau", "theta"]
    x = torch.randn(6, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    mu, log_tau, theta = x[:, 0], x[:, 1], x[:, 2:]
    tau = log_tau.exp()
    y = torch.tensor([28.0, 8, -3, 7, -1, 1, 18, 12], dtype=torch.float64)
    sigma = torch.tensor([15.0, 10, 16, 11, 9, 11, 10, 18], dtype=torch.float64)
    expected = (
        torch.distributions.Normal(0, 5).log_prob(mu)
        + torch.distributions.HalfCauchy(5).log_prob(tau)
        + log_tau
        + torch.distributions.Normal(mu[:, None], tau[:, None]).log_prob(theta).sum(-1)
        + torch.distributions.Normal(theta, sigma).log_prob(y).sum(-1)
    )
    torch.testing.assert_close(unconstrained(target).log_prob(x), expected)


def test_density_file_variants(tmp_path: Path) -> None:
    """A Target subclass (built with dim), a Target instance, a DensityTarget with blocks."""
    path = _write(
        tmp_path,
        """
        import torch
        from torch.distributions import constraints
        from genmodels.targets import DensityTarget, ParamBlock, Target

        class Ring(Target):
            kind = "posterior"
            def __init__(self, dim=2):
                self.event_shape = (dim,)
            def log_prob(self, x):
                return -((x.norm(dim=-1) - 2.0) ** 2)

        ring = Ring(3)

        def _lp(x):
            return -0.5 * x[:, 0] ** 2 - x[:, 1]

        scaled = DensityTarget(_lp, params=[ParamBlock("m"),
                                            ParamBlock("s", support=constraints.positive)])
    """,
    )
    assert get_target(f"{path}:Ring", dim=4).event_shape == (4,)
    assert get_target(f"{path}:ring").event_shape == (3,)
    scaled = get_target(f"{path}:scaled")
    assert scaled.param_names() == ["m", "s"]
    with pytest.raises(InvalidInputError, match="not --dim 5"):
        get_target(f"{path}:ring", dim=5)
