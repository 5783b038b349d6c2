import numpy as np
import pytest
import torch

from genmodels.errors import InvalidInputError, UnknownNameError
from genmodels.registry import Registry
from genmodels.samples import Samples, load_samples


def test_registry_suggests_close_name():
    reg: Registry[int] = Registry("target")
    reg.add("eight_gaussians", 1)
    with pytest.raises(UnknownNameError, match="did you mean 'eight_gaussians'"):
        reg.get("eight_gausians")


def test_registry_rejects_duplicates():
    reg: Registry[int] = Registry("target")
    reg.add("a", 1)
    with pytest.raises(ValueError):
        reg.add("a", 2)


def test_samples_roundtrip_chain_layout(tmp_path):
    s = Samples(torch.randn(3, 5, 2), chains=3, nfe=15, seconds=0.5, info={"acceptance": 0.8})
    assert s.n == 15 and s.event_shape == (2,)
    s.save(tmp_path / "s.npz")
    t = load_samples(tmp_path / "s.npz")
    assert t.chains == 3 and t.nfe == 15 and t.info == {"acceptance": pytest.approx(0.8)}
    torch.testing.assert_close(t.x, s.x)


def test_samples_rejects_inconsistent_chain_layout():
    with pytest.raises(InvalidInputError):
        Samples(torch.randn(4, 2), chains=3)


def test_load_samples_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="no such file"):
        load_samples(tmp_path / "missing.npz")
    np.savez(tmp_path / "y.npz", y=np.zeros(3))
    with pytest.raises(InvalidInputError, match="no array 'x'"):
        load_samples(tmp_path / "y.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InvalidInputError):
        load_samples(tmp_path / "junk.npz")


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    import os
    import stat

    from genmodels.io import atomic_write_text

    mask = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "a.json", "{}")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
