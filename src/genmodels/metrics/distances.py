"""Two-sample distances between a sample and a reference: MMD, energy distance, sliced W.

All take ``x`` ``[n, *event]`` and ``y`` ``[m, *event]`` (flattened to ``[n, d]``). Pairwise
statistics are computed in float32 blocks of about 2^17 entries and summed in float64, so
memory stays small however many points are compared (timings: benchmarks/README.md). Under
`torchrun` (``info=`` a job of `genmodels.distributed`) the row blocks are split over the
ranks and the sums added up over them (`genmodels.distributed.all_sum`).

Notation (code → paper):
    ``x, y``        → samples X ~ P, Y ~ Q
    ``bandwidths``  → σ_b of the RBF kernel k(x, y) = Σ_b exp(-‖x − y‖² / (2 σ_b²))
    ``mmd2``        → MMD²_b, the biased V-statistic (Gretton et al. 2012, eq. 5)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from genmodels.distributed import all_sum
from genmodels.errors import InvalidInputError
from genmodels.metrics._cpu import one_cpu_thread
from genmodels.training.distributed import DistInfo

__all__ = [
    "DEFAULT_BANDWIDTH_FACTORS",
    "PairwiseMeans",
    "energy_distance",
    "median_pairwise_distance",
    "mmd2",
    "pairwise_means",
    "rbf_bandwidths",
    "sliced_wasserstein",
]

# Multiples of the median pairwise distance of the target. The median of a multi-modal toy is
# about the distance between modes, so the small factors see the shape inside a mode and the
# large ones the placement of the modes. Consecutive factors differ by 2, so each extra
# bandwidth costs two squarings instead of an exp (see `pairwise_means`).
DEFAULT_BANDWIDTH_FACTORS: tuple[float, ...] = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0, 2.0)

# Kernel blocks of about this many entries stay in cache; bigger blocks are slower, not faster.
_BLOCK_ENTRIES = 2**17
# Kernel entries are floored at exp(-43) ≈ 2e-19, whose square is still a normal float32:
# denormals (from exp or from squaring) make every later op much slower on x86, and an entry
# of 2e-19 instead of 0 changes no printed digit of a V-statistic.
_MIN_EXPONENT = -43.0
_MIN_KERNEL = math.exp(_MIN_EXPONENT)


def _as_matrix(x: Tensor, name: str) -> Tensor:
    """``[n, *event]`` → ``[n, d]`` in float32."""
    if x.ndim < 1 or x.shape[0] < 1:
        raise InvalidInputError(f"{name} must have at least one row, got shape {tuple(x.shape)}")
    return x.detach().reshape(x.shape[0], -1).to(torch.float32)  # (n, d)


def _check_pair(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    x, y = _as_matrix(x, "x"), _as_matrix(y, "y")
    if x.shape[1] != y.shape[1]:
        raise InvalidInputError(f"x has {x.shape[1]} dimensions per point but y has {y.shape[1]}")
    return x, y.to(x.device)


def _sq_dists(a: Tensor, b: Tensor) -> Tensor:
    """Squared Euclidean distances ``[len(a), len(b)]``.

    Low dimensions sum squared coordinate differences (exact for close points); higher ones
    use ‖a‖² + ‖b‖² − 2 aᵀb (a matrix product; callers centre the inputs first).
    """
    if a.shape[1] <= 4:
        d2 = (a[:, None, 0] - b[None, :, 0]).square_()
        for j in range(1, a.shape[1]):
            d2 += (a[:, None, j] - b[None, :, j]).square_()
        return d2
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return d2.clamp_min_(0.0)


def _squarings(gamma_prev: float | None, gamma: float) -> int | None:
    """``j`` with γ = 2^j γ_prev (1 ≤ j ≤ 8): exp(−γ d²) is exp(−γ_prev d²) squared j times."""
    if gamma_prev is None:
        return None
    j = round(math.log2(gamma / gamma_prev))
    if 1 <= j <= 8 and math.isclose(gamma, gamma_prev * 2**j, rel_tol=1e-9):
        return j
    return None


def _block_sum(t: Tensor, diagonal_columns: int | None) -> float:
    """Sum of a block in float64; for an upper-triangle block of one sample (``same``), the
    first ``diagonal_columns`` columns count once and the rest twice (for their mirror pairs)."""
    if diagonal_columns is None:
        return float(t.sum(dtype=torch.float64))
    w = diagonal_columns
    return float(t[:, :w].sum(dtype=torch.float64)) + 2.0 * float(t[:, w:].sum(dtype=torch.float64))


@dataclass(frozen=True)
class PairwiseMeans:
    """Means over all pairs (i, j) of k(a_i, b_j) and of ‖a_i − b_j‖."""

    kernel: float
    distance: float


def pairwise_means(
    a: Tensor,
    b: Tensor,
    bandwidths: Tensor | Sequence[float] = (),
    *,
    same: bool = False,
    info: DistInfo | None = None,
) -> PairwiseMeans:
    """Mean multi-bandwidth RBF kernel and mean distance over all pairs of ``a`` and ``b``.

    The building block of `mmd2` and `energy_distance`; one pass computes both. Entries are
    computed in float32 in cache-sized blocks and summed in float64. When consecutive
    bandwidths differ by a factor √2^j, each extra bandwidth costs j squarings, not an exp.

    Args:
        a: points ``[n, *event]``.
        b: points ``[m, *event]``.
        bandwidths: the σ_b of k(x, y) = Σ_b exp(−‖x − y‖² / (2 σ_b²)); empty: kernel is 0.
        same: ``a`` and ``b`` are the same sample, so only the upper triangle is computed.
        info: a `torchrun` job whose ranks all call this with the same points: each
            computes every W-th row block and every rank receives the sums (None: alone).

    Returns:
        `PairwiseMeans`; the means include the pairs i = j, as V-statistics do.

    Example:
        >>> round(pairwise_means(torch.zeros(3, 2), torch.ones(1, 2), [1.0]).distance, 4)
        1.4142
    """
    a, b = _check_pair(a, b)
    if same and a.shape != b.shape:
        raise InvalidInputError("same=True needs a and b to be one sample")
    sigma = torch.as_tensor(bandwidths, dtype=torch.float64).reshape(-1)
    if not bool((sigma > 0).all()):
        raise InvalidInputError(f"bandwidths must be positive, got {sigma.tolist()}")
    gammas = sorted((1.0 / (2.0 * sigma**2)).tolist())  # ascending: widest kernel first
    centre = b.mean(0)
    a, b = a - centre, b - centre
    n, m = a.shape[0], b.shape[0]
    rows = max(8, _BLOCK_ENTRIES // m)
    rank, ranks = (info.rank, info.world_size) if info is not None else (0, 1)
    with one_cpu_thread(a.device):
        sums = _block_loop(a, b, gammas, rows, same, range(rank * rows, n, rows * ranks))
    kernel_sum, distance_sum = all_sum(sums, info).tolist() if ranks > 1 else sums
    pairs = n * m
    return PairwiseMeans(kernel=kernel_sum / pairs, distance=distance_sum / pairs)


def _block_loop(
    a: Tensor, b: Tensor, gammas: list[float], rows: int, same: bool, starts: range
) -> tuple[float, float]:
    """Sums of k(a_i, b_j) and ‖a_i − b_j‖ over the pairs of the blocks of ``rows`` rows
    that begin at ``starts`` (``range(0, n, rows)``: all pairs; a rank's share steps over
    the other ranks' blocks)."""
    n = a.shape[0]
    kernel_sum = distance_sum = 0.0
    for start in starts:
        stop = min(start + rows, n)
        if same:  # block [start:stop, start:]; its first stop - start columns hold the diagonal
            d2 = _sq_dists(a[start:stop], b[start:])  # (rows, m - start)
            diagonal_columns: int | None = stop - start
        else:
            d2 = _sq_dists(a[start:stop], b)  # (rows, m)
            diagonal_columns = None
        distance_sum += _block_sum(d2.sqrt(), diagonal_columns)
        e, gamma_prev = d2, None
        for gamma in gammas:
            j = _squarings(gamma_prev, gamma)
            if j is None:
                e = torch.mul(d2, -gamma).clamp_min_(_MIN_EXPONENT).exp_()
            else:
                for _ in range(j):
                    e.square_().clamp_min_(_MIN_KERNEL)
            kernel_sum += _block_sum(e, diagonal_columns)
            gamma_prev = gamma
    return kernel_sum, distance_sum


def median_pairwise_distance(x: Tensor, max_points: int = 2000) -> float:
    """Median Euclidean distance between distinct points of ``x`` (the median heuristic).

    Args:
        x: points ``[n, *event]``; only the first ``max_points`` are used.
        max_points: cap on the points used (the cost is quadratic).

    Returns:
        The median over pairs ``i < j``.

    Example:
        >>> median_pairwise_distance(torch.tensor([[0.0], [1.0], [3.0]]))
        2.0
    """
    x = _as_matrix(x, "x")[:max_points]
    if x.shape[0] < 2:
        raise InvalidInputError("the median pairwise distance needs at least two points")
    x = x - x.mean(0)
    i, j = torch.triu_indices(x.shape[0], x.shape[0], offset=1)
    d2 = _sq_dists(x, x)[i, j]  # (n (n - 1) / 2,)
    return float(d2.median().sqrt())


def rbf_bandwidths(
    reference: Tensor, factors: Sequence[float] = DEFAULT_BANDWIDTH_FACTORS
) -> Tensor:
    """Bandwidths σ_b = factor_b × median pairwise distance of a fixed reference sample.

    Derive them once per target (from a fixed-seed exact sample) so that MMD values of
    different runs on that target are comparable.

    Args:
        reference: points ``[n, *event]`` from the target.
        factors: multiples of the median distance.

    Returns:
        ``[len(factors)]`` float64 bandwidths.

    Example:
        >>> rbf_bandwidths(torch.tensor([[0.0], [2.0]]), factors=(0.5, 1.0))
        tensor([1., 2.], dtype=torch.float64)
    """
    median = median_pairwise_distance(reference)
    if not median > 0:
        raise InvalidInputError("the reference sample has no spread (median distance is 0)")
    return torch.tensor([f * median for f in factors], dtype=torch.float64)


def mmd2(x: Tensor, y: Tensor, bandwidths: Tensor | Sequence[float]) -> float:
    """Squared maximum mean discrepancy, biased V-statistic, multi-bandwidth RBF kernel.

    MMD²_b = mean k(x_i, x_j) + mean k(y_i, y_j) − 2 mean k(x_i, y_j) with
    k(a, b) = Σ_b exp(−‖a − b‖² / (2 σ_b²)) (Gretton et al. 2012, eq. 5). Being the squared
    RKHS norm of the difference of the empirical mean embeddings, it is never negative.
    Two exact samples of size n still score ≈ (2/n)·E[k(x, x) − k(x, x′)], hence the
    ``mmd_floor`` of `evaluate_samples`.

    Args:
        x: sample ``[n, *event]``.
        y: sample ``[m, *event]``.
        bandwidths: the σ_b (fix them per target, e.g. with `rbf_bandwidths`).

    Returns:
        MMD²_b as a float ≥ 0.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g)
        >>> mmd2(x, y, [0.5, 1.0]) < mmd2(x, y + 1.0, [0.5, 1.0])
        True
    """
    if len(torch.as_tensor(bandwidths).reshape(-1)) == 0:
        raise InvalidInputError("mmd2 needs at least one bandwidth")
    k_xx = pairwise_means(x, x, bandwidths, same=True).kernel
    k_yy = pairwise_means(y, y, bandwidths, same=True).kernel
    k_xy = pairwise_means(x, y, bandwidths).kernel
    return max(k_xx + k_yy - 2.0 * k_xy, 0.0)  # ≥ 0 up to rounding


def energy_distance(x: Tensor, y: Tensor) -> float:
    """Energy distance 2 E‖X − Y‖ − E‖X − X′‖ − E‖Y − Y′‖ (Székely & Rizzo 2013).

    V-statistic form (means over all pairs, including i = j), which is ≥ 0 and zero iff the
    two empirical distributions coincide. Not square-rooted; in the units of ‖x‖.

    Args:
        x: sample ``[n, *event]``.
        y: sample ``[m, *event]``.

    Returns:
        The energy distance as a float ≥ 0.

    Example:
        >>> x = torch.tensor([[0.0], [1.0]])
        >>> energy_distance(x, x), energy_distance(x, x + 1.0)
        (0.0, 1.0)
    """
    d_xx = pairwise_means(x, x, same=True).distance
    d_yy = pairwise_means(y, y, same=True).distance
    d_xy = pairwise_means(x, y).distance
    return max(2.0 * d_xy - d_xx - d_yy, 0.0)


def _quantiles(sorted_values: Tensor, levels: Tensor) -> Tensor:
    """Empirical quantile function of each column at ``levels`` in (0, 1): ``[L, P]``."""
    n = sorted_values.shape[0]
    index = (levels * n).floor().long().clamp_(0, n - 1)  # (L,)
    return sorted_values[index]


def sliced_wasserstein(
    x: Tensor,
    y: Tensor,
    *,
    num_projections: int = 256,
    p: int = 2,
    generator: torch.Generator | None = None,
) -> float:
    """Sliced Wasserstein distance SW_p (Bonneel et al. 2015) with random directions.

    SW_p = (E_θ W_p^p(θᵀX, θᵀY))^{1/p} with θ uniform on the unit sphere, estimated with
    ``num_projections`` directions drawn from ``generator``. Each 1-D W_p is exact: the
    sorted projections are matched through their quantile functions at the levels
    (i + ½)/L, L = max(n, m), which for n = m is the usual pairing of order statistics.

    Args:
        x: sample ``[n, *event]``.
        y: sample ``[m, *event]``.
        num_projections: number of random directions.
        p: order of the Wasserstein distance (≥ 1).
        generator: seeds the directions (pass one for repeatable values).

    Returns:
        SW_p as a float ≥ 0.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(1000, 2, generator=g)
        >>> round(sliced_wasserstein(x, x + torch.tensor([3.0, 0.0]), p=1, generator=g), 1)
        1.9
    """
    x, y = (t.to(torch.float64) for t in _check_pair(x, y))
    if p < 1:
        raise InvalidInputError(f"p must be at least 1, got {p}")
    d = x.shape[1]
    # Directions are drawn on the generator's device (so a CPU generator gives the same value
    # on every machine) and moved to the samples; without a generator, on the samples' device.
    draw_on = generator.device if generator is not None else x.device
    theta = torch.randn(
        d, num_projections, generator=generator, dtype=torch.float64, device=draw_on
    )
    theta = (theta / theta.norm(dim=0, keepdim=True)).to(x.device)  # (d, P) unit directions
    x_proj = (x @ theta).sort(dim=0).values  # (n, P)
    y_proj = (y @ theta).sort(dim=0).values  # (m, P)
    length = max(x.shape[0], y.shape[0])
    levels = (torch.arange(length, dtype=torch.float64, device=x.device) + 0.5) / length  # (L,)
    gap = _quantiles(x_proj, levels) - _quantiles(y_proj, levels)  # (L, P)
    w_pp = gap.abs().pow(p).mean(0)  # (P,) W_p^p per direction
    return float(w_pp.mean() ** (1.0 / p))
