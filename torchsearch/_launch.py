"""The launch loop of a study: a part of the coordinator, as ``_handwork`` is of the storage.

:meth:`LaunchLoop.run` fills the executor's free slots until ``n_trials`` have finished, a budget
is spent, or the scheduler has nothing more to suggest. A free slot goes to a pruner's promotion
first (ASHA), else to a new trial, else (PBT, no pruner) to the paused member that waited
longest. At the end, members still paused are recorded ``stopped``; on an error or Ctrl+C the
running trials are recorded ``interrupted``. :class:`~torchsearch._coordinator.Coordinator` is a
``LaunchLoop``: the budgets and deadline it sets are the coordinator's, read by its report path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._best import kept_best
from ._bookkeeping import epochs_trained
from .exceptions import Terminated, TorchSearchError

if TYPE_CHECKING:
    from ._active import ActiveTrial
    from ._population import Population
    from .storage import Storage
    from .study import Study

__all__ = ["LaunchLoop"]


def _how(failure: BaseException) -> str:
    return "SIGTERM" if isinstance(failure, Terminated) else "Ctrl+C"


def _on_sigterm_interrupt() -> Callable[[], None]:
    """While a study runs in the main thread, SIGTERM raises :class:`Terminated` (handled as
    Ctrl+C) unless the program set its own SIGTERM handler; returns what puts the old one back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    try:
        before = signal.getsignal(signal.SIGTERM)
    except (ValueError, AttributeError):  # pragma: no cover - a platform without SIGTERM
        return lambda: None
    if before not in (signal.SIG_DFL, None):
        return lambda: None

    def raise_terminated(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM during the clean-up ends the process
        raise Terminated("SIGTERM: the study was stopped as on Ctrl+C; run the same command to resume")

    signal.signal(signal.SIGTERM, raise_terminated)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) in (raise_terminated, signal.SIG_DFL):
            signal.signal(signal.SIGTERM, before)
    return restore


class LaunchLoop:
    """The launch loop (mixed into :class:`~torchsearch._coordinator.Coordinator`)."""

    if TYPE_CHECKING:  # the Coordinator's
        study: Study
        storage: Storage
        study_id: int
        active: dict[int, ActiveTrial]
        population: Population
        pruning: Any
        epochs_used: int
        _time_budget: float | None
        _deadline: float | None
        _epoch_budget: int | None
        _grace: float
        _trial_timeout: float | None
        _in_run: bool

        @property
        def clock(self) -> Callable[[], float]: ...
        def n_finished(self) -> int: ...
        def next_trial(self, *, can_pause: bool = True) -> ActiveTrial | None: ...
        def finish(self, trial: ActiveTrial | int, value: float | None = None, **kw: Any) -> None: ...
        def interrupt(self, trial: ActiveTrial, why: str) -> None: ...

    def run(self, job: Callable[[Any], Any], executor: Any, *, n_trials: int | None, time_budget: float | None,
            epoch_budget: int | None, trial_timeout: float | None, lease: Any) -> str:
        """Launch trials on ``executor`` until ``n_trials`` have finished, a budget is spent, or
        the scheduler has nothing more to suggest; return why it ended (see ``Study.run``).
        On an error or Ctrl+C, running trials are interrupted (see :meth:`interrupt`) and the
        error propagates."""
        start = self.clock()
        deadline = None if time_budget is None else start + time_budget
        self._time_budget, self._deadline, self._epoch_budget = time_budget, deadline, epoch_budget
        self._grace = 0.0 if time_budget is None else max(2.0, min(30.0, 0.05 * time_budget))
        self._trial_timeout = None if trial_timeout is None else float(trial_timeout)
        if epoch_budget is not None:
            self.epochs_used = self._epochs_trained()
        reason = None
        exhausted = False  # the scheduler had nothing more to suggest
        failure: BaseException | None = None
        restore = _on_sigterm_interrupt()
        try:
            executor.open(self)
        except BaseException:
            restore()
            raise
        try:
            self._in_run = True
            while True:
                if lease.lost:
                    raise TorchSearchError(f"{self.study._what()}: {lease.lost} while this process ran it")
                while executor.free_slots() > 0:
                    if deadline is not None and self.clock() >= deadline:
                        reason = f"time budget of {time_budget:g}s exhausted"
                        break
                    if epoch_budget is not None and self.epochs_used >= epoch_budget:
                        reason = f"epoch budget of {epoch_budget} epochs exhausted"
                        break
                    trial = None
                    full = n_trials is not None and self.n_finished() + len(self.active) >= n_trials \
                        and not self.storage.queued(self.study_id)  # (trials queued by hand run past n_trials)
                    if self.pruning is not None:  # a promotion first (ASHA), else a new trial
                        trial = self.pruning.promote(self.population, last=full or exhausted)
                    if trial is not None:
                        pass
                    elif full:
                        reason = reason or f"n_trials={n_trials} reached"
                    else:
                        trial = self.next_trial()
                        if trial is None:
                            reason = reason or "the scheduler has nothing more to suggest"
                            exhausted = True
                    if trial is None and self.pruning is not None and exhausted:
                        trial = self.pruning.promote(self.population, last=True)
                    elif trial is None and self.pruning is None:  # new trials first, then paused ones (PBT), FIFO
                        trial = self.population.resume_next()
                    if trial is None:
                        break
                    trial.alive()  # (trial_timeout counts from here)
                    executor.submit(trial, job)
                if executor.n_running() == 0:
                    break
                executor.wait()
            for number in self.population.paused():  # still paused when the study ends
                active = self.active[number]
                if self.pruning is not None:  # paused at a rung, never promoted
                    unpromoted = self.pruning.unpromoted(number)
                    active.stop(unpromoted.code, unpromoted.reason)
                else:
                    active.stop("study_end", f"paused when the study ended ({reason or 'done'})")
                kept = self.population.state(number)
                best_weights, best_step = kept_best(kept)
                self.finish(active, weights=kept["module"], best_weights=best_weights, best_step=best_step)
        except BaseException as e:
            failure = e
            raise
        finally:
            self._in_run = False
            self._time_budget = self._deadline = self._epoch_budget = self._trial_timeout = None
            try:
                executor.close()  # (a second Ctrl+C here skips the rest of the clean-up, but not what follows)
                if failure is not None:
                    why = (f"the study was interrupted ({_how(failure)}) while the trial ran"
                           if isinstance(failure, KeyboardInterrupt)
                           else f"the study stopped on an error while the trial ran ({type(failure).__name__}: "
                                f"{failure})")
                    for active in list(self.active.values()):
                        self.interrupt(active, why)
                self.population.close()
            finally:
                restore()
                if failure is not None:
                    self.study._ended((f"interrupted ({_how(failure)})" if isinstance(failure, KeyboardInterrupt)
                                       else f"stopped on an error ({type(failure).__name__})")
                                      + ": run the same command to resume")
        if n_trials is not None and self.n_finished() >= n_trials:
            reason = f"n_trials={n_trials} reached"
        return reason or "done"

    def _epochs_trained(self) -> int:
        return epochs_trained(self.storage, self.study_id)
