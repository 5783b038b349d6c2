"""Chain diagnostics through ArviZ: rank-normalised split R-hat, bulk/tail ESS, MCSE,
divergences and autocorrelation (Vehtari et al. 2021, "Rank-normalization, folding,
and localization: an improved R-hat").

All functions take draws in chain layout ``[chains, draws, *event]`` (a `Samples` with
``chains`` set, or a tensor/array). Summaries flatten the event to one ``param`` axis named
by the parameter blocks (``theta[0]``); `to_inference_data` keeps one variable per block.
"""

from __future__ import annotations

import math
from typing import Any

import arviz as az
import numpy as np
import torch
import xarray as xr

from genmodels.errors import InvalidInputError
from genmodels.samples import Samples
from genmodels.targets.constraints import ParamSpace, as_param_space

__all__ = ["ARVIZ_STATS", "autocorrelation", "chain_summary", "sample_stats", "to_inference_data"]


def _as_array(samples: Samples | torch.Tensor | np.ndarray) -> np.ndarray:
    """``[chains, draws, d]`` float64 numpy array."""
    if isinstance(samples, Samples):
        if samples.chains is None:
            raise InvalidInputError("chain diagnostics need samples in chain layout")
        x = samples.x
    else:
        x = samples
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2:
        raise InvalidInputError(f"need draws of shape [chains, draws, ...], got {x.shape}")
    return x.reshape(x.shape[0], x.shape[1], -1)  # [chains, draws, *event] -> [chains, draws, d]


ARVIZ_STATS = {
    "log_prob": "lp",
    "energy": "energy",
    "accept_prob": "acceptance_rate",
    "divergent": "diverging",
    "tree_depth": "tree_depth",
    "num_grad_evals": "n_steps",
}
"""`ChainSamples.stats` keys -> ArviZ's ``sample_stats`` names (``lp`` is the log-density the
kernel ran on: unconstrained, Jacobian included, as Stan's ``lp__``)."""


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def sample_stats(
    stats: dict[str, torch.Tensor], step_size: torch.Tensor | None = None
) -> dict[str, np.ndarray]:
    """Per-draw statistics ``[chains, draws]`` under ArviZ's names, only those the kernel has:
    ``energy`` and ``n_steps`` (leapfrog steps) for Hamiltonian kernels, ``tree_depth`` for
    NUTS (other kernels report depth 0), ``step_size`` (constant per chain after warm-up).

    Example:
        >>> stats = {"accept_prob": torch.rand(2, 5), "tree_depth": torch.zeros(2, 5)}
        >>> sorted(sample_stats(stats, torch.ones(2)))
        ['acceptance_rate', 'step_size']
    """
    out: dict[str, np.ndarray] = {}
    for key, name in ARVIZ_STATS.items():
        if key not in stats:
            continue
        value = _numpy(stats[key])
        if key == "tree_depth" and not value.any():
            continue
        if key == "num_grad_evals" and "energy" not in stats:
            continue
        out[name] = value.astype(bool) if key == "divergent" else value
    if step_size is not None and out:
        shape = next(iter(out.values())).shape  # [chains, draws]
        out["step_size"] = np.broadcast_to(_numpy(step_size).reshape(-1, 1), shape).copy()
    return out


def _blocks(
    x: np.ndarray, space: ParamSpace
) -> tuple[dict[str, np.ndarray], dict[str, list[str]], dict[str, Any]]:
    """Draws ``[chains, draws, d]`` as one variable per block, with ArviZ dims and coords."""
    chains, draws = x.shape[:2]
    variables, dims, coords, start = {}, {}, {}, 0
    for block in space.blocks:
        values = x[:, :, start : start + block.size].reshape(chains, draws, *block.shape)
        variables[block.name] = values
        dims[block.name] = list(block.dim_names)
        coords.update({k: list(v) for k, v in block.coords.items()})
        start += block.size
    return variables, dims, coords


def _attrs(samples: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
    import genmodels

    merged = {
        "inference_library": "genmodels",
        "inference_library_version": genmodels.__version__,
        **(getattr(samples, "attrs", None) or {}),
        **(attrs or {}),
    }
    return {k: v for k, v in merged.items() if v is not None}  # netCDF has no None


def to_inference_data(
    samples: Samples | torch.Tensor | np.ndarray,
    names: list[str] | None = None,
    var_name: str = "x",
    *,
    space: ParamSpace | None = None,
    attrs: dict[str, Any] | None = None,
) -> az.InferenceData:
    """ArviZ `InferenceData` of chain-layout draws, as ArviZ users expect it.

    - ``posterior``: one variable per parameter block (a `ChainSamples`' ``space``, or
      ``space=``), with its dims and coords (``mu``, ``tau``, ``theta[school]``); without
      blocks one variable ``x`` of the flattened event; with ``names``, the flat layout of
      one variable ``var_name`` with a ``param`` dimension labelled by ``names``;
    - ``sample_stats``: `sample_stats` of a `ChainSamples` (``lp``, ``energy``, ``diverging``,
      ``tree_depth``, ``n_steps``, ``acceptance_rate``, ``step_size``), so ``az.bfmi``,
      ``az.plot_energy`` and ``az.plot_trace(divergences=True)`` work;
    - ``warmup_posterior`` / ``warmup_sample_stats`` when the run kept its warm-up;
    - ``attrs`` on every group: ``inference_library`` (genmodels) and its version, the
      sampler and seed of the run, and ``attrs``.

    Example:
        >>> idata = to_inference_data(torch.randn(2, 50, 3), ["a", "b", "c"])
        >>> idata.posterior["x"].shape
        (2, 50, 3)
    """
    x = _as_array(samples)
    if names is not None:
        return _flat_inference_data(x, names, var_name, samples, attrs)
    space = space or getattr(samples, "space", None) or as_param_space(None, x.shape[-1])
    if space.dim != x.shape[-1]:
        raise InvalidInputError(f"{space.dim} values in the blocks, {x.shape[-1]} in the draws")
    posterior, dims, coords = _blocks(x, space)
    groups: dict[str, Any] = {"posterior": posterior}
    stats = getattr(samples, "stats", None)
    if stats:
        groups["sample_stats"] = sample_stats(stats, getattr(samples, "step_size", None))
    warmup_x = getattr(samples, "warmup_x", None)
    if warmup_x is not None and warmup_x.shape[1] > 0:
        groups["warmup_posterior"] = _blocks(_as_array(warmup_x), space)[0]
        groups["warmup_sample_stats"] = sample_stats(samples.warmup_stats)
        groups["save_warmup"] = True
    idata = az.from_dict(**groups, dims=dims, coords=coords)
    for group in idata.groups():  # ArviZ's own attrs (created_at, arviz_version) stay
        idata[group].attrs.update(_attrs(samples, attrs))
    return idata


def _flat_inference_data(
    x: np.ndarray, names: list[str], var_name: str, samples: Any, attrs: dict[str, Any] | None
) -> az.InferenceData:
    """One variable ``var_name`` of dims (chain, draw, param), ``param`` labelled ``names``."""
    chains, draws, d = x.shape
    names = list(names)
    if len(names) != d:
        raise InvalidInputError(f"{len(names)} names for {d} coordinates")
    coords = {"chain": np.arange(chains), "draw": np.arange(draws), "param": names}
    posterior = xr.Dataset({var_name: (("chain", "draw", "param"), x)}, coords=coords)
    groups: dict[str, Any] = {"posterior": posterior}
    stats = getattr(samples, "stats", None)
    if stats:
        data = sample_stats(stats, getattr(samples, "step_size", None))
        groups["sample_stats"] = xr.Dataset(
            {k: (("chain", "draw"), v) for k, v in data.items()},
            coords={"chain": coords["chain"], "draw": coords["draw"]},
        )
    for group in groups.values():
        group.attrs.update(_attrs(samples, attrs))
    return az.InferenceData(**groups)


def chain_summary(
    samples: Samples | torch.Tensor | np.ndarray, names: list[str] | None = None
) -> dict[str, Any]:
    """Per-parameter mean, sd, ESS (bulk, tail), MCSE (mean) and rank R-hat, plus totals.

    Returns:
        ``{"params": {name: {mean, sd, mcse_mean, ess_bulk, ess_tail, r_hat}},
        "min_ess_bulk", "min_ess_tail", "max_r_hat", "divergences"}``; R-hat is NaN
        for a single chain.

    Example:
        >>> s = chain_summary(torch.randn(4, 200, 2))
        >>> s["max_r_hat"] < 1.05
        True
    """
    if names is None:
        space = getattr(samples, "space", None)
        names = space.names if space is not None else None
    if names is None:
        names = [f"x[{i}]" for i in range(_as_array(samples).shape[-1])]
    idata = to_inference_data(samples, names)
    x = idata.posterior["x"]
    chains = x.shape[0]
    ess_bulk = az.ess(idata, method="bulk")["x"].values
    ess_tail = az.ess(idata, method="tail")["x"].values
    mcse = az.mcse(idata, method="mean")["x"].values
    r_hat = (
        az.rhat(idata, method="rank")["x"].values if chains > 1 else np.full(x.shape[-1], math.nan)
    )
    mean = x.mean(("chain", "draw")).values
    sd = x.std(("chain", "draw"), ddof=1).values
    params = {
        str(name): {
            "mean": float(mean[i]),
            "sd": float(sd[i]),
            "mcse_mean": float(mcse[i]),
            "ess_bulk": float(ess_bulk[i]),
            "ess_tail": float(ess_tail[i]),
            "r_hat": float(r_hat[i]),
        }
        for i, name in enumerate(x.coords["param"].values)
    }
    stats = getattr(samples, "stats", None) or {}
    divergences = int(stats["divergent"].sum()) if "divergent" in stats else 0
    return {
        "params": params,
        "min_ess_bulk": float(np.nanmin(ess_bulk)),
        "min_ess_tail": float(np.nanmin(ess_tail)),
        "max_r_hat": float(np.nanmax(r_hat)) if chains > 1 else math.nan,
        "divergences": divergences,
    }


def autocorrelation(samples: Samples | torch.Tensor | np.ndarray, max_lag: int = 100) -> np.ndarray:
    """Autocorrelation per chain and coordinate, ``[chains, max_lag + 1, d]`` (FFT, ArviZ)."""
    x = _as_array(samples)
    lags = min(max_lag, x.shape[1] - 1) + 1
    rho = az.autocorr(x, axis=1)  # [chains, draws, d]
    return rho[:, :lags]
