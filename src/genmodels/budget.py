"""`Budget`: one wall-clock allowance, passed to whatever runs long.

Training (`genmodels.training.fit`), the flow fit of the hybrids and the chains
(`genmodels.mcmc.sample_chains`) take a `Budget` instead of keeping clocks of their own;
`compare` shares one budget among its methods with `Budget.share`. A loop asks two
questions: `expired` (stop now?) and `plan` (how many steps fit, at the rate seen so far?).

Example:
    >>> b = Budget(60.0)
    >>> b.expired()
    False
    >>> b.plan(done=0, planned=500)   # nothing measured yet: keep the plan
    500
    >>> Budget().remaining()          # no limit
    inf
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["Budget"]


class Budget:
    """A deadline (``seconds`` from creation; None means none) and a count of evaluations.

    Args:
        seconds: the allowance; ``None`` (or inf) for no limit.
        clock: the time source (``time.perf_counter``; tests pass a fake one).

    Attributes:
        evaluations: network / gradient / density evaluations counted by `count`.
    """

    def __init__(
        self, seconds: float | None = None, *, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        if seconds is not None and not seconds >= 0:
            raise ValueError(f"a budget needs seconds >= 0, got {seconds}")
        self.seconds = math.inf if seconds is None else float(seconds)
        self._clock = clock
        self.start = clock()
        self.evaluations = 0

    @property
    def limited(self) -> bool:
        """Whether there is a deadline at all."""
        return math.isfinite(self.seconds)

    def elapsed(self) -> float:
        """Seconds since the budget started."""
        return self._clock() - self.start

    def remaining(self) -> float:
        """Seconds left (inf without a limit; never negative)."""
        return max(self.seconds - self.elapsed(), 0.0)

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self.elapsed() >= self.seconds

    def count(self, evaluations: int) -> None:
        """Add ``evaluations`` to the cost this budget has paid for."""
        self.evaluations += int(evaluations)

    def share(self, seconds: float | None = None) -> Budget:
        """A new budget starting now, of ``seconds`` but never past this one's deadline."""
        left = self.remaining()
        own = left if seconds is None else min(float(seconds), left)
        return Budget(own, clock=self._clock)

    def plan(self, done: int, planned: int, *, minimum: int = 0, margin: float = 0.95) -> int:
        """How many steps (in all) fit, given ``done`` steps took `elapsed` seconds so far.

        Returns ``planned`` when there is no limit or nothing was measured yet; otherwise
        the steps the remaining time affords at the rate seen so far (``margin`` of it, for
        the work after the loop), clipped to ``[max(done, minimum), planned]``.
        """
        if not self.limited or done <= 0:
            return planned
        per_step = max(self.elapsed() / done, 1e-9)
        affordable = done + int(margin * self.remaining() / per_step)
        return max(min(planned, affordable), min(max(done, minimum), planned))

    def __repr__(self) -> str:
        return f"Budget(seconds={self.seconds:g}, elapsed={self.elapsed():.3g})"
