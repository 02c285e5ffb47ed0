"""The executor protocol: where trials run, and the coordinator's interface they use.

The study's coordinator calls, in order: ``open(host)``; then, while it launches trials,
``free_slots()`` and ``submit(trial, job)``; ``n_running()`` and ``wait()`` (block until at
least one running trial finished, handling the reports that arrive meanwhile); finally
``close()``. Schedulers never know which executor runs them.

An executor talks to the coordinator only through the :class:`TrialHost` it is opened with
and the :class:`~torchsearch._active.ActiveTrial` handles it is given; nothing private of the
study. A new executor (another machine, a cluster) implements the five methods below and
uses the host as the in-process and worker-process executors do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Executor", "Launch", "TrialHost"]


@dataclass(frozen=True)
class Launch:
    """How an executor starts a trial (see ``TrialHost.launch``).

    ``seed``: the per-trial seed (None when the trial resumes: its kept state restores its RNG).
    ``resume``: it resumes from its kept state; ``cached``: the process at the executor's
    ``location`` still holds its module in that state, so no state needs to travel (else get it
    with ``TrialHost.state_bytes``). ``keep_cached``: the paused trials whose modules that
    process should go on holding.
    """

    number: int
    params: dict[str, Any]
    seed: int | None
    resume: bool = False
    cached: bool = False
    keep_cached: list[int] = field(default_factory=list)


class TrialHost(Protocol):
    """What the coordinator (``torchsearch._coordinator.Coordinator``) offers an executor.

    Attributes: ``storage`` (``group_commits(delay)`` / ``commit_due()`` to batch its writes),
    ``scheduler`` (for messages), ``seed`` (the study seed), ``trial_timeout`` (seconds without
    progress before a trial is ended by force, or None).

    Starting a trial:
        ``launch(trial, location, also_keep=()) -> Launch``: its params, its seed, whether it
        resumes from a kept state and whether the process at ``location`` (any hashable name the
        executor gives its processes) still holds its module; ``holds(number, location)``
        (prefer that process for a resumed trial); ``state_bytes(number)``: a kept state for
        another process (to resume from, or a donor's after an ``exploit`` decision).

    While it runs (the trial handle carries the rest):
        ``trial.report(metrics, step, final=...) -> Decision`` (stores, asks the scheduler and the
        budgets); ``trial.alive()`` (a heartbeat: progress was seen); ``trial.overdue(started)``
        (why it must be ended by force now, or None); ``trial.stop(code, reason)``;
        ``receive_state(trial, step, blob)``: the state a worker sent after a checkpoint or pause
        decision; ``quiet_reports(trial)``: how many next reports need no answer.

    Ending it (exactly one of):
        ``finish(trial, value=None, *, state=None, error=None, traceback=None, stop=None,
        weights=None, best_weights=None, best_step=None)``: completed / stopped / failed (the job
        result's ``state_dict``, ``best_state_dict`` and ``best_step``: see ``torchsearch._best``); ``pause(trial, location, cached)``: it handed
        its state back after a pause decision; ``interrupt(trial, why)``: the study stopped under
        it (it is rerun, or resumed from its kept state); ``run_here(trial, job, location)``: run
        the job in this process and end the trial by how it returned.
    """

    storage: Any
    scheduler: Any
    seed: int | None

    @property
    def trial_timeout(self) -> float | None: ...
    def launch(self, trial: Any, location: Any = None, *, also_keep: tuple[int, ...] = ()) -> Launch: ...
    def holds(self, number: int, location: Any) -> bool: ...
    def state_bytes(self, number: int) -> bytes: ...
    def receive_state(self, trial: Any, step: int, blob: bytes) -> None: ...
    def quiet_reports(self, trial: Any) -> int: ...
    def finish(self, trial: Any, value: float | None = None, *, state: str | None = None, error: Any = None,
               traceback: str | None = None, stop: tuple[str, str] | None = None,
               weights: dict[str, Any] | None = None, best_weights: dict[str, Any] | None = None,
               best_step: int | None = None) -> Any: ...
    def pause(self, trial: Any, location: Any = None, cached: bool = False) -> None: ...
    def interrupt(self, trial: Any, why: str) -> None: ...
    def run_here(self, trial: Any, job: Callable[[Any], Any], location: Any = None) -> None: ...


class Executor:
    host: TrialHost

    def open(self, host: TrialHost) -> None:
        self.host = host

    def free_slots(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def submit(self, trial: Any, job: Callable[[Any], Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def n_running(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def wait(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass
