"""ActiveTrial: the handle of a running trial, through which its reports reach the study."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .exceptions import TrialError, TrialFailed
from .schedulers.base import CONTINUE, Decision

__all__ = ["ActiveTrial"]


class ActiveTrial:
    """A trial that is running: report metrics to it; the study decides whether it goes on.

    ``report(metrics, step)`` stores the metrics, passes the study metric to the scheduler and
    returns its :class:`Decision`. After a ``stop`` decision, ``should_stop`` is True.

    ``host`` is the study's coordinator (:class:`~torchsearch.executors.base.TrialHost`): the
    trial holds no reference to the study's private state, only to that interface.
    """

    def __init__(self, host: Any, number: int, params: dict[str, Any]) -> None:
        self.host = host
        self.number = number
        self.params = dict(params)
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.decision: Decision = CONTINUE
        self.finished = False
        self.failure: str | None = None
        self.epochs = 0  # the highest step reported: epochs trained, for tune() and Reporter
        self.donor: int | None = None            # PBT: the donor of the last exploit
        self.resuming = False                    # PBT: resumes from its kept state (not loaded yet)
        self.merge_donor: Any = None             # PBT: the donor's kept state, for a pause that exploits
        self.resume_held = False                 # PBT: resumes on the module its process kept at the pause
        self.held_here: list[int] | None = None  # PBT: paused trials whose modules this process keeps
        self._seen_at = host.clock()             # the last sign of progress (host.clock), for trial_timeout

    def __repr__(self) -> str:
        return f"ActiveTrial(number={self.number}, params={self.params!r})"

    @property
    def trial_timeout(self) -> float | None:
        """The study's ``trial_timeout`` (seconds without progress), or None."""
        return self.host.trial_timeout

    def tick(self) -> None:
        """A sign of progress (``tune()`` calls it after every training and evaluation iteration
        when a ``trial_timeout`` is set). In this process a hung trial cannot be ended by force:
        the timeout (and the study time budget's grace) is enforced here, at the next sign of
        progress after too long a gap, by failing the trial."""
        reason = self.overdue()
        if reason is not None:
            raise TrialFailed(reason)
        self.alive()

    def alive(self) -> None:
        """Note a sign of progress now (an executor calls it when its worker shows some)."""
        self._seen_at = self.host.clock()

    def overdue(self, started: bool = True) -> str | None:
        """Why this trial must be ended by force now (no progress for ``trial_timeout``, or past
        the study time budget and its grace), or None. ``started=False``: its worker has not
        begun it yet (still unpacking it): only the time budget counts."""
        return self.host.overdue(self._seen_at if started else None)

    @property
    def should_stop(self) -> bool:
        return self.decision.action == "stop"

    def stop(self, code: str, reason: str) -> None:
        """Record that the trial was stopped early (by a handler) and why; first reason wins.

        Code ``"non_finite"`` (a NaN/inf loss or metric, whoever saw it) makes the trial
        ``failed`` when told, as a NaN training loss does.
        """
        if self.decision.action != "stop":
            self.decision = Decision.stop(code, reason)
        if code == "non_finite" and self.failure is None:
            self.failure = reason

    def report(self, metrics: Mapping[str, float], step: int, *, state: Callable[[], dict[str, Any]] | None = None,
               final: bool = False) -> Decision:
        """Store the metrics of evaluation ``step``; return the scheduler's decision.

        ``state`` returns the trial's whole trainer state; it is called only when the decision
        needs it kept (PBT checkpoint or pause). ``final`` says this is the last evaluation: an
        exploit or pause decision then becomes ``continue``.
        """
        if self.finished:
            raise TrialError(f"trial {self.number} is finished: report(step={step}) is not allowed after tell()")
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise TrialError(f"trial {self.number}: step must be an int >= 0, got step={step!r}")
        if not isinstance(metrics, Mapping):
            raise TrialError(f"trial {self.number}: metrics must be a dict of metric name to number, got {metrics!r}")
        floats = {}
        for k, v in metrics.items():
            try:
                floats[str(k)] = float(v)
            except (TypeError, ValueError):
                raise TrialError(f"trial {self.number}: metric {k!r} must be a number (or a one-element tensor), "
                                 f"got {k}={v!r} at step {step}") from None
        metrics = floats
        return self.host.report(self, metrics, step, state=state, final=final)

    def donor_state(self) -> dict[str, Any]:
        """After an ``exploit`` decision: a private copy of the donor's kept trainer state."""
        return self.host.donor_state(self)

    def resume_state(self) -> dict[str, Any] | None:
        """The trainer state a paused trial resumes from (once), or None for a fresh start."""
        return self.host.resume_state(self)
