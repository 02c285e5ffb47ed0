"""The coordinator: the running trials of one study, budgets and timeouts (its launch loop is
:class:`~torchsearch._launch.LaunchLoop`).

A :class:`Coordinator` belongs to a :class:`~torchsearch.Study` and is the
:class:`~torchsearch.executors.base.TrialHost` every executor talks to: an executor asks it how
to launch a trial (:meth:`launch`), hands it the trial's reports (through
``ActiveTrial.report``, which calls :meth:`report`), the states a worker sends
(:meth:`receive_state`), and ends every trial through :meth:`finish`, :meth:`pause` or
:meth:`interrupt`. Nothing an executor needs is private. The study itself keeps only what a
user reads and calls (ask / tell / run / best / load_module).

Kept states, pauses and exploits live in :class:`~torchsearch._population.Population`, which the
coordinator owns; the scheduler is told of every trial start, report and end from here.
"""

from __future__ import annotations

import math
import sys
import time
import traceback as tb
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ._active import ActiveTrial
from ._bookkeeping import keep_weights_if_best, progress_line, take_back
from ._enqueue import fill
from ._jobs import trial_seed
from ._launch import LaunchLoop
from ._population import Population
from ._record import FINISHED_STATES, Trial
from .exceptions import TrialError
from .executors.base import Launch
from .schedulers.base import Decision

if TYPE_CHECKING:
    from .study import Study

__all__ = ["Coordinator"]


class Coordinator(LaunchLoop):
    """The running side of a study (see the module docstring)."""

    def __init__(self, study: Study) -> None:
        self.study = study
        self.storage, self.study_id, self.scheduler = study.storage, study.id, study.scheduler
        self.space, self.metric, self.mode, self.name, self.seed = (
            study.space, study.metric, study.mode, study.name, study.seed)
        self.active: dict[int, ActiveTrial] = {}
        self.population = Population(self)
        self._rerun: list[dict[str, Any]] = []
        self._n_finished: int | None = None
        self._started = time.monotonic()
        self.epochs_used = 0  # epochs reported by all trials (see run(epoch_budget=...))
        self._epoch_budget: int | None = None
        self._time_budget: float | None = None
        self._deadline: float | None = None
        self._grace = 0.0  # seconds a trial may run past the time budget before it is ended by force
        self._trial_timeout: float | None = None
        self._in_run = False  # inside run(): a programming error at the first trial fails fast
        self.pruning = study._pruning  # a PrunerHook, or None (torchsearch/pruners/_hook.py)

    @property
    def clock(self) -> Callable[[], float]:
        return self.study.clock

    # -- opening a stored study -------------------------------------------------------------
    def recover(self) -> None:
        """Take back the stored trials (the study's lease is held): trials that were running
        when the last process died become ``interrupted`` and run again first, PBT members with
        a durable kept state stay ``paused`` and resume from it; then the scheduler learns every
        stored trial."""
        trials, restore, self._rerun = take_back(self.storage, self.study_id, self.space, self.population)
        self.scheduler.setup(self.space, mode=self.mode, seed=self.seed)
        if self.pruning is not None:
            self.pruning.setup_scheduler()
        warm = getattr(self.study, "warm_observations", None)
        if warm:  # earlier studies' trials, before the study's own (see torchsearch._warmstart)
            self.scheduler.warm_start(warm)
        if self.pruning is not None:  # its rungs, from the stored reports
            self.pruning.recover(self.storage.trials(self.study_id), self.metric,
                                 {n: int(s.get("epoch", 0)) for n, s in restore.items()})
        for t in trials:
            self.scheduler.on_trial_start(t.number, t.params)
            if t.number in restore:
                self.population.restore(self.storage.trial(self.study_id, t.number), restore.pop(t.number))
                continue
            self.scheduler.on_complete(t.number, t.value, t.state)

    def n_finished(self) -> int:
        if self._n_finished is None:
            self._n_finished = self.storage.count_trials(self.study_id, FINISHED_STATES)
        return self._n_finished

    # -- starting trials ----------------------------------------------------------------------
    def next_trial(self, *, can_pause: bool = True) -> ActiveTrial | None:
        """A new trial: a rerun of an interrupted one first, else the scheduler's suggestion
        (None: it has nothing to suggest now). ``can_pause=False``: nothing will resume it (a
        trial from ``Study.ask``), so a pruner only stops it."""
        entry = None
        if self._rerun:
            params = self._rerun.pop(0)
        else:
            entry = next(iter(self.storage.queued(self.study_id)), None)  # queued by hand (Study.enqueue)
            params = self.scheduler.suggest() if entry is None or len(entry["params"]) < len(self.space) else {}
            if entry is not None:
                params = fill(self.space, entry["params"], params, lambda: self.space.sample(
                    np.random.default_rng(None if self.seed is None else [self.seed, entry["id"]])))
            if params is None:
                return None
        params = self.space.validate(params)
        number = self.storage.add_trial(self.study_id, params, queued=None if entry is None else entry["id"])
        self.scheduler.on_trial_start(number, params)
        if self.pruning is not None:
            self.pruning.started(number, params, can_pause=can_pause)
        trial = ActiveTrial(self, number, params)
        self.active[number] = trial
        return trial

    def launch(self, trial: ActiveTrial, location: Any = None, *, also_keep: tuple[int, ...] = ()) -> Launch:
        """How to start ``trial`` at ``location`` (the executor's name for the process that will
        run it; any hashable value). A resumed trial whose module that process holds needs no
        state; any other resumed trial needs :meth:`state_bytes` (or ``trial.resume_state()``
        in this process). ``also_keep``: trials whose modules the process may hold once handed
        back (the one it is pausing now)."""
        resume = trial.resuming
        cached = resume and self.population.resumed_at(trial, location)
        if cached:
            trial.resuming = False  # nothing to load: the module kept there is the kept state
        keep = self.population.held_at(location) + list(also_keep)
        return Launch(trial.number, dict(trial.params), None if resume else trial_seed(self.seed, trial.number),
                      resume, cached, keep)

    def holds(self, number: int, location: Any) -> bool:
        """Whether the process at ``location`` holds paused trial ``number``'s module as kept here
        (so it resumes there with no state sent)."""
        return self.population.holds(number, location)

    # -- what an executor asks while trials run -----------------------------------------------
    @property
    def trial_timeout(self) -> float | None:
        """Seconds a running trial may show no progress before it is ended (None: no limit)."""
        return self._trial_timeout

    def quiet_reports(self, trial: ActiveTrial) -> int:
        """How many of ``trial``'s next reports its worker may send without waiting for an answer:
        those the scheduler will answer ``continue`` (none under an epoch budget, which every
        report may end, nor after a stop)."""
        if self._epoch_budget is not None or trial.should_stop:
            return 0
        quiet = self.scheduler.quiet_reports(trial.number)
        return quiet if self.pruning is None else self.pruning.quiet(trial.number, quiet)

    def overdue(self, since: float | None) -> str | None:
        """Why a running trial whose last sign of progress (a report, an iteration) came at
        ``since`` (on :attr:`clock`; None: not begun yet) must be ended by force now, or None."""
        now = self.clock()
        if self._trial_timeout is not None and since is not None and now - since >= self._trial_timeout:
            return f"no report for {self._trial_timeout:g} s (trial_timeout)"
        if self._deadline is not None and now >= self._deadline + self._grace and since is None:
            return (f"the study time budget of {self._time_budget:g}s ran out before the trial began (its worker "
                    "was still starting)")
        if self._deadline is not None and now >= self._deadline + self._grace:
            return (f"still running {self._grace:g} s after the study time budget of {self._time_budget:g}s ran out "
                    "(it did not stop when told: hung?)")
        return None

    def budget_decision(self) -> Decision | None:
        """A stop decision for a running trial when a budget of :meth:`run` is spent, else None."""
        if self._epoch_budget is not None and self.epochs_used >= self._epoch_budget:
            return Decision.stop("study_epoch_budget", f"study epoch budget of {self._epoch_budget} epochs "
                                 f"exhausted ({self.epochs_used} trained)")
        if self._deadline is not None and self.clock() >= self._deadline:
            return Decision.stop("study_time_budget", f"study time budget of {self._time_budget:g}s exhausted")
        return None

    def report(self, trial: ActiveTrial, metrics: dict[str, float], step: int, *,
               state: Callable[[], dict[str, Any]] | None = None, final: bool = False) -> Decision:
        """Store ``trial``'s metrics at ``step`` and decide (the body of ``ActiveTrial.report``)."""
        if self._trial_timeout is not None:
            trial.tick()
        if self.metric not in metrics:
            raise TrialError(f"trial {trial.number}: the study metric {self.metric!r} is not among the reported "
                             f"metrics {sorted(metrics)}")
        self.storage.add_report(self.study_id, trial.number, step, metrics)
        if step > trial.epochs:
            self.epochs_used += step - trial.epochs
            trial.epochs = step
        value = metrics[self.metric]
        if not math.isfinite(value):
            trial.failure = f"metric {self.metric!r} is {value} at step {step}"
            trial.decision = Decision.stop("non_finite", trial.failure)
            return trial.decision
        if trial.best_value is None or (value < trial.best_value if self.mode == "min" else value > trial.best_value):
            trial.best_value, trial.best_step = value, step
            self.storage.update_trial(self.study_id, trial.number, value=value, best_step=step)
        if trial.should_stop:
            return trial.decision
        decision = self.scheduler.on_report(trial.number, step, value)
        if self.pruning is not None:  # the pruner's decision comes after the scheduler's
            decision = self.pruning.decide(trial.number, step, value, decision, final)
        if decision.action != "stop" and not final:  # (a last evaluation ends the trial anyway)
            decision = self.budget_decision() or decision
        if decision.action == "stop":
            trial.decision = decision
        elif decision.action != "continue" or decision.checkpoint:
            decision = self.population.on_decision(trial, decision, step, state, final)
        return decision

    # -- PBT states -------------------------------------------------------------------------
    def state_bytes(self, number: int) -> bytes:
        """Trial ``number``'s kept trainer state, serialized for another process (a donor's state
        after an exploit, or a paused trial's state to resume from)."""
        return self.population.blob(number)

    def receive_state(self, trial: ActiveTrial, step: int, blob: bytes) -> None:
        """The state a worker sent for ``trial`` after a checkpoint or pause decision."""
        self.population.receive(trial, step, blob)

    def donor_state(self, trial: ActiveTrial) -> dict[str, Any]:
        if trial.donor is None:
            raise TrialError(f"trial {trial.number}: donor_state() is only available after an exploit decision")
        return self.population.state(trial.donor)

    def resume_state(self, trial: ActiveTrial) -> dict[str, Any] | None:
        if not trial.resuming:
            return None
        trial.resuming = False
        return self.population.state(trial.number)

    # -- ending trials --------------------------------------------------------------------------
    def pause(self, trial: ActiveTrial, location: Any = None, cached: bool = False) -> None:
        """``trial`` handed its state back (a pause decision) and waits for a slot; ``cached``: the
        process at ``location`` kept its module."""
        self.population.pause(trial, location, cached)

    def finish(self, trial: ActiveTrial | int, value: float | None = None, *, state: str | None = None,
               error: BaseException | str | None = None, traceback: str | None = None,
               stop: tuple[str, str] | None = None, weights: dict[str, Any] | None = None,
               best_weights: dict[str, Any] | None = None, best_step: int | None = None) -> Trial:
        """End a running trial: ``completed``, ``stopped`` (after a stop decision, or ``stop=(code,
        reason)``) or ``failed`` (``error``: an exception or its text, ``traceback`` its text).
        ``value`` overrides the best reported value; ``weights`` are its final module state,
        kept when it is the study's best trial, with ``best_weights``: those of its evaluation at
        ``best_step`` when they differ from the final ones (see ``torchsearch._best``).

        Inside :meth:`run`, while no trial of the study has a value, a programming error (see
        ``torchsearch._failfast``) is raised here instead of failing the trial: the run stops and
        the trial is recorded ``interrupted``."""
        number = trial if isinstance(trial, int) else trial.number
        active = self.active.get(number)
        if active is None:
            raise TrialError(f"trial {number} is not running in study {self.name!r}; it cannot be told "
                             "(told twice, or never asked)")
        if state is not None and state not in FINISHED_STATES:
            raise ValueError(f"tell: state must be one of {FINISHED_STATES}, got state={state!r}")
        if stop is not None:
            active.stop(*stop)
        if value is not None and state != "failed":
            value = float(value)
            if not math.isfinite(value):
                error = error or f"value is {value}"
            elif active.best_value is None or active.best_value != value:
                # a final value counts as a report at the last step, so it is stored and replayed
                step = 0 if active.best_step is None else active.best_step
                active.best_value, active.best_step = value, step
                self.storage.update_trial(self.study_id, number, value=value, best_step=step)
        raised = error if isinstance(error, BaseException) else None
        if isinstance(error, BaseException):
            traceback = traceback or "".join(tb.format_exception(type(error), error, error.__traceback__))
            error = f"{type(error).__name__}: {error}"
        if error is None and active.failure is not None:
            error = active.failure
        if error is not None and self._in_run:
            self._fail_fast(active, raised or error, traceback)
        if error is not None:
            state = "failed"
        elif state is None:
            state = "stopped" if active.should_stop else "completed"
        fields: dict[str, Any] = {"state": state, "ended": time.time()}
        if error is not None:
            fields.update(error=str(error), traceback=traceback)
        if active.should_stop:
            fields.update(stop_code=active.decision.code, stop_reason=active.decision.reason)
        active.finished = True
        del self.active[number]
        self.population.drop(number)
        self.storage.update_trial(self.study_id, number, **fields)
        self._n_finished = None if self._n_finished is None else self._n_finished + 1
        final = active.best_value if state != "failed" else None
        self.scheduler.on_complete(number, final, state)
        if self.pruning is not None:
            self.pruning.ended(number, final, state)
        if weights is not None and state != "failed" and final is not None:
            # (best weights from another step than the trial's value's are not its best: not kept)
            self._keep_if_best(number, weights, best_weights if best_step == active.best_step else None)
        record = self.storage.trial(self.study_id, number)
        if self.study.verbose:
            self._progress(record)
        return record

    def interrupt(self, trial: ActiveTrial, why: str) -> None:
        """The coordinator stopped while ``trial`` ran (Ctrl+C, an error): a trial with a kept
        state (a PBT member) stays ``paused`` and resumes from it; any other is recorded
        ``interrupted`` (not finished: it does not count towards ``n_trials``) and runs again
        first, by this study object or by the next one opened on the same storage."""
        number = trial.number
        if trial.finished or self.active.get(number) is not trial:
            return
        if self.population.has(number):
            if number not in self.population.paused():
                self.population.pause(trial)
            return
        trial.finished = True
        del self.active[number]
        self.storage.update_trial(self.study_id, number, state="interrupted", ended=time.time(), error=why)
        self.scheduler.on_complete(number, None, "interrupted")
        if self.pruning is not None:
            self.pruning.ended(number, None, "interrupted")
        self._rerun.insert(0, dict(trial.params))

    def run_here(self, trial: ActiveTrial, job: Callable[[Any], Any], location: Any = None) -> None:
        """Run ``job(trial)`` in this process and end the trial by how it returned (exceptions
        fail it; Ctrl+C interrupts it and propagates). ``location``: the executor's name for this
        process (where a paused trial's module is held)."""
        try:
            result = job(trial)
        except KeyboardInterrupt:
            self.interrupt(trial, "the study was interrupted (Ctrl+C) while the trial ran")
            raise
        except Exception as e:  # noqa: BLE001 - a failing trial must not end the study
            self.finish(trial, error=e)
            return
        if getattr(result, "paused", False):
            self.pause(trial, location, getattr(result, "held", False))
            return
        code = getattr(result, "stop_code", None) if result is not None else None
        self.finish(trial, value=getattr(result, "value", None), weights=getattr(result, "state_dict", None),
                    stop=(code, result.stop_reason or code) if code else None,
                    best_weights=getattr(result, "best_state_dict", None), best_step=getattr(result, "best_step", None))

    def _fail_fast(self, active: ActiveTrial, error: BaseException | str, traceback: str | None) -> None:
        """Raise ``error`` (with a hint) when it is a programming error and no trial of the study
        has a value yet (see ``torchsearch._failfast``); else return."""
        from . import _failfast

        text = _failfast.hint(error, active.params)
        if text is None or self.storage.count_trials(self.study_id, ("completed", "stopped")) > 0:
            return
        if isinstance(error, BaseException):
            raise _failfast.with_hint(error, active.number, text)
        raise _failfast.with_hint(_failfast.rebuild(*_failfast.split(error)), active.number, text, traceback)

    def _keep_if_best(self, number: int, state_dict: dict[str, Any],
                      best_weights: dict[str, Any] | None = None) -> None:
        keep_weights_if_best(self.storage, self.study_id, self.name, self.mode, number, state_dict, best_weights)

    def _progress(self, t: Trial) -> None:
        print(progress_line(self.storage, self.study_id, self.name, self.metric, self.mode, t, self.n_finished(),
                            time.monotonic() - self._started), file=sys.stderr, flush=True)
