"""TimeBudget: a wall-clock budget per run, that survives a checkpoint."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ignite.engine import Engine, Events

from ._base import StopHandler, check_float, resolve_engines

if TYPE_CHECKING:
    from ..trainer import Trainer

__all__ = ["TimeBudget"]


class TimeBudget(StopHandler):
    """Stop training once it has run for ``seconds``.

    The clock starts when the run starts (``Events.STARTED``), not when the handler is built,
    and is checked after every iteration (and at ``STARTED``, so a resumed run whose budget is
    already spent stops at once). Time between runs is not counted. ``state_dict()`` holds the
    elapsed time, so a run resumed from a checkpoint carries on with what is left of its
    budget instead of getting a fresh one.

    Ignite's :class:`~ignite.handlers.TimeLimit`, with these differences: the budget is
    ``seconds`` (any finite number > 0, no default), not ``limit_sec`` (an int, 8 hours by
    default); the clock starts at ``STARTED`` as said above, not when the handler is built, so
    one added with ``add_event_handler`` alone (without :meth:`attach`) raises instead of
    timing from a wrong start; it stops once ``elapsed >= seconds`` (Ignite: ``>``), on a
    monotonic clock, and its ``state_dict()`` is an addition.

    Args:
        seconds: the budget (> 0).
        clock: a monotonic clock in seconds (default :func:`time.monotonic`); tests inject a
            fake one.

    Example::

        TimeBudget(600).attach(trainer)
        # trainer.state.stop_reason: "time budget: 600.02s used of 600s (epoch 14, iteration 3301)"
    """

    code = "time_budget"
    reads_evaluator = False

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = check_float("TimeBudget", "seconds", seconds, low=0.0, low_open=True)
        if not callable(clock):
            raise TypeError(f"TimeBudget: clock must be callable() -> seconds, got clock={clock!r}")
        self.clock = clock
        self.trainer: Engine | None = None
        self._elapsed = 0.0
        self._mark: float | None = None  # clock() at the last update while a run is going

    @property
    def elapsed(self) -> float:
        """Seconds used so far, the current run included."""
        if self._mark is None:
            return self._elapsed
        return self._elapsed + (self.clock() - self._mark)

    @property
    def remaining(self) -> float:
        return max(0.0, self.seconds - self.elapsed)

    def _update(self) -> None:
        if self._mark is not None:
            now = self.clock()
            self._elapsed += now - self._mark
            self._mark = now

    def started(self, engine: Engine) -> None:
        self._mark = self.clock()
        self(engine)

    def ended(self, engine: Engine) -> None:
        self._update()
        self._mark = None

    def __call__(self, engine: Engine) -> None:
        if self._mark is None:
            raise RuntimeError("TimeBudget: the clock is not running; use TimeBudget(...).attach(trainer), which "
                               "starts it at Events.STARTED, rather than add_event_handler")
        self._update()
        if self._elapsed >= self.seconds:
            state = self._trainer_for(engine).state
            self._stop(engine, f"time budget: {self._elapsed:.2f}s used of {self.seconds:g}s "
                               f"(epoch {state.epoch}, iteration {state.iteration})")

    def attach(self, trainer: Engine | Trainer, evaluator: Engine | None = None) -> TimeBudget:
        """Start the clock at ``STARTED``, check after every iteration, pause it when the run ends.

        ``trainer`` may be a :class:`torchsearch.Trainer`; ``evaluator`` is accepted and ignored
        (its time counts, as part of the trainer's epoch).
        """
        trainer, _ = resolve_engines("TimeBudget", trainer, evaluator)
        self._bind(trainer)
        trainer.add_event_handler(Events.STARTED, self.started)
        trainer.add_event_handler(Events.ITERATION_COMPLETED, self)
        trainer.add_event_handler(Events.COMPLETED, self.ended)
        trainer.add_event_handler(Events.TERMINATE, self.ended)
        return self

    def reset(self) -> None:
        self._elapsed = 0.0
        self._mark = None

    def state_dict(self) -> OrderedDict[str, Any]:
        return OrderedDict(elapsed=self.elapsed, seconds=self.seconds)

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Continue from ``state_dict["elapsed"]`` seconds used (the budget stays this object's)."""
        if not isinstance(state_dict, Mapping) or "elapsed" not in state_dict:
            raise ValueError(f"TimeBudget.load_state_dict: expected a mapping with 'elapsed', got {state_dict!r}")
        self._elapsed = check_float("TimeBudget.load_state_dict", "elapsed", state_dict["elapsed"], low=0.0)
        if self._mark is not None:
            self._mark = self.clock()
