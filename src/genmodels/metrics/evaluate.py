"""`evaluate_samples`: score a sample against a target with the metrics of its kind.

Image data sets get the offline image metrics of `genmodels.metrics.image` (``fd``,
``fd_floor``, ``precision``, ``recall``). For other targets with an exact sampler (2-D toys,
funnel, the Gaussians) the sample is compared with an exact reference sample of the same size:

- ``mmd``: squared MMD (biased V-statistic, multi-bandwidth RBF kernel whose bandwidths are
  fixed per target, from a fixed-seed reference sample) between the sample and the reference;
- ``mmd_floor``: what the same statistic scores between two independent exact samples of the
  same size n — the best any sampler can reach, since the V-statistic is not zero for finite
  n. It is the expectation E[MMD²_b] = (2/n)(E k(x, x) − E k(x, x′)), estimated without bias
  from the exact reference sample (a U-statistic for E k(x, x′)). A single realised pair
  scatters from seed to seed; its expectation makes "mmd ≤ c × mmd_floor" a
  statement about the sampler rather than about the floor's luck.
- ``energy_distance`` and ``sliced_wasserstein`` (SW₂) against the same reference;
- for mixtures ``modes_covered``, ``modes_total`` and ``mode_weight_tv``.

A data set of vectors (`genmodels.targets.data.DataTarget`) has no exact sampler beyond its
rows, so its reference is its **held-out test split** (m rows, ``reference_n``), never the
train rows a model learnt: the floor is then E[MMD²_b] between an n-sample and an m-sample
of the data distribution, (1/n + 1/m)(E k(x, x) − E k(x, x′)), estimated from the test split.
Its samples are scored in the target's standardised coordinates.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from genmodels.errors import InvalidInputError, NotApplicableError
from genmodels.metrics.distances import pairwise_means, rbf_bandwidths, sliced_wasserstein
from genmodels.metrics.image import evaluate_images
from genmodels.metrics.modes import DEFAULT_MIN_SHARE, mode_weight_tv, modes_covered
from genmodels.samples import Samples
from genmodels.targets.base import Target
from genmodels.targets.data import DataTarget
from genmodels.training.distributed import DistInfo

__all__ = ["BANDWIDTH_SEED", "check_sample", "evaluate_samples", "target_bandwidths"]

# The bandwidth reference is drawn at this seed whatever the evaluation seed, so one target
# always has one kernel. The evaluation references use seeds far from the small integers
# people pass to their own samplers (an evaluated sample must not be the reference itself).
BANDWIDTH_SEED = 20_121_987
_REFERENCE_SEED_OFFSET = 7_919_000
_BANDWIDTH_POINTS = 1000


def check_sample(x: Tensor | Samples, target: Target) -> Tensor:
    """Validate a sample against a target and return it as ``[n, *event_shape]`` floats.

    Chain layouts (`Samples` with ``chains`` set) are flattened.

    Raises:
        InvalidInputError: wrong event shape, fewer than two points, or non-finite values.
    """
    if isinstance(x, Samples):
        if x.event_shape != tuple(target.event_shape):
            raise InvalidInputError(
                f"samples have event shape {x.event_shape} but target {target.name!r} has "
                f"{tuple(target.event_shape)}"
            )
        x = x.flat()
    event = tuple(target.event_shape)
    if x.ndim != 1 + len(event) or tuple(x.shape[1:]) != event:
        raise InvalidInputError(
            f"samples have shape {tuple(x.shape)} but target {target.name!r} needs "
            f"[n, {', '.join(map(str, event))}]"
        )
    if x.shape[0] < 2:
        raise InvalidInputError(f"need at least 2 samples to evaluate, got {x.shape[0]}")
    x = x.detach().to(torch.float32) if not x.is_floating_point() else x.detach()
    bad = int((~torch.isfinite(x.reshape(x.shape[0], -1))).any(1).sum())
    if bad:
        raise InvalidInputError(f"{bad} of {x.shape[0]} samples contain NaN or infinite values")
    return x


def _exact_sample(target: Target, n: int, seed: int) -> Tensor:
    if not target.has_samples:
        raise NotApplicableError(
            f"target {target.name!r} has no exact sampler to compare with, so sample metrics "
            "do not apply (use chain diagnostics instead)"
        )
    # A CPU generator: the reference is the same on every machine (callers move it to ``x``).
    return target.sample(n, generator=torch.Generator().manual_seed(seed)).detach()


def _held_out(target: Target) -> Tensor | None:
    """The test split of a vector data set (its reference), None for other targets."""
    if isinstance(target, DataTarget):
        return target.test_set().detach()
    return None


def target_bandwidths(target: Target) -> Tensor:
    """The RBF bandwidths used for ``target``: factors × median distance of a fixed sample.

    Example:
        >>> from genmodels.targets.base import Target
        >>> class Normal(Target):
        ...     kind, event_shape = "toy2d", (2,)
        ...     def sample(self, n, generator=None):
        ...         return torch.randn(n, 2, generator=generator)
        >>> target_bandwidths(Normal()).shape
        torch.Size([6])
    """
    held_out = _held_out(target)
    if held_out is not None:
        return rbf_bandwidths(held_out[:_BANDWIDTH_POINTS])
    return rbf_bandwidths(_exact_sample(target, _BANDWIDTH_POINTS, BANDWIDTH_SEED))


def _expected_mmd2_floor(mean_kernel: float, m: int, num_bandwidths: int, n: int) -> float:
    """E[MMD²_b] between independent n- and m-samples of P: (1/n + 1/m)(k(x, x) − E k(x, x′)).

    ``mean_kernel`` is the V-statistic mean of k over the exact m-sample (diagonal included);
    every k(x, x) equals ``num_bandwidths``, so removing the diagonal leaves the U-statistic
    of E k(x, x′). With m = n this is (2/n)(k(x, x) − E k(x, x′)).
    """
    k_diag = float(num_bandwidths)
    k_off = (mean_kernel * m * m - k_diag * m) / (m * (m - 1))  # unbiased E k(x, x')
    return max((1.0 / n + 1.0 / m) * (k_diag - k_off), 0.0)


def evaluate_samples(
    x: Tensor | Samples,
    target: Target,
    *,
    seed: int = 0,
    min_share: float = DEFAULT_MIN_SHARE,
    info: DistInfo | None = None,
) -> dict[str, Any]:
    """Score a sample against a target (the `genmodels evaluate` metrics).

    Args:
        x: the sample ``[n, *event_shape]``, or `Samples` (chains are flattened).
        target: what the sample should come from; needs an exact sampler.
        seed: seeds the exact reference sample and the random projections.
        min_share: a mode counts as covered when it gets at least this share of its
            expected count n·w_k.
        info: a `torchrun` job (`genmodels.distributed.join`) whose ranks all call this
            with the same sample: the pairwise sums' row blocks and the image features'
            batches are split over them, and every rank returns the one-process metrics
            (up to the order of float64 additions). None: this process alone.

    Returns:
        ``{"n", "mmd", "mmd_floor", "energy_distance", "sliced_wasserstein"}`` and, when the
        target has modes, ``"modes_covered", "modes_total", "mode_weight_tv"``; for a vector
        data set also ``"reference_n"``, the size of the test split it is scored against (``x``
        in the target's standardised coordinates, as its models sample); for image
        data sets ``{"n", "fd", "fd_floor", "precision", "recall"}`` and Inception FID or
        ``unavailable: {"inception_fid": reason}`` (see `evaluate_images`).

    Raises:
        InvalidInputError: wrong shape or non-finite samples.
        NotApplicableError: the target has no exact sampler (or, for images, no labels to
            train the feature classifier on).

    Example:
        >>> from genmodels.targets.base import Target
        >>> class Normal(Target):
        ...     kind, event_shape = "toy2d", (2,)
        ...     def sample(self, n, generator=None):
        ...         return torch.randn(n, 2, generator=generator)
        >>> x = torch.randn(1000, 2, generator=torch.Generator().manual_seed(1))
        >>> m = evaluate_samples(x, Normal())
        >>> sorted(m)
        ['energy_distance', 'mmd', 'mmd_floor', 'n', 'sliced_wasserstein']
        >>> m["mmd"] < 3 * m["mmd_floor"]
        True
    """
    if not target.has_samples:
        _exact_sample(target, 0, 0)  # raises NotApplicableError before any shape complaint
    x = check_sample(x, target)
    if target.kind == "image":
        return evaluate_images(x, target, seed=seed, info=info)
    return _evaluate_distribution(x, target, seed=seed, min_share=min_share, info=info)


def _evaluate_distribution(
    x: Tensor, target: Target, *, seed: int, min_share: float, info: DistInfo | None
) -> dict[str, float | int]:
    n = x.shape[0]
    bandwidths = target_bandwidths(target)
    base = _REFERENCE_SEED_OFFSET + 2 * seed
    held_out = _held_out(target)
    reference = (held_out if held_out is not None else _exact_sample(target, n, base)).to(x)
    m = reference.shape[0]
    # The three pair sums behind mmd2(x, ref) and energy_distance(x, ref), each computed once.
    xx = pairwise_means(x, x, bandwidths, same=True, info=info)
    rr = pairwise_means(reference, reference, bandwidths, same=True, info=info)
    xr = pairwise_means(x, reference, bandwidths, info=info)
    result: dict[str, float | int] = {
        "n": n,
        "mmd": max(xx.kernel + rr.kernel - 2.0 * xr.kernel, 0.0),
        "mmd_floor": _expected_mmd2_floor(rr.kernel, m, len(bandwidths), n),
        "energy_distance": max(2.0 * xr.distance - xx.distance - rr.distance, 0.0),
        "sliced_wasserstein": sliced_wasserstein(
            x, reference, generator=torch.Generator().manual_seed(base + 1)
        ),
    }
    if held_out is not None:
        result["reference_n"] = m
    if target.modes is not None:
        result["modes_covered"] = modes_covered(x, target.modes, min_share)
        result["modes_total"] = target.modes.k
        result["mode_weight_tv"] = mode_weight_tv(x, target.modes)
    return result
