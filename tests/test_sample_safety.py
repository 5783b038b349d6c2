"""`genmodels sample --out`: never over the run's own files, never through a planted symlink,
and an output that cannot be written is one line before anything is sampled."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from cli_contract import assert_one_line_error
from genmodels.io import TEMP_MARKER
from genmodels.targets import get_target
from genmodels.training import TrainConfig, fit
from genmodels.training.setup import build_model


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample-safety") / "run"
    config = TrainConfig(steps=2, batch_size=32, progress=False)
    fit(
        build_model("flow", (2,), {"transforms": 2, "hidden": 8}),
        get_target("two_moons"),
        config,
        out,
    )
    return out


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.mark.parametrize(
    "name", ["model.safetensors", "config.json", "training_state.json", "metrics.jsonl", "."]
)
def test_an_output_over_the_runs_own_files_is_refused(cli, run_dir, name):
    before = _snapshot(run_dir)
    for option in ("--out", "--animate"):
        extra = [] if option == "--out" else ["--out", run_dir.parent / "ok.npz"]
        proc = cli("sample", run_dir, "--n", "5", *extra, option, run_dir / name)
        assert_one_line_error(proc)
        assert "run" in proc.stderr
    assert _snapshot(run_dir) == before


def test_an_existing_foreign_file_in_the_run_is_refused_an_earlier_output_is_not(
    cli, run_dir, tmp_path
):
    """Checkpoint layouts may gain files: any existing non-.npz file of the run is kept."""
    lock = run_dir / ".newer-layout.lock"
    lock.write_text("keep me")
    try:
        assert_one_line_error(cli("sample", run_dir, "--n", "5", "--out", lock))
        assert lock.read_text() == "keep me"
    finally:
        lock.unlink()
    again = run_dir / "samples.npz"
    for _ in range(2):  # writing (and rewriting) a sample file in the run directory is fine
        cli("sample", run_dir, "--n", "5", "--out", again, check=True)
    again.unlink()


def test_a_directory_or_an_unwritable_place_is_one_line(cli, run_dir, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "d", tmp_path / "file" / "x.npz", tmp_path / "file" / "a" / "x.npz"):
        proc = cli("sample", run_dir, "--n", "5", "--out", out)
        assert_one_line_error(proc)
    assert (tmp_path / "file").read_text() == "x"
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert_one_line_error(cli("sample", run_dir, "--n", "5", "--out", locked / "x.npz"))
        assert "not writable" in cli("sample", run_dir, "--out", locked / "x.npz").stderr


def _plant_symlinks(directory: Path, name: str, victim: Path) -> None:
    """Symlinks at the fixed temporary names writers used to take (``NAME.tmp``,
    ``.NAME.tmpPID``, ``.STEM.tmpPID.SUFFIX``, ``.STEM.tmp-*``): a writer that follows one
    clobbers ``victim`` (the idea of tests/report/test_figure_writers.py)."""
    stem, suffix = os.path.splitext(name)
    pid = os.getpid()
    for planted in (
        f"{name}.tmp",
        f".{name}.tmp",
        f".{name}.tmp{pid}",
        f".{stem}.tmp{pid}{suffix}",
        f".{stem}{TEMP_MARKER}{suffix}",
        f".{stem}{TEMP_MARKER}x{suffix}",
        f"{stem}.tmp{suffix}",
    ):
        (directory / planted).symlink_to(victim)


def test_sample_never_follows_a_planted_symlink(cli, run_dir, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    out = tmp_path / "out"
    out.mkdir()
    _plant_symlinks(out, "x.npz", victim)
    _plant_symlinks(out, "t.gif", victim)
    (out / "link.npz").symlink_to(victim)  # an --out that is itself a symlink is replaced
    for name in ("x.npz", "link.npz"):
        cli(
            "sample",
            run_dir,
            "--n",
            "20",
            "--out",
            out / name,
            "--animate",
            out / "t.gif",
            check=True,
        )
        assert victim.read_text() == "untouched"
        assert (out / name).is_file() and not (out / name).is_symlink()
        with np.load(out / name) as data:
            assert data["x"].shape == (20, 2)
    assert (out / "t.gif").is_file() and not (out / "t.gif").is_symlink()
    # no temporary of genmodels' own left behind (the planted links are all still there)
    assert not [p for p in out.iterdir() if TEMP_MARKER in p.name and not p.is_symlink()]
    assert victim.read_text() == "untouched"
