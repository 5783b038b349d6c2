"""TensorBoard is an extra, switched on by `train --tensorboard`: off by default, one line and
exit 2 when asked for but not installed, losses and learning rates logged when present."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cli_contract import assert_one_line_error
from genmodels.errors import NotApplicableError
from genmodels.training import TensorBoardLogger, TrainConfig, default_callbacks
from genmodels.training.callbacks import check_tensorboard


@pytest.fixture
def no_tensorboard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Imports of TensorBoard fail as they do where the package is not installed."""
    for name in ("tensorboard", "torch.utils.tensorboard"):
        monkeypatch.setitem(sys.modules, name, None)


def test_off_by_default(tmp_path: Path) -> None:
    callbacks = default_callbacks(tmp_path, TrainConfig())
    assert not any(isinstance(c, TensorBoardLogger) for c in callbacks)


def test_absent_is_a_typed_error(no_tensorboard, tmp_path: Path) -> None:
    with pytest.raises(NotApplicableError, match=r"genmodels\[tensorboard\]"):
        check_tensorboard()
    with pytest.raises(NotApplicableError, match="tensorboard"):
        default_callbacks(tmp_path, TrainConfig(), tensorboard=True)
    assert default_callbacks(tmp_path, TrainConfig())  # without the flag nothing is needed


def test_absent_flag_is_one_line_and_exit_2_before_the_run(cli, no_tensorboard, tmp_path):
    out = tmp_path / "run"
    result = cli("train", "flow", "--data", "two_moons", "--out", out, "--steps", "2",
                 "--no-progress", "--tensorboard")  # fmt: skip
    assert_one_line_error(result)
    assert "pip install 'genmodels[tensorboard]'" in result.stderr
    assert not out.exists()  # refused before anything was written


def test_present_logs_loss_and_learning_rate(cli, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    cli("train", "flow", "--data", "two_moons", "--out", out, "--steps", "4", "--no-progress",
        "--set", "train.log_every=1", "--set", "train.warmup_steps=2", "--tensorboard",
        check=True)  # fmt: skip
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss/model", "lr/model"} <= tags, tags
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    logged = {e.step: e.value for e in events.Scalars("lr/model")}
    assert logged == pytest.approx({r["step"]: r["lr/model"] for r in rows}, rel=1e-6)
    assert len(set(logged.values())) > 1  # the warm-up moves the learning rate
