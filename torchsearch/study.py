"""The study: what a user holds. ``tune`` and ``optimize`` drive it.

The loop (see ../shared/DESIGN.md): ask the scheduler for params, record the trial, hand it
to the executor; each report goes to storage and to the scheduler, whose decision goes back;
when the trial ends, ``tell`` records how, and the scheduler learns from it. The running side
(the launch loop, budgets, timeouts, pauses) is the study's
:class:`~torchsearch._coordinator.Coordinator`, the only thing executors talk to.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from ._active import ActiveTrial
from ._checkpoints import LAST, NOT_SAVED
from ._checks import check_count, check_seconds, check_seed
from ._coordinator import Coordinator
from ._lease import Lease
from ._lineage import replay, schedule
from ._enqueue import check_params
from ._load import check_reopen, resolve
from ._record import FINISHED_STATES, Trial
from .exceptions import StorageError, TorchSearchError, TrialError
from .schedulers.base import Scheduler
from .space import Parameter, Space, as_space
from .storage import Storage
from .pruners._hook import PrunerHook, check_pruner, stored_pruner

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

    A stored study reopens without its space (``Study(storage="runs/x", name="digits")`` or
    ``ts.load_study("runs/x")``): space, metric, mode and seed come from storage, and the study
    takes its lease only when it runs or asks (see ``torchsearch._load``), so it can be read,
    noted on and queued to while another process runs it.

    One coordinator per study: on a storage folder the study takes the study's lease (see
    ``torchsearch._lease``) before it looks at the trials. While another live process holds it,
    opening the study raises :class:`TorchSearchError` naming that process (host, pid, since);
    a dead owner's lease is taken over, and only then are its running trials marked
    ``interrupted``. The lease is given back when :meth:`run` returns (and taken again by the
    next ``run`` or ``ask``).

    Args:
        space: dict ``name -> parameter`` (or a :class:`Space`); None reopens the stored study.
        scheduler: the strategy (default: ``Random()``).
        metric: the metric to optimise; ``mode``: ``"min"`` or ``"max"`` (default: the stored
            study's, else ``"value"`` and ``"min"``).
        storage: a folder path, a :class:`Storage`, or None for memory.
        name: the study name inside the storage (default ``"default"``; without a space, the
            storage's only study).
        seed: the study seed; the scheduler and each trial get seeds spawned from it (default:
            a reopened study's stored seed).
        verbose: print one line per finished trial (to stderr).
        clock: the monotonic clock the study's time budget reads (default ``time.monotonic``).
        warm_start: earlier studies to learn from before the first suggestion: a study (as
            ``load_study`` returns it), a storage folder, or a list of them. Their finished
            trials that lie inside ``space`` (``ts.zoom`` narrows it) teach the scheduler (Bayes
            and TPE; Random, Grid and PBT ignore them); they are not trials of this study. See
            ``torchsearch._warmstart``; :attr:`warm_observations` holds what was taken.
        pruner: stops (or pauses until promoted) the trials that fall behind their peers:
            ``Median``, ``ASHA`` or ``Hyperband`` from :mod:`torchsearch.pruners`. Trials from
            :meth:`ask` are only stopped (nothing resumes them), with ASHA's ``promote=False`` rule.
            The study stores its pruner (kind, arguments, rungs): reopened without one, it runs
            with the stored one rebuilt; a different one is refused (ValueError).
        epochs: the epochs of a full trial (``tune(epochs=...)`` gives it): a pruner's default
            ``max_epochs``.
    """

    def __init__(self, *, space: Space | Mapping[str, Parameter] | None = None, scheduler: Scheduler | None = None,
                 metric: str | None = None, mode: Mode | None = None, storage: str | Storage | None = None,
                 name: str | None = None, seed: int | None = None, verbose: bool = True,
                 clock: Callable[[], float] = time.monotonic, warm_start: Any = None, pruner: Any = None,
                 epochs: int | None = None) -> None:
        from .schedulers.random import Random

        space = None if space is None else as_space(space)
        if mode is not None:
            _check_mode(mode)
        if metric is not None and (not isinstance(metric, str) or not metric):
            raise ValueError(f"metric must be a non-empty string, got metric={metric!r}")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"name must be a non-empty string, got name={name!r}")
        seed = check_seed(seed, "Study")
        if scheduler is None:
            scheduler = Random()
        if not isinstance(scheduler, Scheduler):
            raise TypeError(f"scheduler must be a torchsearch.schedulers.Scheduler, got {scheduler!r}")
        if storage is not None and not isinstance(storage, (str, os.PathLike, Storage)):
            raise TypeError(f"storage must be a folder (str or path), a torchsearch Storage or None (in memory), "
                            f"got storage={storage!r}")
        if space is None:
            check_reopen(storage)  # (never creates a folder to find no study in it)
        self.storage = storage if isinstance(storage, Storage) else Storage(storage)
        found = resolve(self.storage, space=space, metric=metric, mode=mode, name=name, seed=seed)
        self.space, metric, self.mode, name, seed = found.space, found.metric, found.mode, found.name, found.seed
        mode = self.mode  # type: ignore[assignment]
        self.metric, self.name, self.seed, self.verbose = metric, name, seed, verbose
        self.scheduler = scheduler
        self.pruner = check_pruner(pruner, scheduler, mode=self.mode, metric=metric, epochs=epochs, where="Study")
        self._reopened = found.reopened
        # the pruner the study stored: rebuilt when none is passed, a different one refused; both
        # before the study's row is touched (a refused call leaves the stored study as it was)
        try:
            stored_id: int | None = self.storage.study_id(name)
        except StorageError:  # a new study
            stored_id = None
        stored = None if stored_id is None else self.storage.study_pruner(stored_id)
        kept = stored_pruner(stored, self.pruner, study=name, where="Study")
        if kept is not self.pruner:
            try:
                self.pruner = check_pruner(kept, scheduler, mode=self.mode, metric=metric, epochs=epochs,
                                           where="Study")
            except (TypeError, ValueError) as e:
                raise type(e)(f"study {name!r} is stored with pruner {kept!r}, and a study keeps its pruner: {e}; "
                              "run this scheduler under another study name (name=...)") from e
        if found.reopened:  # (a reader: the study's row stays as it is until it runs)
            self._id = self.storage.study_id(name)
        else:
            self._id = self._open_row()
        self._pruning = None if self.pruner is None else PrunerHook(self.pruner, scheduler)
        self.end_reason: str | None = None
        self.clock = clock
        self.warm_observations = self._warm_start(warm_start)
        self._lease = Lease(self.storage, self._id)
        self._coordinator = Coordinator(self)
        self._recovered = False
        if not found.reopened:
            self._take()  # before any trial is touched: a live owner's trials are its own

    def _take(self) -> None:
        """Hold the study's lease (given back by an earlier run()); the first time, take back the
        stored trials (see ``Coordinator.recover``)."""
        self._lease.acquire(self._what())
        if not self._recovered:
            if self._reopened:
                self._open_row()  # it runs again: no longer ended
            self._coordinator.recover()
            self._recovered = True

    def _open_row(self) -> int:
        """The study's row in storage, created if new (a stored one must match metric, mode and
        space), marked not ended."""
        sid = self.storage.get_or_create_study(self.name, metric=self.metric, mode=self.mode,
                                               space=self.space.to_dict(), scheduler=self.scheduler.describe(),
                                               seed=self.seed)
        if self.pruner is not None:
            self.storage.set_study_pruner(sid, self.pruner.config())
        return sid

    def _warm_start(self, warm_start: Any) -> list[tuple[dict[str, Any], float]]:
        if warm_start is None:
            return []
        from pathlib import Path

        from ._warmstart import describe_sources, observations

        itself = None if self.storage.path is None else (str(Path(self.storage.path).resolve()), self.name)
        found, lines = observations(warm_start, self.space, metric=self.metric, mode=self.mode, name=self.name,
                                    itself=itself)
        if self.verbose:
            print(f"[{self.name}] {describe_sources(lines)}", file=sys.stderr, flush=True)
        return found

    @property
    def id(self) -> int:
        """The study's id in its storage (what ``Storage`` methods take)."""
        return self._id

    def _what(self) -> str:
        return f"study {self.name!r} in {str(self.storage.path)!r}"

    def __repr__(self) -> str:
        """What ``print(ts.tune(...))`` shows: the study, where it is stored, how many trials have
        finished and the best one, e.g. ``Study('digits', accuracy max, 'runs.db': 12 finished,
        best 0.9777 (trial 4))``."""
        where = "in memory" if self.storage.path is None else repr(str(self.storage.path))
        try:
            finished = self.storage.count_trials(self._id, FINISHED_STATES)
            number = self.storage.best_number(self._id, self.mode)
            best = "none yet" if number is None else f"{self.storage.trial(self._id, number).value:.6g} (trial {number})"
        except Exception as e:  # noqa: BLE001 - a repr never raises (closed or foreign storage)
            return f"Study({self.name!r}, {self.metric} {self.mode}, {where}: unreadable, {type(e).__name__})"
        return f"Study({self.name!r}, {self.metric} {self.mode}, {where}: {finished} finished, best {best})"

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

    def _trial_numbered(self, number: int, where: str) -> Trial:
        try:
            return self.storage.trial(self._id, number)
        except StorageError:
            n = len(self.storage.trials(self._id, with_metrics=False))
            have = f"its trials are numbered 0-{n - 1}" if n else "it has no trial yet"
            raise StorageError(f"{where}: study {self.name!r} has no trial {number} ({have})") from None

    def n_finished(self) -> int:
        """How many trials have ended (completed, stopped or failed): what ``n_trials`` counts."""
        return self._coordinator.n_finished()

    @property
    def running(self) -> list[ActiveTrial]:
        return list(self._coordinator.active.values())

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

    # -- ask / tell -------------------------------------------------------------------------
    def ask(self) -> ActiveTrial:
        """Start a trial: a rerun of an interrupted one, else a trial queued by hand (see
        :meth:`enqueue`), else the scheduler's suggestion."""
        self._take()
        trial = self._coordinator.next_trial(can_pause=False)
        if trial is None:
            if not self._coordinator.active:  # nothing runs, nothing will: the study has ended (as run() says)
                self._ended("the scheduler has nothing more to suggest", release=False)
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
        return self._coordinator.finish(trial, value, state=state, error=error, weights=state_dict)

    # -- by hand ----------------------------------------------------------------------------
    def enqueue(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Queue a trial of your own: it runs first (after reruns of interrupted trials), in the
        order queued, in the study's next ``run`` / ``tune`` / ``optimize`` (or the current one,
        at its next free slot), even past ``n_trials``; its record says ``queued``. ``params``
        may leave parameters out: the scheduler's suggestion fills them in when it starts.
        Returns the params as checked (in the space's order). Needs no lease.

        Raises:
            SpaceError: an unknown parameter, or a value outside its parameter (the message
                names the parameter, the value and what is allowed).
        """
        params = check_params(self.space, params)
        self.storage.enqueue(self._id, params)
        return params

    def queued(self) -> list[dict[str, Any]]:
        """The trials queued by hand that have not started yet (``{"id", "params", "time"}``)."""
        return self.storage.queued(self._id)

    def note(self, number: int, text: str) -> dict[str, Any]:
        """Add a timestamped note to trial ``number`` (several per trial; shown by
        ``torchsearch trials``, the dashboard and ``Trial.notes``). Needs no lease: a study
        another process runs can be noted on. Returns ``{"trial", "text", "time"}``."""
        return self.storage.add_note(self._id, number, text)

    def _ended(self, reason: str, release: bool = True) -> None:
        """Record why the study (this run of it) ended; give the lease back."""
        self.end_reason = reason
        self.storage.end_study(self._id, reason)
        if release:
            self._lease.release()

    # -- loading weights --------------------------------------------------------------------
    def load_module(self, module_cls: type, trial: Trial | int | None = None, *, device: str = "cpu",
                    which: Literal["best", "last"] = "best") -> Any:
        """Rebuild ``module_cls`` with a trial's params (default: the best trial) and load its weights.

        ``which="best"``: the weights of the evaluation whose value is the trial's value (its
        ``best_step``: the model's weights; the optimiser state is in the last ones);
        ``which="last"``: the weights it ended with. Only the study's best trial keeps weights.
        A trial that ended on its best evaluation has one file for both; so has one whose best
        weights could not be kept (run without a metric, or a PBT member whose weights an exploit
        replaced while it was paused after its best evaluation): both give the final weights.
        """
        if which not in ("best", "last"):
            raise ValueError(f"load_module: which must be 'best' or 'last', got which={which!r}")
        t = self.best_trial if trial is None else (
            self._trial_numbered(trial, "load_module") if isinstance(trial, int) else trial)
        if not t.checkpoint and t.error and t.error.startswith(NOT_SAVED):
            raise StorageError(f"trial {t.number} of study {self.name!r} has no weights: its {t.error}")
        if not t.checkpoint:
            raise StorageError(f"trial {t.number} of study {self.name!r} has no saved weights "
                               "(only the best trial's final weights are kept)")
        module = module_cls(dict(t.params), device=device)
        state = self._last_weights(t.checkpoint) if which == "last" else None
        module.load_state_dict(state if state is not None else self.storage.load_checkpoint(t.checkpoint))
        return module

    def _last_weights(self, key: str) -> dict[str, Any] | None:
        """The final weights kept beside the best evaluation's under ``key``, or None when there
        are none (the final weights are the best ones)."""
        try:
            return self.storage.load_checkpoint(key + LAST)
        except StorageError as e:
            if isinstance(e.__cause__, FileNotFoundError) or (self.storage.path is None and "no checkpoint" in str(e)):
                return None
            raise

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
        self._take()
        every = ("running", "paused", "interrupted", *FINISHED_STATES)
        before, finished = self.storage.count_trials(self._id, every), self.n_finished()
        reason = self._coordinator.run(job, executor or InProcess(), n_trials=n_trials, time_budget=time_budget,
                                       epoch_budget=epoch_budget, trial_timeout=trial_timeout, lease=self._lease)
        self._ended(reason)
        if self.verbose and finished == self.n_finished() and before == self.storage.count_trials(self._id, every):
            print(f"[{self.name}] nothing to run: {reason} ({finished} trials finished before); raise n_trials "
                  "or a budget, or queue a trial (study.enqueue), to run more", file=sys.stderr, flush=True)
        return self
