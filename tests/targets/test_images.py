import numpy as np
import pytest
import torch

from genmodels.errors import InvalidInputError, UnknownNameError
from genmodels.targets import ImageDataset, get_target, load_image_folder, load_npz_images


def test_digits():
    ds = get_target("digits")
    assert ds.event_shape == (1, 8, 8) and ds.num_levels == 17 and ds.kind == "image"
    assert len(ds.train_x) + len(ds.test_x) == 1797 and len(ds.test_x) == 359
    levels = torch.unique(torch.cat([ds.train_x, ds.test_x]))
    assert len(levels) == 17 and levels.min() == -1 and levels.max() == 1
    assert ds.num_classes == 10 and ds.train_y.shape == (len(ds.train_x),)
    torch.testing.assert_close(ds.test_x, get_target("digits").test_x)  # fixed split
    assert ds.sample(5, torch.Generator().manual_seed(0)).shape == (5, 1, 8, 8)
    _, y = ds.sample_labelled(5, torch.Generator().manual_seed(0))
    assert y.shape == (5,)
    assert not ds.has_log_prob and ds.has_samples


def test_image_folder_with_class_subfolders(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(5):
            arr = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
            Image.fromarray(arr).save(tmp_path / cls / f"{i}.png")
    ds = load_image_folder(tmp_path, size=16)
    assert ds.event_shape == (3, 16, 16) and ds.num_levels == 256
    assert ds.class_names == ["cats", "dogs"] and len(ds.train_x) + len(ds.test_x) == 10
    assert ds.train_x.min() >= -1 and ds.train_x.max() <= 1
    gray = get_target(str(tmp_path))  # a folder path works as a target name
    assert gray.event_shape == (3, 32, 32)
    assert load_image_folder(tmp_path, size=8, grayscale=True).event_shape == (1, 8, 8)


def test_npz_images(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (12, 6, 6, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(12) % 3)
    ds = load_npz_images(tmp_path / "d.npz")
    assert ds.event_shape == (3, 6, 6) and ds.num_classes == 3
    assert get_target(str(tmp_path / "d.npz")).event_shape == (3, 6, 6)
    np.savez(tmp_path / "f.npz", x=np.random.default_rng(0).random((4, 5, 5)))
    assert load_npz_images(tmp_path / "f.npz").num_levels is None


def test_image_loading_errors(tmp_path):
    with pytest.raises(InvalidInputError):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="found 0 images"):
        load_image_folder(tmp_path)
    np.savez(tmp_path / "bad.npz", images=np.zeros((3, 4, 4)))
    with pytest.raises(InvalidInputError, match="no array 'x'"):
        load_npz_images(tmp_path / "bad.npz")
    with pytest.raises(InvalidInputError, match=r"\[-1, 1\]"):
        ImageDataset.from_arrays(np.full((3, 4, 4), 7.0))
    with pytest.raises(UnknownNameError):
        get_target("no_such_target")
