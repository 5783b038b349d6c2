"""Mode metrics for mixtures: how many modes a sample finds, and with what weights.

A target's `ModeStructure` gives the true weights w_k and an ``assign`` map from points to
mode indices. With ŵ_k the share of the n sample points assigned to mode k:

- `modes_covered`: the number of modes k with count_k ≥ ``min_share`` · n · w_k, i.e. that
  receive at least a stated share (default 20 %) of their expected count, **and** whose
  points are concentrated there as exact draws are, when the target says what a mode's core
  is (``ModeStructure.core``; every Gaussian mixture does). Assignment to the nearest mode
  alone lets a blurred ring through the eight Gaussians claim all eight modes: every mode
  then gets its share of points, but few of them in its core. A mode with count_k points of
  which core_k are in its core, where exact draws put a share p_k there, is concentrated
  unless core_k falls both clearly (3.5 binomial standard deviations) and substantially
  (below 60 %) short of p_k · count_k: few points are not evidence of a smear, and many
  points of a nearly exact sampler are not condemned by a small shortfall. On
  eight_gaussians a mode 20 % wider than the truth keeps about 75 % of its core share and
  counts; a ring smeared radially by one component std keeps about 45 % and does not;
- `mode_weight_tv`: ½ Σ_k |ŵ_k − w_k|, the total variation between the empirical and the
  true mode weights (points that ``assign`` maps to no mode, index < 0 or ≥ K, count in n
  but in no ŵ_k, so mass off the modes raises the distance too).
"""

from __future__ import annotations

import torch
from torch import Tensor

from genmodels.errors import InvalidInputError
from genmodels.targets.base import ModeStructure

__all__ = [
    "CORE_MIN_RATIO",
    "CORE_Z",
    "DEFAULT_MIN_SHARE",
    "concentrated_modes",
    "mode_counts",
    "mode_weight_tv",
    "modes_covered",
]

DEFAULT_MIN_SHARE = 0.2
CORE_MIN_RATIO = 0.6
"""A mode whose core holds less than this share of what exact draws put there is smeared
(when the shortfall is also beyond `CORE_Z` binomial standard deviations)."""
CORE_Z = 3.5


def mode_counts(x: Tensor, modes: ModeStructure) -> Tensor:
    """Number of points of ``x`` ``[n, *event]`` assigned to each mode: ``[K]`` long.

    Example:
        >>> w = torch.tensor([0.5, 0.5])
        >>> m = ModeStructure(w, torch.tensor([[-1.0], [1.0]]), lambda x: (x[:, 0] > 0).long())
        >>> mode_counts(torch.tensor([[-2.0], [0.5], [3.0]]), m).tolist()
        [1, 2]
    """
    index = _assigned(x, modes)
    valid = (index >= 0) & (index < modes.k)
    return torch.bincount(index[valid], minlength=modes.k)


def _assigned(x: Tensor, modes: ModeStructure) -> Tensor:
    index = torch.as_tensor(modes.assign(x)).reshape(-1).long().cpu()  # (n,)
    if index.numel() != x.shape[0]:
        raise InvalidInputError(f"assign returned {index.numel()} labels for {x.shape[0]} points")
    return index


def concentrated_modes(x: Tensor, modes: ModeStructure) -> Tensor:
    """Which modes hold their points in their core as exact draws do, ``[K]`` bool (all True
    for a mode structure without ``core``); see the module docstring for the rule.

    Example:
        >>> from genmodels.targets import get_target
        >>> t = get_target("eight_gaussians")
        >>> concentrated_modes(t.sample(2000, torch.Generator().manual_seed(0)), t.modes).all()
        tensor(True)
    """
    if modes.core is None or modes.core_share is None:
        return torch.ones(modes.k, dtype=torch.bool)
    index = _assigned(x, modes)
    core = torch.as_tensor(modes.core(x)).reshape(-1).bool().cpu()  # (n,)
    valid = (index >= 0) & (index < modes.k)
    counts = torch.bincount(index[valid], minlength=modes.k).to(torch.float64)
    in_core = torch.bincount(index[valid & core], minlength=modes.k).to(torch.float64)
    p = torch.as_tensor(modes.core_share()).detach().cpu().to(torch.float64)  # (K,)
    expected = p * counts
    sd = (counts * p * (1 - p)).sqrt()
    return in_core >= torch.minimum(expected - CORE_Z * sd, CORE_MIN_RATIO * expected)


def modes_covered(x: Tensor, modes: ModeStructure, min_share: float = DEFAULT_MIN_SHARE) -> int:
    """Modes that receive at least ``min_share`` of their expected count n·w_k, with their
    points concentrated in the mode (`concentrated_modes`).

    Args:
        x: sample ``[n, *event]``.
        modes: the target's mode structure.
        min_share: fraction of the expected count a mode needs to count as covered.

    Returns:
        An integer in ``[0, K]``.

    Example:
        >>> w = torch.tensor([0.5, 0.5])
        >>> m = ModeStructure(w, torch.tensor([[-1.0], [1.0]]), lambda x: (x[:, 0] > 0).long())
        >>> modes_covered(torch.tensor([[1.0], [2.0], [3.0]]), m)
        1
    """
    if not 0.0 < min_share <= 1.0:
        raise InvalidInputError(f"min_share must be in (0, 1], got {min_share}")
    counts = mode_counts(x, modes).to(torch.float64)
    expected = x.shape[0] * modes.weights.detach().cpu().to(torch.float64)  # (K,)
    return int(((counts >= min_share * expected) & concentrated_modes(x, modes)).sum())


def mode_weight_tv(x: Tensor, modes: ModeStructure) -> float:
    """Total variation ½ Σ_k |ŵ_k − w_k| between empirical and true mode weights.

    Args:
        x: sample ``[n, *event]``.
        modes: the target's mode structure.

    Returns:
        A float in ``[0, 1]``.

    Example:
        >>> w = torch.tensor([0.5, 0.5])
        >>> m = ModeStructure(w, torch.tensor([[-1.0], [1.0]]), lambda x: (x[:, 0] > 0).long())
        >>> mode_weight_tv(torch.tensor([[1.0], [2.0], [3.0], [-1.0]]), m)
        0.25
    """
    w_hat = mode_counts(x, modes).to(torch.float64) / x.shape[0]  # (K,)
    w = modes.weights.detach().cpu().to(torch.float64)
    # Mass assigned to no mode is a discrepancy too: include it as its own cell.
    off = 1.0 - float(w_hat.sum())
    return 0.5 * (float((w_hat - w).abs().sum()) + off)
