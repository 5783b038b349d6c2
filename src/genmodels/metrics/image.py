"""Offline image metrics: Fréchet distance and k-NN precision/recall on a small classifier.

FID needs Inception weights from the internet, so each labelled image data set gets its own
feature extractor instead: a small conv classifier trained on the data set's train split
(seconds on a CPU) whose penultimate activations play the role of Inception's pool features.
The trained weights are cached per data set (safetensors, keyed by a hash of the train split
and the architecture), so every later evaluation uses the same features.

Reference features are those of the train split. Then for a sample x:

- ``fd``: Fréchet distance between Gaussians fitted to the features of x and of the train
  split (Heusel et al. 2017): ‖μ_x − μ_r‖² + Tr(Σ_x + Σ_r − 2 (Σ_x Σ_r)^{1/2});
- ``fd_floor``: what fresh real images score, **at the same n**: the mean Fréchet distance
  of disjoint n-image subsets of the held-out test split (up to `FLOOR_SUBSETS` of them)
  against the train split. The Fréchet distance of n points is biased upwards by about
  Tr Σ / n, so a floor at another n is no bar (64 samples beside a floor of the whole test
  split look far off when they are not). When the test split has fewer than n images the
  floor is computed at its size, and ``fd_floor_n`` says so;
- ``precision`` / ``recall``: improved precision and recall (Kynkäänniemi et al. 2019) with
  k-NN balls (k = 3) in feature space: the share of sample features inside the real manifold,
  and of real features inside the sample manifold.

Notation (code → paper): ``mu``, ``sigma`` → μ, Σ; ``radii`` → distance to the k-th nearest
neighbour, NND_k; ``phi_r``, ``phi_g`` → Φ_r (real features), Φ_g (generated features).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from genmodels.distributed import all_sum, rank_zero_first, sharded_batches
from genmodels.errors import InvalidInputError, NotApplicableError
from genmodels.io import atomic_path
from genmodels.metrics import inception
from genmodels.metrics._cpu import one_cpu_thread
from genmodels.metrics.frechet import frechet_distance
from genmodels.targets.base import Target
from genmodels.training.config import TrainConfig
from genmodels.training.distributed import DistInfo
from genmodels.training.loop import fit
from genmodels.training.objective import Objective

__all__ = [
    "FeatureClassifier",
    "cache_dir",
    "classifier_accuracy",
    "evaluate_images",
    "floor_at_n",
    "frechet_distance",
    "image_classifier",
    "precision_recall",
]

FLOOR_SUBSETS = 4
"""At most this many disjoint test subsets are averaged into ``fd_floor`` (less noise)."""

# Part of the cache key: change it whenever the network or its training changes.
_ARCH_VERSION = "conv16-32-32-fc64-off-fit-v2"
_FEATURES = 64
_BATCH = 64  # training minibatch (real images; a quarter as many off-data images join it)
_FEATURE_BATCH = 2048  # images per forward pass when computing features
_INCEPTION_BATCH = 1024  # images per sharded batch of Inception features (16 of its batches)
# Distances per block of the k-NN computations: [rows, m] float64 blocks of about 128 MB,
# so precision and recall of large sets fit in memory.
_DISTANCE_BLOCK_ENTRIES = 2**24


class FeatureClassifier(nn.Module):
    """A small conv classifier; `features` gives its penultimate activations ``[n, 64]``.

    Three 3×3 convolutions (the last two with stride 2), an adaptive 4×4 average pool, a
    64-unit hidden layer (the features) and a linear read-out to the classes. Works for any
    ``[C, H, W]``; it has ~50k parameters.

    Example:
        >>> net = FeatureClassifier(channels=1, num_classes=10)
        >>> net.features(torch.zeros(5, 1, 8, 8)).shape
        torch.Size([5, 64])
    """

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
        )
        self.hidden = nn.Linear(32 * 4 * 4, _FEATURES)
        self.head = nn.Linear(_FEATURES, num_classes)

    def features(self, x: Tensor) -> Tensor:
        h = self.conv(x).flatten(1)  # (n, 32·4·4)
        return F.relu(self.hidden(h))  # (n, 64)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))  # (n, classes) logits


def cache_dir() -> Path:
    """Where trained feature classifiers are kept: ``$GENMODELS_CACHE`` or ~/.cache/genmodels."""
    return Path(os.environ.get("GENMODELS_CACHE") or Path.home() / ".cache" / "genmodels")


def _dataset_key(target: Target) -> str:
    digest = hashlib.sha256(_ARCH_VERSION.encode())
    for t in (target.train_x, target.train_y):  # type: ignore[attr-defined]
        digest.update(str(tuple(t.shape)).encode())
        digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    safe_name = "".join(c if c.isalnum() or c in "-_" else "_" for c in target.name)[-40:]
    return f"{safe_name}-{digest.hexdigest()[:16]}"


def _labelled_splits(target: Target) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    train_x = getattr(target, "train_x", None)
    train_y = getattr(target, "train_y", None)
    if train_x is None or train_y is None:
        raise NotApplicableError(
            f"image metrics for {target.name!r} need a labelled train split to train their "
            "feature classifier"
        )
    return train_x, train_y, target.test_set(), getattr(target, "test_y", None)


def _off_data_images(n: int, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """Images that are clearly not data: uniform noise, Gaussian noise around a random grey
    level, and smooth random blobs (noise upsampled from a quarter of the size)."""
    c, h, w = shape
    kind = torch.randint(0, 3, (n, 1, 1, 1), generator=generator)
    uniform = 2 * torch.rand(n, c, h, w, generator=generator) - 1
    level = 2 * torch.rand(n, 1, 1, 1, generator=generator) - 1
    scale = 0.2 + 0.8 * torch.rand(n, 1, 1, 1, generator=generator)
    gaussian = level + scale * torch.randn(n, c, h, w, generator=generator)
    coarse = torch.randn(n, c, max(1, h // 4), max(1, w // 4), generator=generator)
    blobs = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    x = torch.where(kind == 0, uniform, torch.where(kind == 1, gaussian, blobs))
    return x.clamp(-1.0, 1.0)


class _ClassifierBatches(Target):
    """The train split as `fit`'s data for the classifier: every image once per epoch
    (reshuffled each epoch, so the last batch of an epoch may be smaller), with light input
    noise, plus a quarter as many `_off_data_images` labelled with an extra class, so that
    garbage samples (an untrained generator's noise) get features of their own instead of
    landing among the real images' features by chance."""

    kind = "image"

    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x, y
        self.off_label = int(y.max()) + 1
        self.event_shape = tuple(x.shape[1:])
        self.name = "feature classifier batches"
        self._order = torch.empty(0, dtype=torch.long)

    @property
    def num_classes(self) -> int:
        return self.off_label + 1

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.x[torch.randint(0, len(self.x), (n,), generator=generator)]

    def sample_labelled(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        if len(self._order) == 0:  # a new epoch
            self._order = torch.randperm(len(self.x), generator=generator)
        idx, self._order = self._order[:n], self._order[n:]
        # Noise makes the features smooth between the grey levels a sampler may miss.
        xb = self.x[idx] + 0.05 * torch.randn(self.x[idx].shape, generator=generator)
        off = _off_data_images(max(1, len(idx) // 4), self.event_shape, generator)
        labels = torch.cat([self.y[idx], self.y.new_full((len(off),), self.off_label)])
        return torch.cat([xb, off]), labels  # (n + n/4, C, H, W), (n + n/4,)


def _train(
    net: FeatureClassifier, x: Tensor, y: Tensor, *, epochs: int, seed: int
) -> FeatureClassifier:
    """Cross-entropy with `genmodels.training.fit`: Adam, minibatches of 64 (`_ClassifierBatches`),
    a one-cycle-like schedule (warm-up over 30% of the run, cosine decay to 0)."""
    data = _ClassifierBatches(x, y)
    steps = epochs * -(-len(x) // _BATCH)

    def loss(batch: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(net(batch), labels)

    objective = Objective(net, loss, data.event_shape, num_classes=data.num_classes)
    config = TrainConfig(
        steps=steps, batch_size=_BATCH, lr=3e-3, warmup_steps=round(0.3 * steps),
        min_lr_ratio=0.0, grad_clip=0.0, ema_decay=0.0, mixed_precision="off", seed=seed,
        device="cpu", progress=False, distributed=False,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):  # fit seeds the global generator
        fit(objective, data, config)
    return net.eval()


@torch.no_grad()
def _accuracy(net: FeatureClassifier, x: Tensor, y: Tensor) -> float:
    """Share of images whose most likely data label (the off-data class left out) is y."""
    return float((net(x)[:, :-1].argmax(1) == y).float().mean())


def image_classifier(
    target: Target, *, cache: str | Path | None = None, epochs: int = 8, verbose: bool = False
) -> FeatureClassifier:
    """The feature classifier of an image data set: loaded from the cache, or trained once.

    Args:
        target: an image data set with ``train_x``/``train_y`` (e.g. ``digits``).
        cache: cache directory (default `cache_dir()`).
        epochs: training epochs when there is no cached network.
        verbose: print the training time and test accuracy after training.

    Returns:
        The classifier in eval mode, on the CPU.

    Example:
        >>> from genmodels.targets import get_target
        >>> net = image_classifier(get_target("digits"))  # doctest: +SKIP
    """
    train_x, train_y, test_x, test_y = _labelled_splits(target)
    num_classes = int(train_y.max()) + 2  # the labels and one class for off-data images
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the initial weights; _train seeds its own batches
        net = FeatureClassifier(train_x.shape[1], num_classes)
    path = Path(cache or cache_dir()) / f"classifier-{_dataset_key(target)}.safetensors"
    if path.is_file():
        try:
            net.load_state_dict(load_file(path))
            return net.eval()
        except Exception:  # truncated, corrupt or foreign file: retrain and replace it
            pass
    with one_cpu_thread():
        start = time.perf_counter()
        net = _train(net, train_x.float(), train_y.long(), epochs=epochs, seed=0)
    if verbose and test_y is not None:
        accuracy = _accuracy(net, test_x.float(), test_y.long())
        print(f"trained {path.name} in {time.perf_counter() - start:.1f}s, test acc {accuracy:.3f}")
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp))
    return net


def _block_rows(columns: int) -> int:
    return max(1, _DISTANCE_BLOCK_ENTRIES // max(columns, 1))


def _knn_radii(phi: Tensor, k: int, info: DistInfo | None = None) -> Tensor:
    """Distance from each point to its k-th nearest other point, ``[n]`` (row blocks of the
    distance matrix, split over the ranks of ``info``)."""

    def radii(block: Tensor) -> Tensor:
        d = torch.cdist(block, phi)  # (rows, n)
        return d.kthvalue(k + 1, dim=1).values  # +1: the point itself is at distance 0

    return sharded_batches(radii, [phi], _block_rows(len(phi)), info)[0]


def _coverage(
    phi_r: Tensor, phi_g: Tensor, radii_r: Tensor, radii_g: Tensor, info: DistInfo | None
) -> tuple[float, float]:
    """Shares of ``phi_g`` inside the real balls and of ``phi_r`` inside the generated ones,
    over row blocks of the [m, n] distances (every W-th block on each rank, then summed)."""
    rows = _block_rows(len(phi_r))
    rank, ranks = (info.rank, info.world_size) if info is not None else (0, 1)
    inside = torch.zeros((), dtype=torch.float64)
    covered = torch.zeros(len(phi_r), dtype=torch.bool)
    for start in range(rank * rows, len(phi_g), rows * ranks):
        d_gr = torch.cdist(phi_g[start : start + rows], phi_r)  # (rows, n)
        inside += (d_gr <= radii_r[None, :]).any(1).double().sum()
        covered |= (d_gr <= radii_g[start : start + rows, None]).any(0)
    sums = all_sum(torch.cat([inside.reshape(1), covered.double()]), info)
    return float(sums[0] / len(phi_g)), float((sums[1:] > 0).double().mean())


def precision_recall(
    phi_r: Tensor, phi_g: Tensor, k: int = 3, *, info: DistInfo | None = None
) -> tuple[float, float]:
    """Improved precision and recall of Kynkäänniemi et al. (2019).

    The real manifold is the union of balls around each real feature with radius its
    distance to the k-th nearest real neighbour; precision is the share of generated
    features inside it. Recall swaps the roles of the two sets. Distances are computed in
    row blocks (memory stays bounded for large sets), split over the ranks of ``info``.

    Args:
        phi_r: real features ``[n, d]``.
        phi_g: generated features ``[m, d]`` (the paper uses m = n).
        k: neighbourhood size.
        info: a `torchrun` job whose ranks all call this with the same features (None:
            this process alone).

    Returns:
        ``(precision, recall)``, each in [0, 1].

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> real = torch.randn(500, 2, generator=g)
        >>> p, r = precision_recall(real, torch.randn(500, 2, generator=g) + 10.0)
        >>> p, r
        (0.0, 0.0)
    """
    if min(phi_r.shape[0], phi_g.shape[0]) <= k:
        raise InvalidInputError(f"precision/recall with k={k} needs more than {k} points per set")
    phi_r, phi_g = phi_r.to(torch.float64), phi_g.to(torch.float64)
    radii_r, radii_g = _knn_radii(phi_r, k, info), _knn_radii(phi_g, k, info)
    return _coverage(phi_r, phi_g, radii_r, radii_g, info)


@torch.no_grad()
def classifier_accuracy(
    x: Tensor, labels: Tensor, target: Target, *, cache: str | Path | None = None
) -> float:
    """Share of images ``x`` ``[n, C, H, W]`` that the data set's feature classifier assigns to
    their intended class ``labels`` ``[n]`` — how class-faithful a conditional sampler is.

    The classifier's extra "not data" class is left out: each image counts as its most
    likely data label.

    Example:
        >>> from genmodels.targets import get_target  # doctest: +SKIP
        >>> digits = get_target("digits")  # doctest: +SKIP
        >>> classifier_accuracy(digits.test_x, digits.test_y, digits) > 0.9  # doctest: +SKIP
        True
    """
    if x.ndim != 4 or labels.shape != (x.shape[0],):
        raise InvalidInputError(
            f"expected images [n, C, H, W] and labels [n], got {tuple(x.shape)} and "
            f"{tuple(labels.shape)}"
        )
    net = image_classifier(target, cache=cache)
    with one_cpu_thread():
        return _accuracy(net, x.detach().float().cpu(), labels.cpu().long())


@torch.no_grad()
def _features(
    net: FeatureClassifier, parts: list[Tensor], info: DistInfo | None = None
) -> list[Tensor]:
    """The features ``[n_i, 64]`` of each image set, in batches (split over the ranks)."""
    return sharded_batches(lambda b: net.features(b.float()), parts, _FEATURE_BATCH, info)


def evaluate_images(
    x: Tensor,
    target: Target,
    *,
    seed: int = 0,
    k: int = 3,
    cache: str | Path | None = None,
    inception_weights: str | Path | None = None,
    info: DistInfo | None = None,
) -> dict[str, Any]:
    """``{"n", "fd", "fd_floor", "precision", "recall"}`` of images ``x`` ``[n, C, H, W]``.

    Plus ``inception_fid`` and ``inception_fid_floor`` (the same two comparisons with
    torch-fidelity's Inception features, `genmodels.metrics.inception`) when torch-fidelity
    imports and Inception weights are found locally; otherwise ``unavailable:
    {"inception_fid": reason}``. On a CPU the Inception features of a few thousand images
    take minutes.

    Precision and recall compare equal numbers of points (as in the paper): the larger of
    the sample and the train split is subsampled (with ``seed``) to the size of the smaller.
    ``fd_floor`` is computed at the sample's size n (see the module docstring); when the
    test split is smaller than n (359 images for digits) it is computed at the split's size
    and ``fd_floor_n`` gives that size: real images at n score somewhat below such a floor.

    Args:
        x: images in [−1, 1], already checked against the target's event shape.
        target: a labelled image data set.
        seed: seeds the subsampling for precision/recall.
        k: neighbourhood size of precision/recall.
        cache: directory of cached classifiers (default `cache_dir()`).
        inception_weights: the Inception weights file (default: looked up locally, see
            `genmodels.metrics.inception.inception_weights_path`).
        info: a `torchrun` job whose ranks all call this with the same images: the
            features' batches and the k-NN distance blocks are split over them (rank 0
            trains a missing feature classifier, the others then load it); every rank
            returns the metrics. None: this process alone.
    """
    train_x, _, test_x, _ = _labelled_splits(target)
    net = rank_zero_first(lambda: image_classifier(target, cache=cache), info)
    with one_cpu_thread():
        phi_g, phi_train, phi_test = _features(net, [x.cpu(), train_x, test_x], info)
    m = min(len(phi_g), len(phi_train))
    g = torch.Generator().manual_seed(seed)
    sub_g = phi_g[torch.randperm(len(phi_g), generator=g)[:m]]
    sub_r = phi_train[torch.randperm(len(phi_train), generator=g)[:m]]
    precision, recall = precision_recall(sub_r, sub_g, k=k, info=info)
    n = int(x.shape[0])
    fd_floor, floor_n = floor_at_n(phi_test, phi_train, n, seed=seed)
    result: dict[str, Any] = {
        "n": n,
        "fd": frechet_distance(phi_g, phi_train),
        "fd_floor": fd_floor,
        "precision": precision,
        "recall": recall,
    }
    if floor_n != n:
        result["fd_floor_n"] = floor_n
    result.update(_inception_metrics(x, target, (train_x, test_x), inception_weights, seed, info))
    return result


def floor_at_n(phi_test: Tensor, phi_train: Tensor, n: int, *, seed: int = 0) -> tuple[float, int]:
    """``(floor, size)``: the mean Fréchet distance to ``phi_train`` of up to `FLOOR_SUBSETS`
    disjoint subsets of ``phi_test`` of ``size = min(n, len(phi_test))`` points each.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> floor_at_n(torch.randn(300, 4, generator=g), torch.randn(2000, 4, generator=g), 50)[1]
        50
    """
    size = min(n, len(phi_test))
    subsets = max(1, min(FLOOR_SUBSETS, len(phi_test) // size))
    order = torch.randperm(len(phi_test), generator=torch.Generator().manual_seed(seed))
    values = [
        frechet_distance(phi_test[order[i * size : (i + 1) * size]], phi_train)
        for i in range(subsets)
    ]
    return sum(values) / subsets, size


def _inception_metrics(
    x: Tensor,
    target: Target,
    splits: tuple[Tensor, Tensor],
    weights: str | Path | None,
    seed: int = 0,
    info: DistInfo | None = None,
) -> dict[str, Any]:
    """Inception FID against the train split and its test-split floor at the sample's size
    (as ``fd_floor``), or why there is none; the features' batches split over the ranks."""
    reason = inception.inception_fid_unavailable(weights)
    if reason is not None:
        return {"unavailable": {"inception_fid": reason}}
    path = inception.inception_weights_path(weights)
    assert path is not None

    def features(parts: list[Tensor]) -> list[Tensor]:
        """Each set's features: whole sets in one process (Inception batches them itself),
        batches of a multiple of its own batch size under `torchrun` (the same values)."""
        fn = lambda b: inception.inception_features(b, path)  # noqa: E731
        if info is None or not info.distributed:
            return [fn(part) for part in parts]
        return sharded_batches(fn, parts, _INCEPTION_BATCH, info)

    key = (_dataset_key(target), str(path.resolve()), path.stat().st_mtime_ns)
    if key not in _INCEPTION_REFERENCE:  # the splits' features, once per data set and weights
        _INCEPTION_REFERENCE.clear()
        phi_train, phi_test = features(list(splits))
        _INCEPTION_REFERENCE[key] = (phi_train, phi_test)
    phi_train, phi_test = _INCEPTION_REFERENCE[key]
    return {
        "inception_fid": frechet_distance(features([x])[0], phi_train),
        "inception_fid_floor": floor_at_n(phi_test, phi_train, len(x), seed=seed)[0],
    }


_INCEPTION_REFERENCE: dict[tuple[str, str, int], tuple[Tensor, Tensor]] = {}
