"""`fit` under a `Budget`: one plan from the first steps' rate, a whole schedule, a clean stop.

A fake clock that a callback advances by a fixed amount per step makes the budget's view of
time exact, so the plan and the stop are checked step for step.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from genmodels.budget import Budget
from genmodels.errors import InvalidInputError
from genmodels.targets import get_target
from genmodels.training import (
    Callback,
    JsonlLogger,
    Objective,
    TrainConfig,
    fit,
    read_checkpoint_config,
)
from genmodels.training.schedule import StepPlanner, schedule_for
from genmodels.training.setup import build_model


class _Clock(Callback):
    """A fake clock: ``seconds_per_step(step)`` pass after each step; records the lr."""

    def __init__(self, seconds_per_step=lambda step: 1.0) -> None:
        self.now = 0.0
        self.seconds_per_step = seconds_per_step
        self.lr: dict[int, float] = {}
        self.last_seen: list[bool] = []

    def __call__(self) -> float:
        return self.now

    def on_step(self, state) -> None:
        self.now += self.seconds_per_step(state.step)
        self.lr[state.step] = state.lr["model"]
        self.last_seen.append(state.is_last)


def _config(**kw) -> TrainConfig:
    base = {"steps": 1000, "batch_size": 16, "warmup_steps": 100, "progress": False}
    return TrainConfig(**{**base, "device": "cpu", **kw})


def _flow():
    return build_model("flow", (2,), {"transforms": 1, "hidden": 8}, seed=0)


def test_the_run_is_planned_once_and_its_schedule_kept_whole() -> None:
    clock = _Clock()
    budget = Budget(100.0, clock=clock)
    config = _config()
    state = fit(_flow(), get_target("banana"), config, callbacks=[clock], budget=budget)
    # 3 steps skipped; timed from t = 2 until 5% of the budget passed (5 steps); then 95%
    # of the 93 s left at 1 s a step
    assert state.planned_steps == 3 + 5 + int(0.95 * 93)
    assert state.step == state.planned_steps and not state.stopped_by_budget
    assert clock.last_seen == [False] * (state.step - 1) + [True]
    # after the plan the lr follows the warm-up + cosine of the planned run, to its end
    factor = schedule_for(config, state.planned_steps)
    for step in range(14, state.step + 1):
        assert clock.lr[step] == pytest.approx(config.lr * factor(step - 1)), step
    assert clock.lr[state.step] == pytest.approx(config.lr * config.min_lr_ratio, rel=0.02)
    # the shortened warm-up is a tenth of the run at most
    assert schedule_for(config, 96)(0) == pytest.approx(1 / 9)


def test_the_deadline_stops_training_with_a_checkpoint(tmp_path) -> None:
    # steps slow down after the plan: the deadline, not the plan, ends the run
    clock = _Clock(lambda step: 1.0 if step <= 13 else 5.0)
    out = tmp_path / "run"
    state = fit(
        _flow(),
        get_target("banana"),
        _config(checkpoint_every=1000, log_every=1000),
        out,
        callbacks=[clock, JsonlLogger(out / "metrics.jsonl", every=1000)],
        budget=Budget(100.0, clock=clock),
    )
    assert state.stopped_by_budget and state.is_last
    assert state.step < state.planned_steps < 1000
    # stopped by the first step that began past the deadline (each later step costs 5 s)
    assert clock.now - 10.0 < 100.0 <= clock.now - 5.0
    assert read_checkpoint_config(out)["step"] == state.step  # saved as at a normal end
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["step"] == state.step


def test_min_steps_are_done_whatever_the_budget() -> None:
    target = get_target("banana")
    state = fit(_flow(), target, _config(min_steps=20), budget=Budget(0.0))
    assert state.step == 20 == state.planned_steps
    state = fit(_flow(), target, _config(), budget=Budget(0.0))
    assert state.step == 1 and state.stopped_by_budget  # one step, then the deadline


def test_an_unlimited_budget_changes_nothing() -> None:
    target = get_target("banana")
    a = fit(_flow(), target, _config(steps=30))
    b = fit(_flow(), target, _config(steps=30), budget=Budget())
    assert a.planned_steps == b.planned_steps == b.step == 30
    for (name, p), q in zip(
        a.model.state_dict().items(), b.model.state_dict().values(), strict=True
    ):
        assert torch.equal(p, q), name


def test_a_real_budget_is_kept() -> None:
    budget = Budget(1.0)
    state = fit(_flow(), get_target("banana"), _config(steps=1_000_000), budget=budget)
    assert 13 < state.step <= state.planned_steps < 1_000_000
    assert budget.elapsed() < 1.0 + 0.5  # a step or so past the deadline, on a busy machine


def test_planner_without_a_limit_never_plans_or_stops() -> None:
    planner = StepPlanner(Budget(), start=0, planned=50, min_steps=0)
    assert all(planner.after_step(s) is None for s in range(1, 51))
    assert not planner.should_stop(10, 50)


def test_planner_plans_early_when_steps_are_slow() -> None:
    t = [0.0]
    budget = Budget(100.0, clock=lambda: t[0])
    planner = StepPlanner(budget, start=0, planned=1000, min_steps=0)
    plans = []
    for step in range(1, 8):
        t[0] += 3.0  # 3 s a step: 5% of the budget gone after two timed steps
        plans.append(planner.after_step(step))
    assert plans[:4] == [None] * 4 and plans[4] is not None
    assert plans[4] == 3 + 2 + int(0.95 * (100 - 15) / 3.0)
    assert plans[5:] == [None, None]  # once


def test_a_moment_of_load_does_not_cut_the_plan_short() -> None:
    """Three slow steps (a busy moment) among fast ones: the plan follows the fast rate."""
    t = [0.0]
    budget = Budget(100.0, clock=lambda: t[0])
    planner = StepPlanner(budget, start=0, planned=100_000, min_steps=0)
    plan, step = None, 0
    while plan is None:
        step += 1
        t[0] += 0.5 if 4 <= step <= 6 else 0.01
        plan = planner.after_step(step)
    assert t[0] >= 5.0  # measured over 5% of the budget, not over a few steps
    assert plan > 5_000  # ~0.014 s a step; the three slow ones alone would plan ~190


def test_an_objective_trains_through_fit_but_keeps_no_checkpoints(tmp_path) -> None:
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    target = get_target("banana")
    objective = Objective(net, lambda x: (net(x) - 1.0).square().mean(), (2,))
    x = target.sample(500, torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = float(objective.loss_fn(x))
    state = fit(objective, target, _config(steps=200, warmup_steps=10, lr=5e-2))
    assert state.step == 200 and math.isfinite(state.losses["model"])
    with torch.no_grad():
        assert float(objective.loss_fn(x)) < before / 4
    with pytest.raises(InvalidInputError, match="Objective"):
        fit(objective, target, _config(steps=2), tmp_path / "run")
