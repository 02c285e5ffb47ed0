"""The coordinator: a Study owns the scheduler and the storage; ``tune`` and ``optimize`` drive it.

The loop (see ../shared/DESIGN.md): ask the scheduler for params, record the trial, hand it
to the executor; each report goes to storage and to the scheduler, whose decision goes back;
when the trial ends, ``tell`` records how, and the scheduler learns from it.
"""

from __future__ import annotations

import math
import sys
import time
import traceback as tb
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Literal

from ._checkpoints import NOT_SAVED
from ._checks import check_count, check_seconds, check_seed
from .exceptions import StorageError, TorchSearchError, TrialError
from .schedulers.base import Decision, Scheduler
from .space import Parameter, Space, as_space
from ._population import Population, replay, schedule
from ._active import ActiveTrial
from ._lease import Lease
from .storage import Storage
from ._record import FINISHED_STATES, Trial

__all__ = ["Study", "ActiveTrial"]

Mode = Literal["min", "max"]


def _check_mode(mode: Any) -> Mode:
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got mode={mode!r}")
    return mode


class Study:
    """A named study in a storage folder (or in memory).

    Opening a study that exists continues it: finished trials are kept and replayed to the
    scheduler, and trials that were running when the last process died are marked
    ``interrupted`` and run again first (PBT members with a kept state stay ``paused`` and
    resume from it).

    One coordinator per study: on a storage folder the study takes the study's lease (see
    ``torchsearch._lease``) before it looks at the trials. While another live process holds it,
    opening the study raises :class:`TorchSearchError` naming that process (host, pid, since);
    a dead owner's lease is taken over, and only then are its running trials marked
    ``interrupted``. The lease is given back when :meth:`run` returns (and taken again by the
    next ``run`` or ``ask``).

    Args:
        space: dict ``name -> parameter`` (or a :class:`Space`).
        scheduler: the strategy (default: ``Random()``).
        metric: the metric to optimise; ``mode``: ``"min"`` or ``"max"``.
        storage: a folder path, a :class:`Storage`, or None for memory.
        name: the study name inside the storage.
        seed: the study seed; the scheduler and each trial get seeds spawned from it.
        verbose: print one line per finished trial (to stderr).
        clock: the monotonic clock the study's time budget reads (default ``time.monotonic``).
    """

    def __init__(self, *, space: Space | Mapping[str, Parameter], scheduler: Scheduler | None = None,
                 metric: str = "value", mode: Mode = "min", storage: str | Storage | None = None,
                 name: str = "default", seed: int | None = None, verbose: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        from .schedulers.random import Random

        self.space = as_space(space)
        self.mode = _check_mode(mode)
        if not isinstance(metric, str) or not metric:
            raise ValueError(f"metric must be a non-empty string, got metric={metric!r}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got name={name!r}")
        seed = check_seed(seed, "Study")
        if scheduler is None:
            scheduler = Random()
        if not isinstance(scheduler, Scheduler):
            raise TypeError(f"scheduler must be a torchsearch.schedulers.Scheduler, got {scheduler!r}")
        self.metric, self.name, self.seed, self.verbose = metric, name, seed, verbose
        self.scheduler = scheduler
        self.storage = storage if isinstance(storage, Storage) else Storage(storage)
        self._id = self.storage.get_or_create_study(
            name, metric=metric, mode=mode, space=self.space.to_dict(), scheduler=scheduler.describe(), seed=seed)
        self._lease = Lease(self.storage, self._id)
        self._lease.acquire(self._what())  # before any trial is touched: a live owner's trials are its own
        self._active: dict[int, ActiveTrial] = {}
        self._population = Population(self)
        self._n_finished: int | None = None
        self._started = time.monotonic()
        self.end_reason: str | None = None
        self.clock = clock
        self._epochs_used = 0  # epochs reported by all trials (see run(epoch_budget=...))
        self._epoch_budget: int | None = None
        self._time_budget: float | None = None
        self._deadline: float | None = None
        self._grace = 0.0  # seconds a trial may run past the time budget before it is ended by force
        self._trial_timeout: float | None = None
        self._recover()
        scheduler.setup(self.space, mode=self.mode, seed=seed)
        for t in self.storage.trials(self._id, with_metrics=False):
            scheduler.on_trial_start(t.number, t.params)
            if t.number in self._restore:
                self._population.restore(self.storage.trial(self._id, t.number), self._restore.pop(t.number))
                continue
            scheduler.on_complete(t.number, t.value, t.state)

    def _what(self) -> str:
        return f"study {self.name!r} in {str(self.storage.path)!r}"

    # -- recovery ---------------------------------------------------------------------------
    def _recover(self) -> None:
        trials = self.storage.trials(self._id, with_metrics=False)
        self._restore: dict[int, dict[str, Any]] = {}
        for t in trials:
            state = self._population.load_durable(t.number) if t.state in ("running", "paused") else None
            if state is not None:  # PBT: resume it from its last kept state
                self.storage.update_trial(self._id, t.number, state="paused")
                t.state = "paused"
                self._restore[t.number] = state
            elif t.state in ("running", "paused"):
                self.storage.update_trial(self._id, t.number, state="interrupted", ended=time.time(),
                                          error="the process running this trial ended before it finished")
                t.state = "interrupted"
        later: set[str] = set()
        queue = []
        for t in reversed(trials):
            key = self.space.key(t.params)
            if t.state == "interrupted" and key not in later:
                queue.append(t.params)
            later.add(key)
        self._rerun: list[dict[str, Any]] = list(reversed(queue))

    # -- reading ----------------------------------------------------------------------------
    @property
    def trials(self) -> list[Trial]:
        """Every trial of the study, in order, with its reports."""
        return self.storage.trials(self._id)

    @property
    def best_trial(self) -> Trial:
        """The completed or stopped trial with the best value (never NaN)."""
        number = self.storage.best_number(self._id, self.mode)
        if number is None:
            raise TorchSearchError(f"study {self.name!r} has no completed trial with a finite {self.metric!r} yet")
        return self.storage.trial(self._id, number)

    def n_finished(self) -> int:
        """How many trials have ended (completed, stopped or failed): what ``n_trials`` counts."""
        if self._n_finished is None:
            self._n_finished = self.storage.count_trials(self._id, FINISHED_STATES)
        return self._n_finished

    @property
    def running(self) -> list[ActiveTrial]:
        return list(self._active.values())

    def lineage(self, number: int | None = None) -> list[dict[str, Any]]:
        """PBT exploits (of trial ``number``, or all): ``trial, step, donor, old_params,
        new_params, operations, time`` per row, in order."""
        return self.storage.lineage(self._id, number)

    def schedule(self, number: int) -> list[dict[str, Any]]:
        """The hyperparameter schedule behind trial ``number``'s final weights, through its donors:
        segments ``{"trial", "start", "end", "params"}`` in training order (see
        ``torchsearch._population.schedule``). A trial never exploited has one segment."""
        return schedule(self, number)

    def replay(self, module_cls: type, number: int | None = None, *, device: str = "cpu") -> Any:
        """Retrain trial ``number`` (default: the best) from scratch along its :meth:`schedule`;
        return the :class:`~torchsearch.Trainer` (``.module`` holds the weights)."""
        return replay(self, module_cls, self.best_trial.number if number is None else number, device=device)

    def _pause(self, trial: ActiveTrial, place: Any = None, held: bool = False) -> None:
        """The trial handed its state back (PBT pause): it waits for a slot. ``held``: the
        process at ``place`` (the executor's name for it) kept its module."""
        self._population.pause(trial, place, held)

    # -- ask / tell -------------------------------------------------------------------------
    def _ask(self) -> ActiveTrial | None:
        if self._rerun:
            params = self._rerun.pop(0)
        else:
            params = self.scheduler.suggest()
            if params is None:
                return None
        params = self.space.validate(params)
        number = self.storage.add_trial(self._id, params)
        self.scheduler.on_trial_start(number, params)
        trial = ActiveTrial(self, number, params)
        self._active[number] = trial
        return trial

    def ask(self) -> ActiveTrial:
        """Start a trial with the scheduler's next params (or a rerun of an interrupted one)."""
        self._lease.acquire(self._what())  # (given back by an earlier run())
        trial = self._ask()
        if trial is None:
            if not self._active:  # nothing runs, nothing will: the study has ended (as run() records it)
                self.end_reason = "the scheduler has nothing more to suggest"
                self.storage.end_study(self._id, self.end_reason)
            raise TrialError(f"study {self.name!r}: the scheduler has nothing more to suggest "
                             f"({self.scheduler.describe()})")
        return trial

    def tell(self, trial: ActiveTrial | int, value: float | None = None, *, state: str | None = None,
             error: BaseException | str | None = None, state_dict: dict[str, Any] | None = None) -> Trial:
        """Finish a trial: ``completed``, ``stopped`` (after a stop decision) or ``failed``.

        ``value`` overrides the best reported value; ``error`` marks it failed with that text
        (and traceback for an exception); ``state_dict`` keeps its final weights if it is the
        best trial so far.
        """
        number = trial if isinstance(trial, int) else trial.number
        active = self._active.get(number)
        if active is None:
            raise TrialError(f"trial {number} is not running in study {self.name!r}; it cannot be told "
                             "(told twice, or never asked)")
        if state is not None and state not in FINISHED_STATES:
            raise ValueError(f"tell: state must be one of {FINISHED_STATES}, got state={state!r}")
        if value is not None and state != "failed":
            value = float(value)
            if not math.isfinite(value):
                error = error or f"value is {value}"
            else:
                # a final value counts as a report at the last step, so it is stored and replayed
                if active.best_value is None or active.best_value != value:
                    step = 0 if active.best_step is None else active.best_step
                    active.best_value, active.best_step = value, step
                    self.storage.update_trial(self._id, number, value=value, best_step=step)
        trace = None
        if isinstance(error, BaseException):
            trace = "".join(tb.format_exception(type(error), error, error.__traceback__))
            error = f"{type(error).__name__}: {error}"
        if error is None and active.failure is not None:
            error = active.failure
        if error is not None:
            state = "failed"
        elif state is None:
            state = "stopped" if active.should_stop else "completed"
        fields: dict[str, Any] = {"state": state, "ended": time.time()}
        if error is not None:
            fields.update(error=str(error), traceback=trace)
        if active.decision.action == "stop":
            fields.update(stop_code=active.decision.code, stop_reason=active.decision.reason)
        active.finished = True
        del self._active[number]
        self._population.drop(number)
        self.storage.update_trial(self._id, number, **fields)
        self._n_finished = None if self._n_finished is None else self._n_finished + 1
        final = active.best_value if state != "failed" else None
        self.scheduler.on_complete(number, final, state)
        if state_dict is not None and state != "failed" and final is not None:
            self._keep_if_best(number, final, state_dict)
        record = self.storage.trial(self._id, number)
        if self.verbose:
            self._progress(record)
        return record

    def _interrupt(self, active: ActiveTrial, why: str) -> None:
        """The coordinator stopped while ``active`` ran (Ctrl+C, an error): a trial with a kept
        state (a PBT member) stays ``paused`` and resumes from it; any other is recorded
        ``interrupted`` (not finished: it does not count towards ``n_trials``) and runs again
        first, by this study object or by the next one opened on the same storage."""
        number = active.number
        if active.finished or self._active.get(number) is not active:
            return
        if self._population.has(number):
            if number not in self._population.paused():
                self._population.pause(active)
            return
        active.finished = True
        del self._active[number]
        self.storage.update_trial(self._id, number, state="interrupted", ended=time.time(), error=why)
        self.scheduler.on_complete(number, None, "interrupted")
        self._rerun.insert(0, dict(active.params))

    def _interrupt_all(self, why: str) -> None:
        for active in list(self._active.values()):
            self._interrupt(active, why)

    def _overdue(self, since: float | None) -> str | None:
        """Why a running trial whose last sign of progress (a report, an iteration) came at
        ``since`` (on :attr:`clock`; None: not begun yet) must be ended by force now, or None."""
        now = self.clock()
        if self._trial_timeout is not None and since is not None and now - since >= self._trial_timeout:
            return f"no report for {self._trial_timeout:g} s (trial_timeout)"
        if self._deadline is not None and now >= self._deadline + self._grace:
            return (f"still running {self._grace:g} s after the study time budget of {self._time_budget:g}s ran out "
                    "(it did not stop when told: hung?)")
        return None

    def _keep_if_best(self, number: int, value: float, state_dict: dict[str, Any]) -> None:
        """Keep the final weights of the best trial only (the previous best's are deleted)."""
        try:
            best = self.best_trial
        except TorchSearchError:
            return
        if best.number != number:
            return
        key = f"{self.name}-trial-{number}"
        try:
            self.storage.save_checkpoint(key, state_dict)
        except StorageError as e:  # a full disk or a read-only folder fails these weights, not the study
            warnings.warn(f"study {self.name!r}: trial {number}'s final weights were not saved, the study goes on: "
                          f"{e}", RuntimeWarning, stacklevel=2)
            self.storage.update_trial(self._id, number, error=f"{NOT_SAVED}: {e}")
            return  # the previous best's weights stay: they are the best ones saved
        self.storage.update_trial(self._id, number, checkpoint=key)
        for t in self.storage.trials(self._id, with_metrics=False):
            if t.checkpoint and t.number != number:
                self.storage.delete_checkpoint(t.checkpoint)
                self.storage.update_trial(self._id, t.number, checkpoint=None)

    def _progress(self, t: Trial) -> None:
        try:
            best = self.best_trial
            best_txt = f"best {best.value:.6g} (trial {best.number})"
        except TorchSearchError:
            best_txt = "no best yet"
        what = f"{self.metric}={t.value:.6g}" if t.has_value() else (t.error or "no value")
        extra = f" [{t.stop_reason}]" if t.state == "stopped" and t.stop_reason else ""
        elapsed = time.monotonic() - self._started
        print(f"[{self.name}] trial {t.number} {t.state}: {what}{extra} | {best_txt} | "
              f"{self.n_finished()} done | {elapsed:.1f}s", file=sys.stderr, flush=True)

    # -- loading weights --------------------------------------------------------------------
    def load_module(self, module_cls: type, trial: Trial | int | None = None, *, device: str = "cpu") -> Any:
        """Rebuild ``module_cls`` with a trial's params (default: the best) and load its final weights."""
        t = self.best_trial if trial is None else (
            self.storage.trial(self._id, trial) if isinstance(trial, int) else trial)
        if not t.checkpoint and t.error and t.error.startswith(NOT_SAVED):
            raise StorageError(f"trial {t.number} of study {self.name!r} has no weights: its {t.error}")
        if not t.checkpoint:
            raise StorageError(f"trial {t.number} of study {self.name!r} has no saved weights "
                               "(only the best trial's final weights are kept)")
        module = module_cls(dict(t.params), device=device)
        module.load_state_dict(self.storage.load_checkpoint(t.checkpoint))
        return module

    # -- running ----------------------------------------------------------------------------
    def run(self, job: Callable[[ActiveTrial], Any], *, n_trials: int | None = None,
            time_budget: float | None = None, epoch_budget: int | None = None, executor: Any = None,
            trial_timeout: float | None = None) -> Study:
        """Run trials with ``job`` until ``n_trials`` have finished, a budget is spent, or the
        scheduler has nothing more to suggest.

        ``time_budget`` (seconds of this run) and ``epoch_budget`` (epochs reported by all the
        study's trials, earlier runs included) stop launching trials when spent; a running
        trial is stopped at its next report (code ``study_time_budget`` / ``study_epoch_budget``).
        :attr:`end_reason` says why the study ended.

        Faults (see the README's "Parallel workers"):

        - ``trial_timeout`` (seconds): a trial that shows no progress for that long (no report,
          and with ``tune()`` no training or evaluation iteration either) is ended: its worker
          process is killed and replaced, and it is recorded ``failed`` with the error
          ``"no report for N s (trial_timeout)"``; the study goes on. The time budget is
          enforced the same way, on this process's clock: a trial still running a short grace
          after the budget ran out (5% of the budget, between 2 and 30 s) is ended by force and
          recorded ``failed``. In this process (the default executor) a trial cannot be ended by
          force: both are enforced at its next iteration or report, which fails it.
        - Ctrl+C (or any error in the coordinator): the workers are ended, running trials are
          recorded ``interrupted`` (they do not count towards ``n_trials``) and run again first
          by the same command; PBT members stay ``paused`` with their kept states and resume
          from them. A second Ctrl+C while shutting down exits at once.
        """
        from .executors.inprocess import InProcess

        n_trials = check_count(n_trials, "n_trials", "run")
        time_budget = check_seconds(time_budget, "time_budget", "run")  # nan and inf are not budgets
        epoch_budget = check_count(epoch_budget, "epoch_budget", "run")
        if n_trials is None and time_budget is None and epoch_budget is None and not hasattr(self.scheduler, "__len__"):
            raise ValueError(f"{self.scheduler.describe()} never runs out of suggestions: give n_trials or time_budget")
        if trial_timeout is not None and (not isinstance(trial_timeout, (int, float)) or isinstance(trial_timeout, bool)
                                          or not math.isfinite(trial_timeout) or trial_timeout <= 0):
            raise ValueError(f"trial_timeout must be a number of seconds > 0 or None, got trial_timeout={trial_timeout!r}")
        self._lease.acquire(self._what())  # (given back by an earlier run())
        executor = executor or InProcess()
        start = self.clock()
        deadline = None if time_budget is None else start + time_budget
        self._time_budget, self._deadline, self._epoch_budget = time_budget, deadline, epoch_budget
        self._grace = 0.0 if time_budget is None else max(2.0, min(30.0, 0.05 * time_budget))
        self._trial_timeout = None if trial_timeout is None else float(trial_timeout)
        if epoch_budget is not None:
            self._epochs_used = self._epochs_trained()
        reason = None
        failure: BaseException | None = None
        executor.open(self)
        try:
            while True:
                if self._lease.lost:
                    raise TorchSearchError(f"{self._what()}: {self._lease.lost} while this process ran it")
                while executor.free_slots() > 0:
                    if deadline is not None and self.clock() >= deadline:
                        reason = f"time budget of {time_budget:g}s exhausted"
                        break
                    if epoch_budget is not None and self._epochs_used >= epoch_budget:
                        reason = f"epoch budget of {epoch_budget} epochs exhausted"
                        break
                    trial = None
                    if n_trials is not None and self.n_finished() + len(self._active) >= n_trials:
                        reason = reason or f"n_trials={n_trials} reached"
                    else:
                        trial = self._ask()
                        if trial is None:
                            reason = reason or "the scheduler has nothing more to suggest"
                    if trial is None:  # new trials first, then paused ones (PBT), first in first out
                        trial = self._population.resume_next()
                    if trial is None:
                        break
                    trial.alive()  # (trial_timeout counts from here)
                    executor.submit(trial, job)
                if executor.n_running() == 0:
                    break
                executor.wait()
            for number in self._population.paused():  # still paused when the study ends
                active = self._active[number]
                active.stop("study_end", f"paused when the study ended ({reason or 'done'})")
                state = self._population.state(number)["module"]
                self.tell(active, state_dict=state)
        except BaseException as e:
            failure = e
            raise
        finally:
            self._time_budget = self._deadline = self._epoch_budget = self._trial_timeout = None
            try:
                executor.close()  # (a second Ctrl+C here skips the rest of the clean-up, but not what follows)
                if failure is not None:
                    why = ("the study was interrupted (Ctrl+C) while the trial ran" if isinstance(failure, KeyboardInterrupt)
                           else f"the study stopped on an error while the trial ran ({type(failure).__name__}: "
                                f"{failure})")
                    self._interrupt_all(why)
                self._population.close()
            finally:
                if failure is not None:
                    self.end_reason = ("interrupted (Ctrl+C)" if isinstance(failure, KeyboardInterrupt)
                                       else f"stopped on an error ({type(failure).__name__})"
                                       ) + ": run the same command to resume"
                    self.storage.end_study(self._id, self.end_reason)
                    self._lease.release()
        if n_trials is not None and self.n_finished() >= n_trials:
            reason = f"n_trials={n_trials} reached"
        self.end_reason = reason or "done"
        self.storage.end_study(self._id, self.end_reason)
        self._lease.release()
        return self


    def _epochs_trained(self) -> int:
        """Epochs the study's trials trained, from storage: each trial's last step, less the epochs
        a PBT copy carried over from a donor that was ahead (the member did not train those)."""
        reached = sum(max((max(v) for v in t.metrics.values() if v), default=0)
                      for t in self.storage.trials(self._id))
        carried = sum(max(0, row["donor_step"] - row["step"]) for row in self.storage.lineage(self._id)
                      if row["donor_step"] is not None)
        return reached - carried

    def _budget_decision(self) -> Decision | None:
        """A stop decision for a running trial when a budget of :meth:`run` is spent, else None."""
        if self._epoch_budget is not None and self._epochs_used >= self._epoch_budget:
            return Decision.stop("study_epoch_budget", f"study epoch budget of {self._epoch_budget} epochs "
                                 f"exhausted ({self._epochs_used} trained)")
        if self._deadline is not None and self.clock() >= self._deadline:
            return Decision.stop("study_time_budget", f"study time budget of {self._time_budget:g}s exhausted")
        return None


def finish_with_job(study: Study, trial: ActiveTrial, job: Callable[[ActiveTrial], Any], place: Any = None) -> Trial:
    """Run ``job(trial)`` here and tell the study how it ended (exceptions mark it failed).
    ``place``: the executor's name for this process (where a paused trial's module is held)."""
    try:
        result = job(trial)
    except KeyboardInterrupt:
        study._interrupt(trial, "the study was interrupted (Ctrl+C) while the trial ran")
        raise
    except Exception as e:  # noqa: BLE001 - a failing trial must not end the study
        return study.tell(trial, error=e)
    if getattr(result, "paused", False):
        study._pause(trial, place, getattr(result, "held", False))
        return study.storage.trial(study._id, trial.number)
    if result is not None and getattr(result, "stop_code", None):
        trial.stop(result.stop_code, result.stop_reason or result.stop_code)
    return study.tell(trial, value=getattr(result, "value", None), state_dict=getattr(result, "state_dict", None))
