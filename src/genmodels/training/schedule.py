"""The learning-rate schedule of `fit` and its one re-plan under a time budget.

`fit` follows a linear warm-up and a cosine decay over the run's planned steps. Under a
`genmodels.budget.Budget`, `StepPlanner` times the first steps, asks `Budget.plan` once how
many steps fit, and `schedule_for` stretches the warm-up + cosine over that many steps, so a
shortened run still decays fully instead of being cut off near its peak learning rate.

Example:
    >>> from genmodels.budget import Budget
    >>> planner = StepPlanner(Budget(), start=0, planned=100, min_steps=0)
    >>> planner.after_step(13), planner.should_stop(13, 100)   # no limit: nothing to plan
    (None, False)
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from genmodels.budget import Budget
from genmodels.training.config import TrainConfig

__all__ = ["StepPlanner", "make_schedulers", "schedule_for", "warmup_cosine"]


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float) -> Callable[[int], float]:
    """LR multiplier: linear warm-up to 1, then cosine decay to ``min_ratio`` at the end."""

    def factor(i: int) -> float:
        if i < warmup_steps:
            return (i + 1) / warmup_steps
        progress = min(1.0, (i - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def schedule_for(config: TrainConfig, total_steps: int) -> Callable[[int], float]:
    """The LR multiplier of a run of ``total_steps``: ``config``'s warm-up and cosine.

    A run planned shorter than ``config.steps`` keeps its warm-up to at most a tenth of it,
    so most of the shortened run is spent decaying, as in the full one.
    """
    warmup = config.warmup_steps
    if total_steps < config.steps:
        warmup = min(warmup, total_steps // 10)
    return warmup_cosine(warmup, total_steps, config.min_lr_ratio)


def make_schedulers(
    optimizers: dict[str, Optimizer], factor: Callable[[int], float], done: int = 0
) -> dict[str, LambdaLR]:
    """One `LambdaLR` per optimiser following ``factor``, ready for step ``done``.

    With ``done > 0`` (a re-plan mid-run) the optimisers' learning rates are set to
    ``factor(done)`` at once, as if the schedule had always been this one.
    """
    return {
        name: LambdaLR(opt, factor, last_epoch=done - 1) if done > 0 else LambdaLR(opt, factor)
        for name, opt in optimizers.items()
    }


class StepPlanner:
    """Plans, once, how many steps fit in a budget, and says when the budget stops training.

    The first ``skip`` steps pay for one-time set-up (allocations, lazy imports), so the rate
    is measured from the end of them over ``timed_share`` of the budget (and at least two
    steps): a window of seconds rather than of a few steps, so that a moment of load on a
    shared machine does not cut the whole run short. Then `Budget.plan` gives the total.
    Training stops early only once ``min_steps`` are done.

    Args:
        budget: the allowance (an unlimited one plans nothing and never stops).
        start: the step training starts from (after a resume).
        planned: the steps asked for (``config.steps``), an upper bound of the plan.
        min_steps: steps done whatever the budget says (at most ``planned``).
    """

    def __init__(
        self,
        budget: Budget,
        *,
        start: int,
        planned: int,
        min_steps: int,
        skip: int = 3,
        timed_share: float = 0.05,
    ) -> None:
        self.budget, self.start, self.planned = budget, start, planned
        self.min_steps = min(min_steps, planned)
        self.skip, self.timed_share = skip, timed_share
        self._clock: Budget | None = None
        self._done = not budget.limited

    def after_step(self, step: int) -> int | None:
        """The planned total steps when the plan is made after ``step`` steps, else None."""
        if self._done:
            return None
        ran = step - self.start
        if ran == self.skip:
            self._clock = self.budget.share()  # same deadline; its clock starts now
            return None
        if self._clock is None:
            return None
        timed = ran - self.skip
        if timed < 2 or self._clock.elapsed() < self.timed_share * self.budget.seconds:
            return None
        self._done = True
        offset = self.start + self.skip
        affordable = self._clock.plan(
            timed, self.planned - offset, minimum=max(self.min_steps - offset, 0)
        )
        return offset + affordable

    def should_stop(self, step: int, planned: int) -> bool:
        """Whether the deadline has passed with ``min_steps`` done and steps still planned."""
        return self.budget.limited and self.min_steps <= step < planned and self.budget.expired()
