"""Exclusive run directories: one writer at a time, a killed writer never blocks its resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from cli_contract import assert_one_line_error
from genmodels.errors import RunLockedError
from genmodels.targets import get_target
from genmodels.training import TrainConfig, fit, load_model
from genmodels.training.rundir import LOCK_NAME, exclusive_run, idle_run
from genmodels.training.setup import build_model

_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
_TRAIN = [
    "train", "flow", "--data", "eight_gaussians", "--no-progress",
    "--set", "transforms=1", "--set", "hidden=4", "--set", "train.batch_size=8",
    "--set", "train.checkpoint_every=1", "--set", "train.log_every=1",
    "--set", "train.eval_samples=50",
]  # fmt: skip

# Holds the lock of argv[1] until stdin closes (a writer that is busy for as long as needed).
_HOLDER = textwrap.dedent(
    """
    import sys
    from genmodels.training.rundir import exclusive_run
    with exclusive_run(sys.argv[1]):
        print("locked", flush=True)
        sys.stdin.read()
    """
)


def _committed_step(run) -> int:
    path = run / "config.json"
    return json.loads(path.read_text())["step"] if path.is_file() else -1


def _cli(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "genmodels", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_ENV,
    )


@pytest.mark.slow
def test_two_writers_one_run_directory(tmp_path) -> None:
    """A second `genmodels train` on a directory being written exits 2 with one line, and
    the first one's metrics.jsonl has every step once."""
    run = tmp_path / "run"
    first = _cli(*_TRAIN, "--steps", "400", "--out", run)
    deadline = time.monotonic() + 120
    while _committed_step(run) < 1 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert first.poll() is None, first.communicate()[1]
    for extra in (["--resume"], []):  # resuming it, or starting over in it
        second = _cli(*_TRAIN, "--steps", "400", "--out", run, *extra)
        out, err = second.communicate(timeout=120)
        assert_one_line_error(subprocess.CompletedProcess(second.args, second.returncode, out, err))
        assert "being written by another genmodels process" in err
        assert f"(pid {first.pid})" in err
    assert first.poll() is None  # the second writer changed nothing under the first
    first.send_signal(signal.SIGKILL)  # the kernel drops a killed writer's lock
    first.wait()
    first.stdout.close()
    first.stderr.close()
    killed_at = _committed_step(run)
    stop_soon = ["--steps", str(killed_at + 3), "--override"]  # fewer steps than planned
    resumed = _cli(*_TRAIN, *stop_soon, "--out", run, "--resume")
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    steps = [json.loads(ln)["step"] for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, killed_at + 4))


def test_fit_refuses_a_directory_another_process_writes(tmp_path) -> None:
    run = tmp_path / "run"
    run.mkdir()  # a directory the holder did not create keeps its lock file after it
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(run)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_ENV,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        model = build_model("flow", (2,), {"transforms": 1, "hidden": 4}, seed=0)
        config = TrainConfig(steps=2, batch_size=8, progress=False)
        with pytest.raises(RunLockedError, match=rf"pid {holder.pid}.*another --out"):
            fit(model, get_target("eight_gaussians"), config, run)
        with idle_run(run) as idle:
            assert not idle  # readers see a busy directory and leave it alone
    finally:
        holder.stdin.close()
        holder.wait()
        holder.stdout.close()
    with idle_run(run) as idle:
        assert idle  # the holder exited: its lock went with it
    fit(model, get_target("eight_gaussians"), config, run)
    assert load_model(run)[1]["step"] == 2


def test_the_lock_is_reentrant_and_readers_never_wait(tmp_path) -> None:
    run = tmp_path / "run"
    with idle_run(run) as idle:
        assert not idle  # no lock file: nothing is created, nothing tidied
    assert not run.exists()
    model = build_model("flow", (2,), {"transforms": 1, "hidden": 4}, seed=0)
    config = TrainConfig(steps=2, batch_size=8, progress=False)
    with exclusive_run(run):  # as `genmodels train` holds it around `fit`
        fit(model, get_target("eight_gaussians"), config, run)
        assert load_model(run)[1]["step"] == 2  # a reader inside the writer's process
        assert (run / LOCK_NAME).read_text().strip() == str(os.getpid())
    with idle_run(run) as idle:
        assert idle


def test_an_unusable_out_is_one_line(cli, tmp_path) -> None:
    (tmp_path / "file").write_text("not a directory")
    for out in (tmp_path / "file", tmp_path / "file" / "run"):
        proc = cli(*_TRAIN, "--steps", "2", "--out", out)
        assert_one_line_error(proc)
        assert "cannot use" in proc.stderr


def test_a_refused_run_leaves_no_directory(cli, tmp_path) -> None:
    out = tmp_path / "new"
    assert_one_line_error(cli(*_TRAIN, "--steps", "2", "--out", out, "--set", "train.lr=x"))
    assert not out.exists()
