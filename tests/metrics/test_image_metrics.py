"""Offline image metrics on digits: the classifier, its cache, FD and precision/recall."""

import json

import pytest
import torch

from genmodels.cli import main
from genmodels.errors import InvalidInputError, NotApplicableError
from genmodels.metrics import evaluate_samples
from genmodels.metrics.image import (
    _accuracy,
    frechet_distance,
    image_classifier,
    precision_recall,
)
from genmodels.samples import Samples
from genmodels.targets import ImageDataset, get_target

# present or not depending on torch-fidelity and local weights (tests/metrics/test_inception_fid.py)
_INCEPTION_KEYS = {"inception_fid", "inception_fid_floor", "unavailable"}


@pytest.fixture(scope="module")
def digits():
    return get_target("digits")


@pytest.fixture(scope="module")
def cache(genmodels_cache, digits):
    """The session's private cache (see conftest.py), holding the trained digits classifier."""
    image_classifier(digits)
    return genmodels_cache


def test_classifier_is_accurate_and_cached(digits, cache):
    files = list(cache.glob("classifier-digits-*.safetensors"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    net = image_classifier(digits, cache=cache)  # loaded, not retrained
    assert files[0].stat().st_mtime_ns == mtime
    assert _accuracy(net, digits.test_x, digits.test_y) >= 0.9
    assert not list(cache.glob("*.tmp"))


def test_corrupt_cache_file_is_retrained(digits, tmp_path):
    small = ImageDataset(digits.train_x[:200], digits.test_x[:50], digits.train_y[:200])
    small.name = "small"
    first = image_classifier(small, cache=tmp_path, epochs=1)
    (path,) = tmp_path.glob("classifier-small-*.safetensors")
    path.write_bytes(b"garbage")
    again = image_classifier(small, cache=tmp_path, epochs=1)  # retrains the same network
    assert path.stat().st_size > 1000
    for p, q in zip(first.parameters(), again.parameters(), strict=True):
        assert torch.equal(p, q)


def test_held_out_images_score_at_the_floor(digits, cache):
    m = evaluate_samples(digits.test_set(), digits)
    assert set(m) - _INCEPTION_KEYS == {"n", "fd", "fd_floor", "precision", "recall"}
    assert m["fd"] == pytest.approx(m["fd_floor"])
    assert m["precision"] > 0.8 and m["recall"] > 0.8
    # train images resampled: at most the floor, and as precise
    m = evaluate_samples(digits.sample(1000, torch.Generator().manual_seed(0)), digits)
    assert m["fd"] <= m["fd_floor"] and m["precision"] > 0.8


def test_noise_and_mode_collapse(digits, cache):
    g = torch.Generator().manual_seed(0)
    noise = 2 * torch.rand(500, 1, 8, 8, generator=g) - 1
    m = evaluate_samples(noise, digits)
    assert m["fd"] > 50 * m["fd_floor"]
    assert m["precision"] < 0.1 and m["recall"] < 0.1
    only_0_and_1 = digits.train_x[digits.train_y < 2]
    m = evaluate_samples(only_0_and_1, digits)
    assert m["precision"] > 0.8
    assert m["recall"] < 0.4
    assert m["fd"] > 10 * m["fd_floor"]


def test_frechet_distance_closed_form(generator):
    # N(μ, diag(s²)) vs N(0, I): FD = ‖μ‖² + Σ (s − 1)²
    n = 20_000
    s = torch.tensor([0.5, 1.0, 2.0])
    mu = torch.tensor([1.0, 0.0, -1.0])
    a = mu + s * torch.randn(n, 3, generator=generator)
    b = torch.randn(n, 3, generator=generator)
    expected = float(mu.square().sum() + (s - 1).square().sum())
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.03)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_correlated_matches_scipy(generator):
    scipy_linalg = pytest.importorskip("scipy.linalg")
    a = torch.randn(500, 4, generator=generator) @ torch.randn(4, 4, generator=generator)
    b = torch.randn(400, 4, generator=generator) @ torch.randn(4, 4, generator=generator) + 1
    ca, cb = torch.cov(a.double().T), torch.cov(b.double().T)
    root = scipy_linalg.sqrtm(ca.numpy() @ cb.numpy()).real
    expected = float(
        (a.double().mean(0) - b.double().mean(0)).square().sum()
        + ca.trace()
        + cb.trace()
        - 2 * root.trace()
    )
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_precision_recall_extremes(generator):
    real = torch.randn(1000, 2, generator=generator)
    assert precision_recall(real, real) == (1.0, 1.0)
    assert precision_recall(real, real + 100.0) == (0.0, 0.0)
    # generated points on half of the real support: precise, but recall about one half
    fresh = torch.randn(2000, 2, generator=generator)
    p, r = precision_recall(real, fresh[fresh[:, 0] > 0])
    assert p > 0.9 and 0.4 < r < 0.7
    with pytest.raises(InvalidInputError):
        precision_recall(real[:3], real[:3])


def test_unlabelled_images_are_not_applicable(digits):
    unlabelled = ImageDataset(digits.train_x[:100], digits.test_x[:20])
    unlabelled.name = "folder"
    with pytest.raises(NotApplicableError, match="labelled"):
        evaluate_samples(digits.test_x[:20], unlabelled)


def test_cli_evaluate_on_digits(digits, cache, tmp_path, capsys):
    path = tmp_path / "test_split.npz"
    Samples(digits.test_set()).save(path)
    main(["evaluate", str(path), "--target", "digits", "--json"])
    m = json.loads(capsys.readouterr().out)
    assert set(m) - _INCEPTION_KEYS == {"n", "fd", "fd_floor", "precision", "recall"}
    assert m["n"] == len(digits.test_set())


def test_fd_floor_is_computed_at_the_samples_size(digits, cache, tmp_path, capsys):
    test = digits.test_set()
    small = evaluate_samples(test[:64], digits)
    whole = evaluate_samples(test, digits)
    assert "fd_floor_n" not in small and "fd_floor_n" not in whole  # both at their own n
    # Tr Σ / n bias: the floor at n = 64 is far above the floor at n = 359 ...
    assert small["fd_floor"] > 3 * whole["fd_floor"]
    # ... and fresh real images at n = 64 score near it, not 5x above it
    assert 0.3 * small["fd_floor"] < small["fd"] < 2 * small["fd_floor"]
    # more samples than the test split holds: the floor's own size is in the output
    many = evaluate_samples(digits.sample(1000, torch.Generator().manual_seed(1)), digits)
    assert many["fd_floor_n"] == len(test) and many["n"] == 1000
    path = tmp_path / "many.npz"
    Samples(digits.sample(1000, torch.Generator().manual_seed(1))).save(path)
    main(["evaluate", str(path), "--target", "digits"])
    out = capsys.readouterr().out
    assert f"fd_floor is computed at n = {len(test)}" in out and "1000 samples" in out
