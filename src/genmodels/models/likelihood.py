"""Test-set negative log-likelihood of a learned model, with dequantisation for discrete data."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from genmodels.errors import InvalidInputError, NotApplicableError
from genmodels.models.base import GenerativeModel
from genmodels.models.common import dequantize, discrete_log_likelihood_offset

__all__ = ["check_scorable", "dataset_nll", "nll_summary", "point_log_prob"]


@torch.no_grad()
def _log_prob(model: GenerativeModel, x: Tensor) -> Tensor:
    return model.log_prob(x)


def dataset_nll(
    model: GenerativeModel,
    x: Tensor,
    *,
    num_levels: int | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = 1000,
) -> dict[str, Any]:
    """Mean negative log-likelihood of data ``x [n, *event]`` under ``model``, in nats.

    For discrete data (``num_levels`` L), each point is dequantised with uniform noise of one
    bin width δ = 2 / (L − 1) and the model's continuous log-density is turned into a
    log-probability of the discrete value: ``log P(x) ≥ E_u[log p(x + u)] + D log δ``
    (Theis et al. 2016). ``bits_per_dim = nll_nats / (D ln 2)``.

    Args:
        model: a model whose ``likelihood`` is ``"exact"`` or ``"bound"``.
        x: held-out data, e.g. ``target.test_set()``.
        num_levels: levels of discrete data (None or 0: continuous).
        generator: for the dequantisation noise.
        batch_size: points per `log_prob` call.

    Returns:
        ``{"nll_nats", "nll_stderr", "bits_per_dim", "kind", "dequantized", "n", "dim"}``;
        ``kind`` is the model's: a ``"bound"`` NLL is an upper bound on the true NLL.

    Example:
        >>> dataset_nll(flow, target.test_set(), num_levels=target.num_levels)  # doctest: +SKIP
        {'nll_nats': ..., 'bits_per_dim': ..., 'kind': 'exact', ...}
    """
    check_scorable(model, x)
    values = [
        point_log_prob(model, chunk, num_levels=num_levels, generator=generator)
        for chunk in x.split(batch_size)
    ]
    return nll_summary(model, torch.cat(values), num_levels=num_levels)


def check_scorable(model: GenerativeModel, x: Tensor) -> None:
    """Refuse, before any work, a model without a likelihood or data of another shape."""
    if model.likelihood == "none":
        raise NotApplicableError(f"{type(model).__name__} has no likelihood (it is sample-only)")
    if tuple(x.shape[1:]) != tuple(model.event_shape):
        raise InvalidInputError(
            f"data of shape {tuple(x.shape[1:])} do not fit a model of event shape "
            f"{tuple(model.event_shape)}"
        )


def point_log_prob(
    model: GenerativeModel,
    x: Tensor,
    *,
    num_levels: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """log p of each point of one batch ``x [b, *event]`` (float64 on the CPU), dequantised
    with ``generator`` for discrete data, before the bin-width offset of `nll_summary`: the
    piece a sharded job computes per batch (`genmodels.distributed.sharded_nll`)."""
    device = next((b.device for b in model.buffers()), torch.device("cpu"))
    if num_levels and num_levels > 1:
        x = dequantize(x, num_levels, generator)
    return _log_prob(model, x.to(device)).double().cpu()


def nll_summary(
    model: GenerativeModel, log_p: Tensor, *, num_levels: int | None = None
) -> dict[str, Any]:
    """The result of `dataset_nll` from the per-point values of `point_log_prob` ``[n]``."""
    dim = math.prod(model.event_shape)
    discrete = bool(num_levels and num_levels > 1)
    if discrete:
        log_p = log_p + discrete_log_likelihood_offset(dim, num_levels)  # type: ignore[arg-type]
    if not torch.isfinite(log_p).all():
        raise InvalidInputError("the model gives a non-finite log-likelihood on this data")
    nll = float(-log_p.mean())
    stderr = float(log_p.std() / math.sqrt(len(log_p))) if len(log_p) > 1 else float("nan")
    return {
        "nll_nats": nll,
        "nll_stderr": stderr,
        "bits_per_dim": nll / (dim * math.log(2)),
        "kind": model.likelihood,
        "dequantized": discrete,
        "n": len(log_p),
        "dim": dim,
    }
