"""What a study records of a trial (:class:`Trial`): plain data, no torch, so that the CLI and
the dashboard read studies without importing it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Trial", "TrialState", "FINISHED_STATES"]

TrialState = Literal["running", "completed", "stopped", "failed", "interrupted", "paused"]
#: States of a trial that has ended and counts towards ``n_trials``.
FINISHED_STATES = ("completed", "stopped", "failed")


@dataclass
class Trial:
    """A trial as stored: its configuration, its reports and how it ended.

    ``metrics`` maps each reported metric name to ``{step: value}`` (step = epoch for
    ``tune()``; empty, like ``notes``, when read with ``with_metrics=False``). ``value`` is the
    best value of the study's metric over the trial's reports (lowest for ``mode="min"``),
    NaN-free; None if it never reported a finite one.
    """

    number: int
    state: TrialState
    params: dict[str, Any]
    value: float | None = None
    best_step: int | None = None
    metrics: dict[str, dict[int, float]] = field(default_factory=dict)
    started: float | None = None
    ended: float | None = None
    error: str | None = None
    traceback: str | None = None
    stop_code: str | None = None
    stop_reason: str | None = None
    checkpoint: str | None = None
    #: queued by hand (``Study.enqueue`` / ``torchsearch enqueue``), not suggested by the scheduler
    queued: bool = False
    #: a person's notes on the trial, oldest first: ``{"text", "time"}`` (``Study.note``)
    notes: list[dict[str, Any]] = field(default_factory=list)
    #: seconds the trial spent paused before its last pause ended (waiting at an ASHA rung for
    #: promotion, in PBT's queue for a worker, between runs of a study)
    paused_s: float = 0.0
    #: when the trial paused, while it is paused (None otherwise)
    paused_at: float | None = None

    @property
    def duration(self) -> float | None:
        """Seconds the trial ran: from its start to its end, less the time it spent paused
        (None until it ends)."""
        if self.started is None or self.ended is None:
            return None
        return max(0.0, self.ended - self.started - self.paused_s)

    def ran_for(self, now: float) -> float | None:
        """Seconds the trial has run by ``now`` (its ``duration`` once it has ended): the time
        since its start, less the time paused, the current pause included."""
        if self.started is None:
            return None
        if self.ended is not None:
            return self.duration
        paused = self.paused_s + (max(0.0, now - self.paused_at) if self.paused_at is not None else 0.0)
        return max(0.0, now - self.started - paused)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    def last(self, metric: str) -> float | None:
        series = self.metrics.get(metric)
        if not series:
            return None
        return series[max(series)]

    def has_value(self) -> bool:
        return self.value is not None and not math.isnan(self.value)
