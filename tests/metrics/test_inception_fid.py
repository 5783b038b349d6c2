"""Inception FID through torch-fidelity: offered only offline, absent with a reason otherwise."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from genmodels.errors import InvalidInputError, NotApplicableError
from genmodels.metrics import inception
from genmodels.targets import get_target


@pytest.fixture
def no_weights_anywhere(monkeypatch, tmp_path):
    """No $GENMODELS_INCEPTION_WEIGHTS and an empty torch hub cache."""
    monkeypatch.delenv(inception.INCEPTION_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


@pytest.fixture
def fake_fidelity(monkeypatch):
    """An importable (empty) torch_fidelity, to reach the weights checks without installing it."""
    monkeypatch.setitem(sys.modules, "torch_fidelity", types.ModuleType("torch_fidelity"))


def test_images_become_uint8_rgb_as_torch_fidelity_expects():
    x = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0, 3.0, -7.0, 0.999]).reshape(2, 1, 2, 2)
    u8 = inception.to_inception_uint8(x)
    assert u8.dtype == torch.uint8 and tuple(u8.shape) == (2, 3, 2, 2)
    assert u8[:, 0].flatten().tolist() == [0, 64, 128, 191, 255, 255, 0, 255]
    assert torch.equal(u8[:, 0], u8[:, 1]) and torch.equal(u8[:, 0], u8[:, 2])
    rgb = torch.rand(3, 3, 5, 5) * 2 - 1
    assert torch.equal(
        inception.to_inception_uint8(rgb)[:, 1], ((rgb[:, 1] + 1) * 127.5).round().byte()
    )
    with pytest.raises(InvalidInputError, match="1 or 3"):
        inception.to_inception_uint8(torch.zeros(2, 2, 8, 8))


def test_absent_with_a_reason_when_torch_fidelity_is_missing(monkeypatch, no_weights_anywhere):
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)  # `import torch_fidelity` fails
    assert "torch-fidelity is not installed" in inception.inception_fid_unavailable()
    with pytest.raises(NotApplicableError, match="not installed"):
        inception.inception_features(torch.zeros(2, 1, 8, 8))


def test_absent_with_a_reason_when_no_weights_are_local(
    monkeypatch, tmp_path, fake_fidelity, no_weights_anywhere
):
    reason = inception.inception_fid_unavailable()
    assert "nothing is downloaded" in reason and inception.INCEPTION_WEIGHTS_ENV in reason
    assert "weights-inception-2015-12-05" in reason
    missing = tmp_path / "missing.pth"
    assert str(missing) in inception.inception_fid_unavailable(missing)
    monkeypatch.setenv(inception.INCEPTION_WEIGHTS_ENV, str(missing))
    assert str(missing) in inception.inception_fid_unavailable()
    # a file there makes it available (torch-fidelity itself is faked here)
    missing.write_bytes(b"x")
    assert inception.inception_fid_unavailable() is None
    assert inception.inception_weights_path() == missing
    # torch-fidelity's own cache is the last place looked at
    monkeypatch.delenv(inception.INCEPTION_WEIGHTS_ENV)
    cached = tmp_path / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert inception.inception_weights_path() == cached


def test_image_evaluation_names_the_missing_metric_once(monkeypatch, no_weights_anywhere):
    from genmodels.metrics import evaluate_samples, image

    monkeypatch.setitem(sys.modules, "torch_fidelity", None)
    digits = get_target("digits")
    # an untrained feature net: what is checked here is the wiring, not the features
    net = image.FeatureClassifier(channels=1, num_classes=11).eval()
    monkeypatch.setattr(image, "image_classifier", lambda target, cache=None: net)
    m = evaluate_samples(digits.test_set()[:100], digits)
    assert "inception_fid" not in m and "inception_fid_floor" not in m
    assert m["unavailable"] == {"inception_fid": inception.inception_fid_unavailable()}
    assert m["fd"] >= 0  # the offline metrics are there all the same


@pytest.mark.slow
def test_fid_with_random_inception_weights(monkeypatch, tmp_path):
    """For real: torch-fidelity's extractor with randomly initialised weights saved locally."""
    fe = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    with monkeypatch.context() as m:  # build it without any weights to get a random state dict
        m.setattr(fe, "load_state_dict_from_url", lambda *a, **k: None)
        m.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        torch.manual_seed(0)
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    weights = tmp_path / "inception.pth"
    torch.save(net.state_dict(), weights)
    monkeypatch.setenv(inception.INCEPTION_WEIGHTS_ENV, str(weights))
    assert inception.inception_fid_unavailable() is None

    # Inception at 299 x 299 on a CPU: a few images only (FID of 3 points is still 0 for
    # identical sets and positive for different ones)
    digits = get_target("digits")
    a, b = digits.test_set()[:3], digits.test_set()[3:6]
    phi_a = inception.inception_features(a)
    assert tuple(phi_a.shape) == (3, 2048)
    same = inception.inception_fid(a, reference_features=phi_a)
    other = inception.inception_fid(b, reference_features=phi_a)
    assert other > 0
    assert same == pytest.approx(0.0, abs=1e-4 * other)


def test_image_evaluation_adds_inception_fid_when_available(
    monkeypatch, tmp_path, fake_fidelity, no_weights_anywhere
):
    from genmodels.metrics import evaluate_samples, image

    weights = tmp_path / "inception.pth"
    weights.write_bytes(b"x")
    monkeypatch.setenv(inception.INCEPTION_WEIGHTS_ENV, str(weights))
    calls = []

    def features(x, path=None):  # stands in for Inception: the pixels as features
        calls.append(len(x))
        return x.reshape(len(x), -1).double()

    monkeypatch.setattr(inception, "inception_features", features)
    net = image.FeatureClassifier(channels=1, num_classes=11).eval()
    monkeypatch.setattr(image, "image_classifier", lambda target, cache=None: net)
    monkeypatch.setattr(image, "_INCEPTION_REFERENCE", {})
    digits = get_target("digits")
    test = digits.test_set()
    m = evaluate_samples(test, digits)
    assert "unavailable" not in m
    assert m["inception_fid"] == pytest.approx(m["inception_fid_floor"])  # test split itself
    noise = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert evaluate_samples(noise, digits)["inception_fid"] > 2 * m["inception_fid_floor"]
    # the splits' features were computed once: train, test, then only the two samples
    assert calls == [len(digits.train_x), len(test), len(test), 200]


def test_frechet_distance_with_few_points_in_many_dimensions(generator):
    """Inception FID of a few images: the [n, m] route equals the d x d one."""
    from genmodels.metrics.frechet import _sqrtm_psd, frechet_distance

    a = torch.randn(6, 40, generator=generator, dtype=torch.float64)
    b = torch.randn(9, 40, generator=generator, dtype=torch.float64) * 2 + 0.5
    ca, cb = torch.cov(a.T), torch.cov(b.T)
    root = _sqrtm_psd(ca)
    cross = torch.linalg.eigvalsh(root @ cb @ root).clamp_min(0).sqrt().sum()
    expected = float((a.mean(0) - b.mean(0)).square().sum() + ca.trace() + cb.trace() - 2 * cross)
    # the d x d route loses ~1e-8 to the square roots of its zero eigenvalues
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
