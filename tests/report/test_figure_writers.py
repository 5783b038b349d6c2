"""The picture writers: one GIF writer, atomic writes, no fixed temporary names."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genmodels.demos.base import save_figure, write_result
from genmodels.io import TEMP_MARKER
from genmodels.report.animate import save_animation, save_scatter
from genmodels.report.figure import pyplot, save_gif, save_png
from genmodels.report.grid import save_image_grid
from genmodels.samples import Samples


def _frames(k: int) -> list[np.ndarray]:
    return [np.full((6, 6, 3), 40 * i, np.uint8) for i in range(k)]


def test_save_gif_frames_and_the_held_last_frame(tmp_path: Path):
    path = save_gif(_frames(4), tmp_path / "a.gif", fps=10, last_frame_seconds=1.5)
    with Image.open(path) as gif:
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    assert durations == [100, 100, 100, 1500]


def test_trajectory_animation_goes_through_the_one_gif_writer(tmp_path: Path):
    frames = [torch.randn(50, 2) * s for s in (3.0, 2.0, 1.0)]
    path = save_animation(frames, tmp_path / "t.gif", fps=5)
    with Image.open(path) as gif:
        assert gif.n_frames == 3
        gif.seek(2)
        assert gif.info["duration"] == 1200  # one frame's time plus the one-second hold
    with pytest.raises(Exception, match="no frames"):
        save_gif([], tmp_path / "empty.gif")


def _plant_symlinks(directory: Path, name: str, victim: Path) -> None:
    """Symlinks at the fixed temporary names writers used to take (``NAME.tmp``,
    ``.NAME.tmpPID``, ``.STEM.tmpPID.SUFFIX``): a writer that follows one clobbers ``victim``."""
    stem, suffix = os.path.splitext(name)
    pid = os.getpid()
    for planted in (
        f"{name}.tmp",
        f".{name}.tmp{pid}",
        f".{stem}.tmp{pid}{suffix}",
        f".{name}.tmp{pid}.gif",
        f".{name}.tmp.png",
    ):
        (directory / planted).symlink_to(victim)


@pytest.mark.parametrize(
    "name, write",
    [
        ("s.npz", lambda p: Samples(torch.zeros(3, 2)).save(p)),
        ("s.png", lambda p: save_scatter(torch.randn(20, 2), p)),
        ("g.png", lambda p: save_image_grid(torch.zeros(4, 1, 8, 8), p, nrow=2)),
        ("a.png", lambda p: save_png(np.zeros((4, 4), np.uint8), p)),
        ("a.gif", lambda p: save_gif(_frames(2), p)),
        ("t.gif", lambda p: save_animation([torch.randn(20, 2)] * 2, p)),
        ("f.png", lambda p: save_figure(pyplot().figure(figsize=(1, 1)), p)),
        ("result.json", lambda p: write_result(p.parent, {"x": float("nan")})),
    ],
)
def test_writers_never_follow_planted_temporary_names(tmp_path: Path, name, write):
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    out = tmp_path / "out"
    out.mkdir()
    _plant_symlinks(out, name, victim)
    write(out / name)
    assert victim.read_text() == "untouched"
    assert (out / name).is_file() and not (out / name).is_symlink()
    assert not [p for p in out.iterdir() if TEMP_MARKER in p.name]  # no temporary left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path):
    path = tmp_path / "a.png"
    save_png(np.zeros((4, 4), np.uint8), path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        save_png(np.zeros((4, 4), object), path)  # Pillow cannot write object arrays
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_demo_results_are_strict_json(tmp_path: Path):
    clean = write_result(tmp_path, {"t": torch.tensor([1.0, 2.0]), "nan": float("inf"), "k": (1,)})
    assert clean == {"t": [1.0, 2.0], "nan": None, "k": [1]}
    assert "Infinity" not in (tmp_path / "result.json").read_text()
