"""What a method's samples cost (seconds, evaluations of the target, effective sample size
per second) and how good its estimate of log Z is."""

from __future__ import annotations

import math
from typing import Any

from genmodels.density.base import Cost
from genmodels.samples import Samples

__all__ = ["chain_diagnostics", "cost_summary", "log_z_summary", "target_cost_summary"]


def chain_diagnostics(samples: Samples) -> dict[str, float]:
    """ArviZ diagnostics of a chain run (`genmodels.metrics.chains.chain_summary`).

    Args:
        samples: `Samples` in chain layout ``[chains, draws, *event]``.

    Returns:
        ``{"min_ess_bulk", "min_ess_tail", "max_r_hat", "divergences"}`` over all coordinates
        (rank-normalised split R-hat), plus the sampler's ``accept_rate`` when reported.

    Example:
        >>> import torch
        >>> s = Samples(torch.randn(4, 200, 2, generator=torch.Generator().manual_seed(0)),
        ...             chains=4)
        >>> d = chain_diagnostics(s)
        >>> 400 < d["min_ess_bulk"] <= 1200 and d["max_r_hat"] < 1.05
        True
    """
    from genmodels.metrics.chains import chain_summary

    summary = chain_summary(samples)
    out = {key: float(summary[key]) for key in ("min_ess_bulk", "min_ess_tail", "max_r_hat")}
    out["divergences"] = float(summary["divergences"] or samples.info.get("divergences", 0.0))
    if "accept_rate" in samples.info:
        out["accept_rate"] = float(samples.info["accept_rate"])
    return out


def cost_summary(
    samples: Samples, train_seconds: float = 0.0, min_ess_bulk: float | None = None
) -> dict[str, Any]:
    """The cost columns of a comparison row.

    Args:
        samples: what the method drew (``seconds`` and ``nfe`` filled in by the sampler).
        train_seconds: training time (0 for chains).
        min_ess_bulk: for chains, the min bulk ESS over coordinates (`chain_diagnostics`).

    Returns:
        ``train_seconds``; ``sample_seconds`` (chains: warm-up included);
        ``sample_seconds_per_1000``; ``nfe_per_sample`` (network or gradient evaluations
        one sample needs: for a batched independent sampler its NFE count, since one call
        on a batch is one NFE; for chains the gradient evaluations per draw of one chain,
        warm-up included); ``n``; ``ess`` (chains: min bulk ESS; an
        independent sampler: its sample count); ``ess_per_second`` (ESS over the seconds of
        the sampling phase — chains: after warm-up, as in the ArviZ/Stan convention).

    Example:
        >>> import torch
        >>> c = cost_summary(Samples(torch.zeros(2000, 2), nfe=100, seconds=0.5), 10.0)
        >>> c["nfe_per_sample"], c["ess"], c["ess_per_second"], c["sample_seconds_per_1000"]
        (100.0, 2000.0, 4000.0, 0.25)
    """
    n = samples.n
    seconds = float(samples.seconds)
    if samples.chains is not None:
        ess = min_ess_bulk
        sampling_seconds = float(samples.info.get("seconds_sampling", seconds))
        nfe_per_sample = samples.nfe / n if n else math.nan  # nfe sums over chains
    else:
        ess = float(n)
        sampling_seconds = seconds
        nfe_per_sample = float(samples.nfe)
    ess_per_second = ess / sampling_seconds if ess is not None and sampling_seconds > 0 else None
    return {
        "train_seconds": float(train_seconds),
        "sample_seconds": seconds,
        "sample_seconds_per_1000": 1000.0 * seconds / n if n else math.nan,
        "nfe_per_sample": nfe_per_sample,
        "n": n,
        "ess": ess,
        "ess_per_second": ess_per_second,
    }


def target_cost_summary(cost: Cost | None, train_seconds: float, sample_seconds: float) -> dict:
    """The cost columns in the comparison's common unit: ``density_evals``, ``grad_evals``
    and ``target_evals`` (their sum; each one row of one call of the target, training
    included) when the method says them, and ``seconds``, its own time (train + sample,
    without evaluation and figures).

    Example:
        >>> target_cost_summary(Cost(10, 5), 1.0, 0.5)
        {'density_evals': 10, 'grad_evals': 5, 'target_evals': 15, 'seconds': 1.5}
    """
    out: dict[str, Any] = {}
    if cost is not None:
        out = {
            "density_evals": int(cost.density_evals),
            "grad_evals": int(cost.grad_evals),
            "target_evals": int(cost.target_evals),
        }
    out["seconds"] = float(train_seconds) + float(sample_seconds)
    return out


def log_z_summary(log_z: dict[str, Any], true_log_z: float | None) -> dict[str, Any]:
    """A method's log Z estimate against the truth, for a row of the comparison.

    Args:
        log_z: ``estimate``, ``se``, ``kind``, ``ess_fraction`` (`MethodOutput.log_z`).
        true_log_z: the target's `log_z` (None: unknown).

    Returns:
        ``log_z``, ``log_z_se``, ``log_z_kind``, ``ess_fraction`` and, when the truth is
        known, ``true_log_z``, ``delta_log_z`` (estimate − truth), ``abs_delta_log_z`` and
        ``delta_in_se`` (the error in standard errors; None without a finite, positive se);
        ``{}`` for a method without an estimate.

    Example:
        >>> s = log_z_summary({"estimate": 1.1, "se": 0.05, "kind": "unbiased Z",
        ...                    "ess_fraction": 0.5}, 1.0)
        >>> round(s["abs_delta_log_z"], 6), round(s["delta_in_se"], 6)
        (0.1, 2.0)
    """
    if not log_z:
        return {}
    estimate, se = float(log_z["estimate"]), float(log_z.get("se", math.nan))
    out: dict[str, Any] = {
        "log_z": estimate,
        "log_z_se": se,
        "log_z_kind": str(log_z.get("kind", "")),
        "ess_fraction": log_z.get("ess_fraction"),
    }
    if true_log_z is not None:
        delta = estimate - float(true_log_z)
        out["true_log_z"] = float(true_log_z)
        out["delta_log_z"] = delta
        out["abs_delta_log_z"] = abs(delta)
        out["delta_in_se"] = delta / se if math.isfinite(se) and se > 0 else None
    return out
