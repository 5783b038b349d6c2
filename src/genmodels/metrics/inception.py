"""Inception FID through torch-fidelity, offered only when it can run offline.

The offline image metrics (`genmodels.metrics.image`) need nothing from outside. The standard
FID (Heusel et al. 2017) needs torch-fidelity (``pip install 'genmodels[fid]'``) and the
weights of its TF-compatible Inception-v3 (``inception-v3-compat``), which torch-fidelity
would download on first use. Nothing is downloaded here: the weights file is looked up, in
this order, at

1. the path given to the function (``weights=``);
2. ``$GENMODELS_INCEPTION_WEIGHTS``;
3. torch-fidelity's own cache, ``<torch.hub.get_dir()>/checkpoints/`` + the file name of its
   weights URL (where an earlier ``torch-fidelity`` run left them).

When torch-fidelity does not import or no file is found, the metric is absent and
`inception_fid_unavailable` says why; no number is made up.

Images in [−1, 1] (any size, 1 or 3 channels) are converted as torch-fidelity expects:
uint8 RGB ``[n, 3, H, W]`` (grey images repeated over the 3 channels); the extractor resizes
them to 299 × 299 itself. Features are its 2048-d pool features, as in the standard FID.
The weights file is loaded with ``weights_only=True`` (torch-fidelity's own ``torch.load`` is
forced to it while the extractor is built).

Example:
    >>> x = torch.tensor([[[[-1.0, 0.0], [0.5, 1.0]]]])  # [1, 1, 2, 2] in [-1, 1]
    >>> to_inception_uint8(x)[0, :, 0, 1].tolist()  # grey repeated over RGB
    [128, 128, 128]
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

from genmodels.errors import InvalidInputError
from genmodels.metrics.frechet import frechet_distance

__all__ = [
    "INCEPTION_WEIGHTS_ENV",
    "inception_features",
    "inception_fid",
    "inception_fid_unavailable",
    "inception_weights_path",
    "to_inception_uint8",
]

INCEPTION_WEIGHTS_ENV = "GENMODELS_INCEPTION_WEIGHTS"
# torch-fidelity 0.3/0.4 download these weights for "inception-v3-compat"
_FIDELITY_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
_FEATURE = "2048"
_BATCH = 64


def to_inception_uint8(x: Tensor) -> Tensor:
    """Images in [−1, 1] ``[n, C, H, W]`` (C = 1 or 3) → uint8 RGB ``[n, 3, H, W]`` in 0..255.

    Values outside [−1, 1] are clipped; grey images are repeated over the three channels.
    """
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise InvalidInputError(
            f"Inception FID needs images [n, 1 or 3, H, W], got shape {tuple(x.shape)}"
        )
    u8 = ((x.detach().float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    return u8.expand(-1, 3, -1, -1).contiguous() if u8.shape[1] == 1 else u8  # (n, 3, H, W)


def _fidelity_import_error() -> str | None:
    try:
        import torch_fidelity  # noqa: F401
    except ImportError as e:
        return "torch-fidelity is not installed (pip install 'genmodels[fid]')" + (
            "" if isinstance(e, ModuleNotFoundError) and e.name == "torch_fidelity" else f": {e}"
        )
    except Exception as e:  # e.g. a torchvision that does not match torch
        return f"torch-fidelity does not import: {type(e).__name__}: {e}"
    return None


def _fidelity_cache_file() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / _FIDELITY_WEIGHTS_FILE


def inception_weights_path(weights: str | Path | None = None) -> Path | None:
    """The local Inception weights file to use, or None when there is none (see module doc).

    An explicit ``weights`` or ``$GENMODELS_INCEPTION_WEIGHTS`` that names no file gives None
    (no fall-back to the cache: a path asked for and missing is reported, not replaced).
    """
    if weights is not None:
        candidate = Path(weights).expanduser()
    elif os.environ.get(INCEPTION_WEIGHTS_ENV):
        candidate = Path(os.environ[INCEPTION_WEIGHTS_ENV]).expanduser()
    else:
        candidate = _fidelity_cache_file()
    return candidate if candidate.is_file() else None


def inception_fid_unavailable(weights: str | Path | None = None) -> str | None:
    """Why Inception FID cannot be computed here, or None when it can."""
    reason = _fidelity_import_error()
    if reason is not None:
        return reason
    if inception_weights_path(weights) is not None:
        return None
    if weights is not None:
        return f"no Inception weights file at {weights}"
    if os.environ.get(INCEPTION_WEIGHTS_ENV):
        return f"no Inception weights file at {os.environ[INCEPTION_WEIGHTS_ENV]}"
    return (
        f"no local Inception weights (nothing is downloaded): set ${INCEPTION_WEIGHTS_ENV} "
        f"or put torch-fidelity's {_FIDELITY_WEIGHTS_FILE} in {_fidelity_cache_file().parent}"
    )


@contextlib.contextmanager
def _weights_only_loads() -> Iterator[None]:
    """Force every ``torch.load`` inside to ``weights_only=True`` (no unpickling of code)."""
    key = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"
    before = os.environ.get(key)
    os.environ[key] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


@lru_cache(maxsize=2)
def _extractor(path: str, mtime_ns: int) -> torch.nn.Module:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    with _weights_only_loads():
        return FeatureExtractorInceptionV3(
            "inception-v3-compat", [_FEATURE], feature_extractor_weights_path=path
        )


def _require(weights: str | Path | None) -> Path:
    reason = inception_fid_unavailable(weights)
    if reason is not None:
        from genmodels.errors import NotApplicableError

        raise NotApplicableError(f"Inception FID is unavailable: {reason}")
    path = inception_weights_path(weights)
    assert path is not None
    return path


@torch.no_grad()
def inception_features(x: Tensor, weights: str | Path | None = None) -> Tensor:
    """torch-fidelity's Inception-v3 pool features ``[n, 2048]`` of images in [−1, 1].

    Raises:
        NotApplicableError: torch-fidelity or the weights are missing (the reason is given).
    """
    path = _require(weights)
    net = _extractor(str(path.resolve()), path.stat().st_mtime_ns).to(x.device)
    u8 = to_inception_uint8(x)
    return torch.cat([net(batch)[0].float().cpu() for batch in u8.split(_BATCH)])  # (n, 2048)


def inception_fid(
    x: Tensor,
    reference: Tensor | None = None,
    *,
    weights: str | Path | None = None,
    reference_features: Tensor | None = None,
) -> float:
    """Inception FID between images ``x`` and ``reference`` (both in [−1, 1]).

    Args:
        x: images ``[n, C, H, W]``.
        reference: real images ``[m, C, H, W]`` (or give ``reference_features``).
        weights: the weights file (default: `inception_weights_path`).
        reference_features: precomputed `inception_features` of the reference.

    Raises:
        NotApplicableError: torch-fidelity or the weights are missing.
    """
    if reference_features is None:
        if reference is None:
            raise InvalidInputError("give reference images or reference_features")
        reference_features = inception_features(reference, weights)
    return frechet_distance(inception_features(x, weights), reference_features)
