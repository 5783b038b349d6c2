"""Crash-consistent checkpoints: a kill at any instant leaves a run that resumes bit-for-bit.

`save_checkpoint` writes a new set directory, commits it by replacing ``config.json`` (which
names it) and only then re-links ``model.safetensors`` and removes the superseded set; the
next writer tidies what a kill left. The kill loop SIGKILLs a real ``genmodels train`` at
random moments (mostly inside the commit protocol, since with a checkpoint every step and a
tiny model the checkpoint is most of a step) and resumes it each time.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from genmodels.io import TEMP_MARKER
from genmodels.targets import get_target
from genmodels.training import (
    Callback,
    JsonlLogger,
    TrainConfig,
    fit,
    load_model,
    read_checkpoint_config,
)
from genmodels.training.checkpoint import MODEL_FILE, SETS_DIR
from genmodels.training.setup import build_model

STEPS = 60
KILLS_PER_RUN = 11
TINY = [
    "--set", "transforms=1", "--set", "hidden=4", "--set", "train.batch_size=8",
    "--set", "train.warmup_steps=5", "--set", "train.checkpoint_every=1",
    "--set", "train.log_every=1", "--set", "train.eval_samples=50",
]  # fmt: skip
TRAIN = ["train", "flow", "--data", "eight_gaussians", "--steps", str(STEPS), *TINY]


def _step(run: Path) -> int:
    """The committed step (-1: nothing committed yet); config.json is replaced atomically."""
    path = run / "config.json"
    return json.loads(path.read_text())["step"] if path.is_file() else -1


def _check_committed_set(run: Path) -> None:
    """config.json names a complete set whose files are all from its step."""
    cfg = read_checkpoint_config(run)
    set_dir = run / SETS_DIR / cfg["checkpoint_set"]
    for name in ("model.safetensors", "training_state.safetensors"):
        with safe_open(str(set_dir / name), framework="pt") as f:
            assert f.metadata()["step"] == str(cfg["step"]), name
    assert json.loads((set_dir / "training_state.json").read_text())["step"] == cfg["step"]


def _leftovers(run: Path) -> list[str]:
    """What a kill left for the next writer to tidy (temporaries, extra sets, a stale link)."""
    found = [p.name for p in run.rglob("*") if TEMP_MARKER in p.name]
    sets = sorted(p.name for p in (run / SETS_DIR).iterdir()) if (run / SETS_DIR).is_dir() else []
    if len(sets) > 1:
        found += sets
    if (run / "config.json").is_file():
        current = run / SETS_DIR / read_checkpoint_config(run)["checkpoint_set"] / MODEL_FILE
        if not (run / MODEL_FILE).is_file() or not os.path.samefile(run / MODEL_FILE, current):
            found.append("stale model.safetensors")
    return found


def _spawn(run: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "genmodels", *TRAIN, "--out", str(run), "--resume", "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"},
    )


def _kill_at_random(
    proc: subprocess.Popen[str], run: Path, rng: random.Random, pace: list[float], early: bool
) -> None:
    """SIGKILL ``proc`` 1-2 commits after it started, at a random point of the next step; or,
    when ``early``, late in its start-up (tidying, building, the first step). ``pace`` holds
    the seconds per step and the seconds from start to first commit seen so far.
    """
    before, started = _step(run), time.monotonic()
    if early:
        # late in start-up, but never past the first commit: a start-up slower than the one
        # `pace` measured must not let the process train on to the end before the kill
        deadline = started + rng.uniform(0.6, 1.0) * pace[1]
        while proc.poll() is None and time.monotonic() < deadline and _step(run) <= before:
            time.sleep(0.002)
    else:
        wanted, seen, last = before + rng.randint(1, 2), before, None
        deadline = started + 120
        while proc.poll() is None and _step(run) < wanted and time.monotonic() < deadline:
            now_step = _step(run)
            if now_step != seen:
                now = time.monotonic()
                if last is None:
                    pace[1] = now - started
                else:
                    pace[0] = (now - last) / max(1, now_step - seen)
                seen, last = now_step, now
            time.sleep(0.002)
        time.sleep(rng.uniform(0, pace[0]))
    assert proc.poll() is None, f"resume exited by itself ({proc.returncode}): {proc.stderr.read()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert _step(run) >= before  # a kill never takes the run back


def _kill_loop(run: Path, kills: int, seed: int) -> int:
    """``kills`` kill-and-resume cycles on ``run``; returns how many left something to tidy."""
    rng, pace = random.Random(seed), [0.05, 2.0]
    untidy = 0
    for i in range(kills):
        _kill_at_random(_spawn(run), run, rng, pace, early=i % 5 == 2)
        if _step(run) >= 0:
            _check_committed_set(run)
        untidy += bool(_leftovers(run))
    assert _step(run) < STEPS  # every kill interrupted the run
    final = _spawn(run)
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err
    assert _leftovers(run) == []
    return untidy


@pytest.mark.slow
def test_random_kills_never_lose_the_run(cli, one_thread, tmp_path) -> None:
    """22 SIGKILLs at random moments (two runs killed side by side, 11 kills each); every
    resume starts; the final weights and metrics.jsonl equal an uninterrupted run's."""
    runs = [tmp_path / "killed-a", tmp_path / "killed-b"]
    with ThreadPoolExecutor(len(runs)) as pool:
        untidy = sum(pool.map(_kill_loop, runs, [KILLS_PER_RUN] * len(runs), [12, 13]))
    kills = KILLS_PER_RUN * len(runs)
    print(f"{kills} kills, {untidy} left something to tidy, {kills + len(runs)} resumes")
    assert untidy > 0  # the kills did land inside the commit protocol

    reference = tmp_path / "reference"
    cli(*TRAIN, "--out", reference, "--no-progress", check=True)
    want = load_file(reference / MODEL_FILE)
    for run in runs:
        got = load_file(run / MODEL_FILE)
        assert got.keys() == want.keys()
        for name, tensor in want.items():  # model.* and ema.*
            assert torch.equal(got[name], tensor), (run.name, name)
        rows = (run / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(ln)["step"] for ln in rows] == list(range(1, STEPS + 1))


def _config(**kw) -> TrainConfig:
    base = {"steps": 6, "batch_size": 16, "warmup_steps": 2, "checkpoint_every": 2}
    return TrainConfig(**{**base, "progress": False, **kw})


def _flow():
    return build_model("flow", (2,), {"transforms": 1, "hidden": 8}, seed=0)


class _KillAt(Callback):
    """Stops a run after ``step`` steps, as a kill would (its checkpoint is on disk)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step(self, state) -> None:
        if state.step == self.step:
            raise KeyboardInterrupt


def _cut(out: Path, step: int = 6) -> None:
    with pytest.raises(KeyboardInterrupt):
        fit(
            _flow(), get_target("eight_gaussians"), _config(steps=8), out, callbacks=[_KillAt(step)]
        )


def test_layout_keeps_the_names_users_see(tmp_path) -> None:
    out = tmp_path / "run"
    fit(_flow(), get_target("eight_gaussians"), _config(), out)
    cfg = read_checkpoint_config(out)
    set_dir = out / SETS_DIR / cfg["checkpoint_set"]
    assert cfg["checkpoint_set"].startswith("step-00000006-")
    assert sorted(p.name for p in (out / SETS_DIR).iterdir()) == [set_dir.name]
    assert sorted(p.name for p in set_dir.iterdir()) == [
        "model.safetensors", "training_state.json", "training_state.safetensors",
    ]  # fmt: skip
    assert os.path.samefile(out / MODEL_FILE, set_dir / MODEL_FILE)
    assert not (out / "training_state.json").exists()


def test_what_a_killed_writer_left_is_tidied_and_the_run_resumes(tmp_path) -> None:
    target = get_target("eight_gaussians")
    full = fit(_flow(), target, _config(steps=8), tmp_path / "full")
    out = tmp_path / "run"
    _cut(out)
    committed = read_checkpoint_config(out)["checkpoint_set"]
    sets = out / SETS_DIR
    # A kill before the commit: a half-written set; during atomic writes: temporaries.
    (sets / "step-00000008-0badc0de").mkdir()
    (sets / "step-00000008-0badc0de" / MODEL_FILE).write_bytes(b"half")
    (sets / committed / f".model{TEMP_MARKER}x1.safetensors").write_bytes(b"partial")
    (out / f".config{TEMP_MARKER}x2.json").write_text("{")
    # A kill between the commit and the re-link: model.safetensors is an older file.
    (out / MODEL_FILE).unlink()
    shutil.copyfile(sets / committed / MODEL_FILE, out / MODEL_FILE)

    assert (
        load_model(out)[1]["step"] == 6
    )  # a reader reads the committed set and tidies an idle run
    assert _leftovers(out) == []
    (sets / "step-00000008-0badc0de").mkdir()
    resumed = fit(_flow(), target, _config(steps=8), out, resume=True)
    assert _leftovers(out) == []
    for name, a in full.model.state_dict().items():
        assert torch.equal(a, resumed.model.state_dict()[name]), name


def test_a_reader_sees_the_committed_set_while_a_new_one_is_written(tmp_path) -> None:
    out = tmp_path / "run"
    state = fit(_flow(), get_target("eight_gaussians"), _config(), out)
    half = out / SETS_DIR / "step-00000008-12345678"  # a writer is filling it right now
    half.mkdir()
    (half / MODEL_FILE).write_bytes(b"not yet")
    model, cfg = load_model(out, ema=False)
    assert cfg["step"] == 6
    for name, a in state.model.state_dict().items():
        assert torch.equal(a, model.state_dict()[name]), name


def test_a_run_directory_without_sets_still_loads_and_resumes(tmp_path) -> None:
    """Run directories written before sets existed keep working; resuming converts them."""
    target = get_target("eight_gaussians")
    full = fit(_flow(), target, _config(steps=8), tmp_path / "full")
    out = tmp_path / "old"
    _cut(out)
    cfg = read_checkpoint_config(out)
    set_dir = out / SETS_DIR / cfg.pop("checkpoint_set")
    (out / MODEL_FILE).unlink()
    for p in set_dir.iterdir():
        p.rename(out / p.name)
    shutil.rmtree(out / SETS_DIR)
    (out / "config.json").write_text(json.dumps(cfg))

    assert load_model(out)[1]["step"] == 6
    resumed = fit(_flow(), target, _config(steps=8), out, resume=True)
    assert read_checkpoint_config(out)["checkpoint_set"].startswith("step-00000008-")
    assert not (out / "training_state.json").exists() and _leftovers(out) == []
    for name, a in full.model.state_dict().items():
        assert torch.equal(a, resumed.model.state_dict()[name]), name


def test_resume_drops_metrics_rows_past_the_checkpoint_and_damaged_ones(tmp_path) -> None:
    out = tmp_path / "run"
    logger = JsonlLogger(out / "metrics.jsonl", every=1)
    with pytest.raises(KeyboardInterrupt):  # rows 1-5 written, checkpoint at step 4
        fit(
            _flow(),
            get_target("eight_gaussians"),
            _config(steps=8),
            out,
            callbacks=[logger, _KillAt(5)],
        )
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 6, "los')  # a row cut short (a full disk)
    logger = JsonlLogger(out / "metrics.jsonl", every=1)
    fit(
        _flow(),
        get_target("eight_gaussians"),
        _config(steps=8),
        out,
        resume=True,
        callbacks=[logger],
    )
    rows = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(ln)["step"] for ln in rows] == list(range(1, 9))
