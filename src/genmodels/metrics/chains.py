"""Chain diagnostics through ArviZ: rank-normalised split R-hat, bulk/tail ESS, MCSE,
divergences and autocorrelation (Vehtari et al. 2021, "Rank-normalization, folding,
and localization: an improved R-hat").

All functions take draws in chain layout ``[chains, draws, *event]`` (a `Samples` with
``chains`` set, or a tensor/array) and flatten the event to one ``param`` axis.
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

__all__ = ["autocorrelation", "chain_summary", "to_inference_data"]


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


def to_inference_data(
    samples: Samples | torch.Tensor | np.ndarray,
    names: list[str] | None = None,
    var_name: str = "x",
) -> az.InferenceData:
    """ArviZ `InferenceData` with one posterior variable ``x`` of dims (chain, draw, param).

    Per-draw statistics of a `ChainSamples` (acceptance, divergences, tree depth, gradient
    evaluations) go to ``sample_stats`` under ArviZ's names, so ``az.plot_trace(idata,
    divergences=True)`` and friends work.

    Args:
        samples: chain-layout draws.
        names: one label per flattened coordinate (default ``x[0]``, ``x[1]``, ...).

    Example:
        >>> idata = to_inference_data(torch.randn(2, 50, 3), ["a", "b", "c"])
        >>> idata.posterior["x"].shape
        (2, 50, 3)
    """
    x = _as_array(samples)
    chains, draws, d = x.shape
    names = list(names) if names is not None else [f"x[{i}]" for i in range(d)]
    if len(names) != d:
        raise InvalidInputError(f"{len(names)} names for {d} coordinates")
    coords = {"chain": np.arange(chains), "draw": np.arange(draws), "param": names}
    posterior = xr.Dataset({var_name: (("chain", "draw", "param"), x)}, coords=coords)
    groups: dict[str, Any] = {"posterior": posterior}
    stats = getattr(samples, "stats", None)
    if stats:
        arviz_names = {
            "accept_prob": "acceptance_rate",
            "divergent": "diverging",
            "tree_depth": "tree_depth",
            "num_grad_evals": "n_steps",
        }
        data = {
            arviz_names[k]: (("chain", "draw"), v.detach().cpu().numpy())
            for k, v in stats.items()
            if k in arviz_names
        }
        groups["sample_stats"] = xr.Dataset(
            data, coords={"chain": coords["chain"], "draw": coords["draw"]}
        )
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
