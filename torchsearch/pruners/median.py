"""The median stopping rule (Golovin et al. 2017, Google Vizier; Optuna's ``MedianPruner``).

At each report after ``warmup`` epochs, a trial whose best value so far is worse than the median
of the other trials' values at the same step is stopped (code ``"pruned"``), once at least
``min_trials`` other trials have reported at that step. Trials that ended count too (stopped,
completed or failed after reports); an interrupted trial's reports do not (its rerun reports
again).
"""

from __future__ import annotations

import bisect
from typing import Any

from ..schedulers.base import CONTINUE, QUIET_ALWAYS, Decision
from .base import PRUNED, Pruner, check_int, quiet_until

__all__ = ["Median"]


class Median(Pruner):
    """Stop a trial whose best value is worse than the median of its peers at the same step.

    Args:
        warmup: reports at epochs ``<= warmup`` are never judged (>= 0).
        min_trials: how many other trials must have reported at a step before anyone is judged
            there (>= 1).
        max_epochs: optional; the median rule needs no horizon.
    """

    def __init__(self, warmup: int = 0, min_trials: int = 5, *, max_epochs: int | None = None) -> None:
        check_int("Median", "warmup", warmup, 0)
        check_int("Median", "min_trials", min_trials, 1)
        super().__init__(max_epochs=max_epochs)
        self.warmup, self.min_trials = warmup, min_trials

    def setup(self, *, mode: Any, max_epochs: int | None = None, metric: str = "value") -> None:
        super().setup(mode=mode, max_epochs=max_epochs, metric=metric)
        self._at: dict[int, dict[int, float]] = {}      # step -> number -> loss
        self._sorted: dict[int, list[float]] = {}       # step -> the losses there, sorted
        self._steps: dict[int, list[int]] = {}          # number -> its steps, in order
        self._best: dict[int, float] = {}
        self._ended: set[int] = set()  # trials that ended: their reports count, they are not judged

    def _record(self, number: int, step: int, loss: float) -> None:
        at, ordered = self._at.setdefault(step, {}), self._sorted.setdefault(step, [])
        if number in at:
            ordered.pop(bisect.bisect_left(ordered, at[number]))
        at[number] = loss
        bisect.insort(ordered, loss)
        steps = self._steps.setdefault(number, [])
        if not steps or step > steps[-1]:
            steps.append(step)
        if number not in self._best or loss < self._best[number]:
            self._best[number] = loss

    def on_report(self, number: int, step: int, value: float, *, can_pause: bool = True) -> Decision:
        loss = self.loss(value)
        self._record(number, step, loss)
        if step <= self.warmup or number in self._ended:
            return CONTINUE
        n_others = len(self._at[step]) - 1
        if n_others < self.min_trials:
            return CONTINUE
        median = self._median_of_others(step, loss)
        best = self._best[number]
        if best <= median:
            return CONTINUE
        side = "below" if self.mode == "max" else "above"
        return Decision.stop(PRUNED, f"Median: {self.metric} {self.shown(best)} (its best by epoch {step}) is {side} "
                                     f"the median {self.shown(median)} of {n_others} other trials at epoch {step}")

    def _median_of_others(self, step: int, own: float) -> float:
        """The median of the values at ``step`` without one copy of ``own`` (the trial's own)."""
        ordered = self._sorted[step]
        skip = bisect.bisect_left(ordered, own)
        m = len(ordered) - 1

        def kth(i: int) -> float:  # i-th smallest of the others
            return ordered[i if i < skip else i + 1]

        return kth(m // 2) if m % 2 else (kth(m // 2 - 1) + kth(m // 2)) / 2

    def quiet_reports(self, number: int) -> int:
        if number in self._ended:
            return QUIET_ALWAYS
        steps = self._steps.get(number) or []
        last = steps[-1] if steps else None
        stride = steps[-1] - steps[-2] if len(steps) >= 2 else None
        return quiet_until(last, stride, self.warmup + 1)

    def _forget(self, number: int) -> None:
        for step in self._steps.pop(number, []):
            old = self._at.get(step, {}).pop(number, None)
            if old is not None:
                ordered = self._sorted[step]
                ordered.pop(bisect.bisect_left(ordered, old))
        self._best.pop(number, None)

    def on_restore(self, number: int, values: dict[int, float], state: str) -> None:
        self._forget(number)
        if state != "paused":
            self._ended.add(number)
        if state == "interrupted":
            return
        for step in sorted(values):
            self._record(number, step, self.loss(values[step]))

    def on_complete(self, number: int, value: float | None, state: str) -> None:
        self._ended.add(number)
        if state == "interrupted":
            self._forget(number)

    def arguments(self) -> dict[str, Any]:
        return {"warmup": self.warmup, "min_trials": self.min_trials, "max_epochs": self.max_epochs}

    def describe(self) -> str:
        return f"Median(warmup={self.warmup}, min_trials={self.min_trials})"
