"""The scheduler protocol: what every search strategy implements.

A scheduler is plain Python with no I/O: it never opens files, touches storage, spawns
processes or reads the clock. The study (the coordinator) calls it:

- ``setup(space, mode=..., seed=...)`` once, before anything else;
- ``on_trial_start(number, params)`` for every trial the study holds, including those replayed
  from storage when a study is resumed, and those started from its own suggestions;
- ``suggest()`` when a worker slot is free: a configuration, or ``None`` for "nothing to
  start now" (when no trial is running either, the study ends);
- ``on_report(number, step, value)`` after each evaluation of a running trial; returns a
  :class:`Decision` (continue, stop with a reason; PBT adds exploit and pause);
- ``quiet_reports(number)`` after answering one: how many of the next reports it will surely
  answer ``continue`` (workers then need not wait for those answers);
- ``on_resume(number)`` when a paused trial gets a slot again (paused trials resume first in,
  first out, after the scheduler's new suggestions); it may return an exploit decision;
- ``set_rungs(rungs)`` once after ``setup`` when the study has a pruner: the steps where it
  compares trials (a model-based scheduler may learn from the reports there, as BOHB does);
- ``on_complete(number, value, state)`` when a trial ends (``value`` is None or NaN when
  it failed);
- ``warm_start(observations)`` once, right after ``setup`` and before anything else, when the
  study is warm-started from earlier studies (see ``torchsearch._warmstart``).

Values are passed as reported; ``self.mode`` says whether lower or higher is better, and
:meth:`Scheduler.loss` turns a value into "lower is better".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np

from ..space import Space

__all__ = ["Decision", "Scheduler", "CONTINUE", "QUIET_ALWAYS"]

Action = Literal["continue", "stop", "exploit", "pause"]


@dataclass(frozen=True)
class Decision:
    """What a running trial should do after a report.

    ``reason`` is a human sentence, ``code`` a machine-readable tag (``"patience"``,
    ``"divergence"``...). An exploit carries the donor trial, the new params and the list of
    explore operations (``"lr: 0.01 -> 0.012 (x1.2)"``). ``checkpoint=True`` asks the
    coordinator to keep the trial's state now (PBT keeps possible donors; a pause implies it).
    """

    action: Action = "continue"
    reason: str = ""
    code: str = ""
    donor: int | None = None
    params: dict[str, Any] | None = None
    operations: tuple[str, ...] = field(default_factory=tuple)
    checkpoint: bool = False

    @classmethod
    def stop(cls, code: str, reason: str) -> Decision:
        return cls("stop", reason=reason, code=code)


CONTINUE = Decision()
QUIET_ALWAYS = 2**31 - 1  # Scheduler.quiet_reports: every report (a scheduler that never decides anything)


class Scheduler:
    """Base class: holds the space, the mode and the scheduler's own seeded generator."""

    space: Space
    mode: Literal["min", "max"]
    #: Whether :meth:`warm_start` replays earlier studies' trials to this scheduler (set by the
    #: schedulers that learn from finished trials: Bayes, TPE).
    learns_from_history: ClassVar[bool] = False

    def __init__(self, *, seed: int | None = None) -> None:
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"{type(self).__name__}: seed must be a non-negative int or None, got seed={seed!r}")
        self.seed = seed
        self._setup_done = False

    def setup(self, space: Space, *, mode: Literal["min", "max"], seed: int | None = None) -> None:
        """Bind to a study. The scheduler's own seed wins over the study's."""
        self.space = space
        self.mode = mode
        if self.seed is None:
            self.seed = seed
        self.rng = np.random.default_rng(self.seed)
        self.rungs: list[int] | None = None
        self._setup_done = True

    def set_rungs(self, rungs: list[int]) -> None:
        """The study's pruner compares trials at these steps (see :mod:`torchsearch.pruners`)."""
        self.rungs = sorted(set(rungs))

    def suggestion_rng(self, i: int) -> np.random.Generator:
        """The generator of the ``i``-th suggestion: derived from the seed and ``i`` alone, so a
        resumed study draws what an uninterrupted one would (the shared generator without a seed)."""
        if self.seed is None:
            return self.rng
        return np.random.default_rng([self.seed, i])

    def loss(self, value: float | None) -> float:
        """``value`` as "lower is better"; NaN when missing."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return math.nan
        return float(value) if self.mode == "min" else -float(value)

    def suggest(self) -> dict[str, Any] | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        pass

    def on_report(self, number: int, step: int, value: float) -> Decision:
        return CONTINUE

    def quiet_reports(self, number: int) -> int:
        """How many of trial ``number``'s next reports :meth:`on_report` will answer with a plain
        ``continue`` (no checkpoint) whatever they say. Worker processes send those without
        waiting for an answer, several in one message. Default: all of them when ``on_report``
        is not overridden, else none (every report is answered)."""
        return QUIET_ALWAYS if type(self).on_report is Scheduler.on_report else 0

    def on_resume(self, number: int) -> Decision | None:
        """A paused trial (see the ``pause`` decision) gets a slot again. May return an
        ``exploit`` decision, carried out on the paused state before the trial resumes."""
        return None

    def on_restore(self, number: int, step: int, values: dict[int, float]) -> None:
        """A resumed study took back trial ``number`` paused at ``step`` (its reports up to there
        in ``values``), instead of ``on_complete``; it resumes in turn (see ``on_resume``)."""

    def on_kept(self, number: int, step: int) -> None:
        """The coordinator now keeps trial ``number``'s trainer state at ``step`` (after a
        ``checkpoint`` or ``pause`` decision, or an exploit carried out on a paused state). A
        worker process sends its state after the decision, so this may come a little later."""

    def on_complete(self, number: int, value: float | None, state: str) -> None:
        pass

    def warm_start(self, observations: Sequence[tuple[dict[str, Any], float]]) -> None:
        """Learn from earlier studies before the first suggestion: ``observations`` are
        ``(params, value)`` pairs inside this space (values as reported; :attr:`mode` applies).

        Called once, after :meth:`setup` and before any ``on_trial_start``. The default, for a
        scheduler with ``learns_from_history = True``, replays each as a finished trial through
        :meth:`on_trial_start` and :meth:`on_complete` (state ``"completed"``), numbered -1, -2, ...:
        numbers a study never gives its own trials, so they cannot clash. Any other scheduler
        (Random, Grid, PBT) ignores them: what it suggests does not depend on earlier results.
        """
        if not self.learns_from_history:
            return
        for i, (params, value) in enumerate(observations):
            self.on_trial_start(-1 - i, dict(params))
            self.on_complete(-1 - i, float(value), "completed")

    def describe(self) -> str:
        """A short description stored with the study."""
        return type(self).__name__

    def __repr__(self) -> str:  # (what a user sees printing it: its arguments, not an address)
        return self.describe()
