"""A user's own vector data as a target: a fixed-seed test split, standardised columns.

`DataTarget` holds rows ``[N, d]`` of any dimension d. It keeps a test split drawn by a
fixed-seed permutation (the fraction and seed are part of what a run records), and works in
**standardised coordinates**: every column has mean 0 and standard deviation 1 on the train
split, so that one network width, learning rate and kernel bandwidth suit data in any units.
`sample` and `test_set` return standardised rows; `DataTarget.decode` maps them back to the
data's own units (`genmodels sample` does this with the mean and std the run recorded) and
`DataTarget.encode` maps rows in the data's units in (`genmodels evaluate` does this).

`load_data_file` reads ``.npz`` (array ``x``, optional labels ``y``), ``.npy`` and
``.csv``/``.tsv`` (numeric columns, an optional header line): rank 2 is vector data, rank 3
or 4 images (`genmodels.targets.images.ImageDataset`). It is registered with
`genmodels.targets.base.register_path_loader`, so ``get_target("data.csv")`` and every
``--data``/``--target`` option accept such files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from genmodels.errors import InvalidInputError
from genmodels.samples import Samples, check_npz_magic
from genmodels.targets.base import Target, check_test_size, draw_device, register_path_loader
from genmodels.targets.images import ImageDataset, check_label_array

__all__ = [
    "DATA_SUFFIXES",
    "DEFAULT_SPLIT_SEED",
    "DEFAULT_TEST_FRACTION",
    "MIN_SPLIT_ROWS",
    "DataTarget",
    "Standardization",
    "load_data_file",
    "load_data_path",
    "nll_in_data_units",
    "read_array_file",
    "samples_in_data_units",
    "standardization_from_record",
    "target_samples_in_data_units",
]

DATA_SUFFIXES = (".npz", ".npy", ".csv", ".tsv")
DEFAULT_TEST_FRACTION = 0.2
DEFAULT_SPLIT_SEED = 0
MIN_SPLIT_ROWS = 2
"""Each split needs at least this many rows: a floor and a distance need two points."""


@dataclass(frozen=True)
class Standardization:
    """The affine map z = (x − mean) / std between the data's units and the target's.

    Attributes:
        mean: per-column mean of the train split, ``[d]``.
        std: per-column standard deviation of the train split, ``[d]`` (1 for a constant
            column, which then is only centred).

    Example:
        >>> s = Standardization(torch.tensor([1.0, -2.0]), torch.tensor([2.0, 0.5]))
        >>> s.decode(s.encode(torch.tensor([[3.0, 0.0]]))).tolist()
        [[3.0, 0.0]]
    """

    mean: Tensor
    std: Tensor

    def encode(self, x: Tensor) -> Tensor:
        """Rows in the data's units → standardised rows (same shape)."""
        return (x - self.mean.to(x)) / self.std.to(x)

    def decode(self, z: Tensor) -> Tensor:
        """Standardised rows → rows in the data's units (same shape)."""
        return self.mean.to(z) + self.std.to(z) * z

    @property
    def log_abs_det(self) -> float:
        """log |det ∂x/∂z| = Σ log std: add it to a standardised NLL for the data's units."""
        return float(self.std.double().log().sum())

    def to_record(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}


def standardization_from_record(record: dict[str, Any] | None) -> Standardization | None:
    """The `Standardization` a run's ``config.json`` records under ``"data"`` (None if none).

    Example:
        >>> standardization_from_record({"mean": [0.0], "std": [2.0]}).std.tolist()
        [2.0]
    """
    if not record or "mean" not in record or "std" not in record:
        return None
    try:
        mean = torch.tensor(record["mean"], dtype=torch.float32)
        std = torch.tensor(record["std"], dtype=torch.float32)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"recorded standardisation is not numeric: {e}") from None
    if mean.ndim != 1 or mean.shape != std.shape or not bool((std > 0).all()):
        raise InvalidInputError("recorded standardisation needs equal-length mean and std > 0")
    return Standardization(mean, std)


def samples_in_data_units(samples: Samples, record: dict[str, Any] | None) -> Samples:
    """A model's samples in the data's own units, by the standardisation a run recorded
    (``config.json``'s ``"data"``), with the split it used noted in ``info`` (so that
    `genmodels evaluate` rebuilds that split); unchanged when the run recorded none."""
    if not record:
        return samples
    standardization = standardization_from_record(record)
    if standardization is not None:
        if tuple(samples.event_shape) != tuple(standardization.mean.shape):
            raise InvalidInputError(
                f"samples of shape {samples.event_shape} do not match the recorded "
                f"standardisation of {standardization.mean.numel()} columns"
            )
        samples.x = standardization.decode(samples.x)
    if "test_fraction" in record and "split_seed" in record:
        samples.info["data_test_fraction"] = float(record["test_fraction"])
        samples.info["data_split_seed"] = float(record["split_seed"])
    return samples


def target_samples_in_data_units(samples: Samples, target: Target) -> Samples:
    """A copy of a model's samples on ``target`` in the data's own units (what a file of
    samples holds); the samples themselves unchanged for targets that record nothing."""
    record = target.run_record()
    if not record:
        return samples
    copy = Samples(samples.x, samples.chains, samples.nfe, samples.seconds, dict(samples.info))
    return samples_in_data_units(copy, record)


def nll_in_data_units(result: dict[str, Any], target: Target) -> dict[str, Any]:
    """A `genmodels.models.likelihood.dataset_nll` result on a standardised data target's
    test split, turned into nats (and bits/dim) of the data's own units: + Σ log std."""
    standardization = getattr(target, "standardization", None)
    if standardization is None or "nll_nats" not in result:
        return result
    out = dict(result)
    out["nll_nats"] = result["nll_nats"] + standardization.log_abs_det
    dim = int(result.get("dim") or standardization.mean.numel())
    out["bits_per_dim"] = out["nll_nats"] / (dim * float(np.log(2.0)))
    return out


class DataTarget(Target):
    """Rows of vector data with a fixed test split, in standardised coordinates.

    `sample` draws rows of the train split with replacement; `test_set` is the test split.
    Both are standardised (see `Standardization`); `decode` returns to the data's units.

    Args:
        x: the data, ``[N, d]`` (any real dtype), in its own units.
        labels: optional integer class of each row, ``[N]`` (class-conditional models).
        test_fraction: share of the rows held out, in (0, 1).
        seed: seed of the permutation that makes the split.
        standardize: standardise the columns (default); False keeps the data's units.
        source: where the data came from (recorded with a run).

    Example:
        >>> x = np.random.default_rng(0).normal(3.0, 2.0, size=(100, 5))
        >>> t = DataTarget(x)
        >>> t.kind, t.event_shape, len(t.test_set())
        ('vector', (5,), 20)
        >>> bool(t.decode(t.test_set()).mean() > 2)
        True
    """

    kind: ClassVar[str] = "vector"

    def __init__(
        self,
        x: np.ndarray | Tensor,
        labels: np.ndarray | Tensor | None = None,
        *,
        test_fraction: float = DEFAULT_TEST_FRACTION,
        seed: int = DEFAULT_SPLIT_SEED,
        standardize: bool = True,
        source: str | None = None,
    ) -> None:
        rows = _vector_rows(x, source or "data")
        test, train = _split(len(rows), test_fraction, seed, source or "data")
        y = None if labels is None else torch.as_tensor(check_label_array(labels, len(rows)))
        self.test_fraction, self.seed, self.source = float(test_fraction), int(seed), source
        self.standardization = _fit_standardization(rows[train]) if standardize else None
        encoded = rows if self.standardization is None else self.standardization.encode(rows)
        self.train_x, self.test_x = encoded[train], encoded[test]
        self.train_y = None if y is None else y[train]
        self.test_y = None if y is None else y[test]
        self.event_shape = (rows.shape[1],)

    def encode(self, x: Tensor) -> Tensor:
        """Rows in the data's units → the target's (standardised) coordinates."""
        return x if self.standardization is None else self.standardization.encode(x)

    def decode(self, z: Tensor) -> Tensor:
        """The target's coordinates (a model's samples) → rows in the data's units."""
        return z if self.standardization is None else self.standardization.decode(z)

    @property
    def num_classes(self) -> int:
        return 0 if self.train_y is None else int(self.train_y.max()) + 1

    def _draw_indices(self, n: int, generator: torch.Generator | None) -> Tensor:
        idx = torch.randint(
            0, len(self.train_x), (n,), generator=generator, device=draw_device(generator)
        )
        return idx.to(self.train_x.device)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Rows of the train split (with replacement), standardised, on `draw_device`."""
        return self.train_x[self._draw_indices(n, generator)].to(draw_device(generator))

    def sample_labelled(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Rows and their labels, for class-conditional models."""
        if self.train_y is None:
            return super().sample_labelled(n, generator)
        idx, device = self._draw_indices(n, generator), draw_device(generator)
        return self.train_x[idx].to(device), self.train_y[idx.to(self.train_y.device)].to(device)

    def test_set(self, n: int = 10_000) -> Tensor:
        """The held-out rows (at most ``n``), standardised."""
        check_test_size(self, n)
        return self.test_x[:n]

    def run_record(self) -> dict[str, Any]:
        """What a run keeps to rebuild this split and undo the standardisation."""
        record: dict[str, Any] = {
            "source": self.source,
            "test_fraction": self.test_fraction,
            "split_seed": self.seed,
            "n_train": len(self.train_x),
            "n_test": len(self.test_x),
        }
        if self.standardization is not None:
            record.update(self.standardization.to_record())
        return record


def _vector_rows(x: np.ndarray | Tensor, source: str) -> Tensor:
    """``x`` as float32 ``[N, d]``, refused in one line unless real, rank 2 and finite."""
    a = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_) or np.iscomplexobj(a):
        raise InvalidInputError(f"{source}: data must be real numbers, got an array of {a.dtype}")
    if a.ndim != 2 or a.shape[1] < 1:
        raise InvalidInputError(f"{source}: vector data must be [N, d], got shape {a.shape}")
    a = a.astype(np.float64)
    bad = int((~np.isfinite(a)).any(axis=1).sum())
    if bad:
        raise InvalidInputError(f"{source}: {bad} of {len(a)} rows hold NaN or infinite values")
    return torch.from_numpy(a.astype(np.float32))


def _split(n: int, test_fraction: float, seed: int, source: str) -> tuple[Tensor, Tensor]:
    """(test, train) row indices of a fixed-seed permutation; each split ≥ `MIN_SPLIT_ROWS`."""
    if not isinstance(test_fraction, int | float) or not 0.0 < float(test_fraction) < 1.0:
        raise InvalidInputError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"the split seed must be an integer >= 0, got {seed!r}")
    n_test = round(test_fraction * n)
    if min(n_test, n - n_test) < MIN_SPLIT_ROWS:
        need = int(np.ceil(MIN_SPLIT_ROWS / min(test_fraction, 1 - test_fraction)))
        raise InvalidInputError(
            f"{source} has {n} rows: too few for a {test_fraction:g} test split "
            f"(need at least {need} rows, {MIN_SPLIT_ROWS} in each split)"
        )
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    return perm[:n_test], perm[n_test:]


def _fit_standardization(train: Tensor) -> Standardization:
    """Mean and std of the train split's columns (std 1 where a column is constant)."""
    mean = train.double().mean(0)
    std = train.double().std(0, correction=0)
    std = torch.where(std > 1e-12 * (1 + mean.abs()), std, torch.ones_like(std))
    return Standardization(mean.float(), std.float())


def read_array_file(
    path: str | Path, *, key: str = "x", label_key: str = "y"
) -> tuple[np.ndarray, np.ndarray | None]:
    """The array (and labels, for ``.npz``) of a data file; one-line errors for bad files.

    ``.npz``: array ``key`` and, if present, labels ``label_key``; ``.npy``: one array;
    ``.csv``/``.tsv``: numeric columns separated by commas/tabs, with an optional header.
    """
    path = Path(path)
    if not path.is_file():
        what = "a directory, not a data file" if path.is_dir() else "no such file"
        raise InvalidInputError(f"{path}: {what}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            return _read_npz(path, key, label_key)
        if suffix == ".npy":
            return _read_npy(path), None
        if suffix in (".csv", ".tsv"):
            return _read_delimited(path, "\t" if suffix == ".tsv" else ","), None
    except InvalidInputError:
        raise
    except (OSError, ValueError, EOFError, UnicodeDecodeError) as e:
        raise InvalidInputError(f"cannot read {path}: {e}") from None
    raise InvalidInputError(f"{path}: not a data file (known: {', '.join(DATA_SUFFIXES)})")


def _read_npz(path: Path, key: str, label_key: str) -> tuple[np.ndarray, np.ndarray | None]:
    check_npz_magic(path)
    with np.load(path, allow_pickle=False) as data:
        if key not in data:
            found = ", ".join(data.files) or "nothing"
            raise InvalidInputError(f"{path} has no array {key!r} (found: {found})")
        return data[key], data.get(label_key, None)


def _read_npy(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        if not f.read(6).startswith(b"\x93NUMPY"):
            raise InvalidInputError(f"{path} is not a .npy array (save it with np.save)")
    return np.load(path, allow_pickle=False)


def _read_delimited(path: Path, sep: str) -> np.ndarray:
    """Numeric columns; a first line that is not all numbers is a header."""
    lines = [(i, line) for i, line in enumerate(path.read_text().splitlines(), 1) if line.strip()]
    if lines and not _numeric_fields(lines[0][1].split(sep)):
        lines = lines[1:]  # a header line
    if not lines:
        raise InvalidInputError(f"{path} holds no rows of numbers")
    width = len(lines[0][1].split(sep))
    rows = []
    for number, line in lines:
        fields = line.split(sep)
        if len(fields) != width:
            raise InvalidInputError(
                f"{path}: line {number} has {len(fields)} columns, the first row has {width}"
            )
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            bad = next(f for f in fields if not _numeric_fields([f]))
            raise InvalidInputError(
                f"{path}: line {number}: {bad.strip()!r} is not a number"
            ) from None
    return np.asarray(rows, dtype=np.float64)


def _numeric_fields(fields: list[str]) -> bool:
    try:
        for f in fields:
            float(f)
    except ValueError:
        return False
    return True


def load_data_file(
    path: str | Path,
    *,
    key: str = "x",
    label_key: str = "y",
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SPLIT_SEED,
    standardize: bool = True,
) -> DataTarget | ImageDataset:
    """A data file as a target: rank-2 arrays are vector data, rank 3–4 images.

    Example:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "data.npz"
        >>> np.savez(f, x=np.random.default_rng(0).normal(size=(50, 3)))
        >>> load_data_file(f).event_shape
        (3,)
    """
    x, labels = read_array_file(path, key=key, label_key=label_key)
    if np.ndim(x) in (3, 4):
        return ImageDataset.from_arrays(x, labels, test_fraction=test_fraction, seed=seed)
    if np.ndim(x) != 2:
        raise InvalidInputError(
            f"{path}: array {key!r} has shape {np.shape(x)}; expected [N, d] vectors or a "
            "stack of images [N, H, W], [N, H, W, C] or [N, C, H, W]"
        )
    return DataTarget(
        x, labels, test_fraction=test_fraction, seed=seed, standardize=standardize,
        source=str(path),
    )  # fmt: skip


@register_path_loader
def load_data_path(path: Path, **kwargs: Any) -> DataTarget | ImageDataset | None:
    """A data file (`DATA_SUFFIXES`) as a target, None for any other path; a missing file
    with a data suffix is an error (not an unknown target name)."""
    if path.suffix.lower() not in DATA_SUFFIXES:
        return None
    return load_data_file(path, **kwargs)
