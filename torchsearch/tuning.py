"""``tune()`` (train a TrialModule per trial) and ``optimize()`` (call a plain function)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from ._checks import check_count, check_seconds, check_seed
from ._jobs import ObjectiveJob, TrainJob, check_handlers
from .executors._system import check_device
from .schedulers.base import Scheduler
from .space import Parameter, Space
from .storage import Storage
from .study import Study
from .trial import TrialModule

__all__ = ["tune", "optimize"]


def _name(name: str | None, study_name: str | None, where: str) -> str | None:
    """The study name from ``name=`` or its older spelling ``study_name=`` (both: they must agree)."""
    if name is not None and study_name is not None and name != study_name:
        raise ValueError(f"{where}: name={name!r} and study_name={study_name!r} are the same argument (the study's "
                         "name); give one")
    return name if name is not None else study_name


def _warn_pbt_never_ready(scheduler: Any, epochs: int, eval_every: int) -> None:
    """PBT decides at every ``interval``-th evaluation but the last: with no such evaluation
    nobody ever exploits or explores (a PBT run that is a plain random search); say so."""
    from .schedulers.pbt import PBT

    if not isinstance(scheduler, PBT):
        return
    evaluations = -(-epochs // eval_every)
    if scheduler.interval >= evaluations:
        import warnings

        warnings.warn(f"tune: PBT(interval={scheduler.interval}) decides every {scheduler.interval} evaluations, and "
                      f"a trial of epochs={epochs} (eval_every={eval_every}) has {evaluations}: no member will ever "
                      "exploit or explore (the last evaluation never does). Use a smaller interval or more epochs",
                      UserWarning, stacklevel=3)


def tune(
    module_cls: type[TrialModule],
    space: Space | Mapping[str, Parameter],
    *,
    scheduler: Scheduler | None = None,
    metric: str,
    mode: Literal["min", "max"],
    epochs: int,
    storage: str | Storage | None = None,
    n_trials: int | None = None,
    time_budget: float | None = None,
    epoch_budget: int | None = None,
    trial_timeout: float | None = None,
    seed: int | None = None,
    study_name: str | None = None,
    name: str | None = None,
    device: str = "cpu",
    eval_every: int = 1,
    handlers: Sequence[Any] | Callable[[], Sequence[Any]] = (),
    executor: Any = None,
    devices: str | Sequence[str] | None = None,
    workers: int | None = None,
    per_device: int = 1,
    verbose: bool = True,
    clock: Callable[[], float] = time.monotonic,
    warm_start: Any = None,
    pruner: Any = None,
) -> Study:
    """Tune ``module_cls`` over ``space``: each trial builds it from its params and trains it.

    Args:
        module_cls: a :class:`TrialModule` subclass.
        space: dict ``name -> parameter``.
        scheduler: the search strategy (default ``Random()``).
        metric, mode: the validation metric to optimise and whether lower or higher is better.
            A trial's value is its best evaluation of ``metric``.
        epochs: epochs per trial.
        storage: a folder (SQLite inside; the study continues if it exists) or None for memory.
        n_trials: the study's total of finished trials (a resumed study runs only what is missing).
        time_budget: seconds for the whole study; running trials are stopped when it runs out
            (one that does not stop within a short grace is ended by force and recorded failed).
        epoch_budget: epochs for the whole study, all trials together (earlier runs of a resumed
            study included); no trial starts once they are spent, and running trials stop at
            their next evaluation. ``study.end_reason`` says which budget ended the study.
        trial_timeout: seconds a trial may go without progress (no training or evaluation
            iteration, no report) before it is ended: with worker processes its worker is
            killed and replaced, the trial recorded ``failed`` ("no report for N s
            (trial_timeout)"), and the study goes on. In this process (no ``devices``/``workers``)
            a hang cannot be ended; a gap that long fails the trial at its next iteration. See
            :meth:`Study.run`.
        seed: study seed (scheduler and per-trial torch seeds are spawned from it).
        name: the study's name inside the storage (default: the class name), as for
            :class:`Study` and ``ts.load_study``; ``study_name`` is the same argument under its
            older name.
        device: where trials train (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        eval_every: evaluate every N epochs.
        handlers: extra Ignite handlers for every trial's Trainer, or a function returning a
            fresh list per trial (for handlers with state).
        executor: where trials run (default: in this process, one after another).
        devices, workers, per_device: run trials in parallel worker processes instead, one per
            device slot (:class:`~torchsearch.executors.Processes`): ``devices="cuda"`` for
            every visible GPU, ``"cuda:0,cuda:2"`` for some, ``"cpu"`` with ``workers=N``;
            ``per_device=2`` packs two trials on each GPU.
        verbose: one line per finished trial.
        clock: the monotonic clock the time budget reads (default ``time.monotonic``).
        warm_start: earlier studies whose finished trials teach the scheduler before its first
            suggestion: a study (``ts.load_study(...)``), a storage folder, or a list of them;
            only their trials inside ``space`` count (see :class:`Study`).
        pruner: stop (or pause until promoted) the trials that fall behind their peers:
            ``Median()``, ``ASHA()`` or ``Hyperband()`` from :mod:`torchsearch.pruners`, with any
            scheduler but PBT; their ``max_epochs`` defaults to ``epochs``. A pruned trial ends
            ``stopped`` with ``stop_code`` ``"pruned"`` and a reason; ``n_trials`` counts every
            trial started, and paused trials never promoted end pruned with the study.

    A trial's kept weights are those of its best evaluation (``study.load_module(Cls)``), and its
    final ones (``which="last"``). While no trial has a value, a programming error (a wrong
    metric name, a ``setup`` that forgets ``optimizer``, a missing space key...) stops the study
    at once with a hint instead of failing every trial (see ``torchsearch._failfast``).
    """
    if not (isinstance(module_cls, type) and issubclass(module_cls, TrialModule)):
        raise TypeError(f"tune: module_cls must be a TrialModule subclass, got {module_cls!r}")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"tune: epochs must be an int >= 1, got epochs={epochs!r}")
    if not isinstance(metric, str) or not metric:
        raise ValueError(f"tune: metric must be the name of a metric validation_step returns (a non-empty str), "
                         f"got metric={metric!r}")
    if mode not in ("min", "max"):
        raise ValueError(f"tune: mode must be 'min' or 'max', got mode={mode!r}")
    if not isinstance(eval_every, int) or isinstance(eval_every, bool) or eval_every < 1:
        raise ValueError(f"tune: eval_every must be an int >= 1, got eval_every={eval_every!r}")
    check_handlers(handlers, "tune")
    _warn_pbt_never_ready(scheduler, epochs, eval_every)
    study_name = _name(name, study_name, "tune")
    seed = check_seed(seed, "tune")
    n_trials, epoch_budget = check_count(n_trials, "n_trials", "tune"), check_count(epoch_budget, "epoch_budget", "tune")
    time_budget = check_seconds(time_budget, "time_budget", "tune")
    from .executors.inprocess import InProcess

    if devices is None and workers is None and (executor is None or isinstance(executor, InProcess)):
        device = check_device(device, "tune")  # trials train in this process, on `device`: can they?
    if devices is not None or workers is not None:
        if executor is not None:
            raise ValueError(f"tune: give either executor={executor!r} or devices/workers, not both")
        from .executors.processes import Processes

        executor = Processes("cpu" if devices is None else devices, workers=workers, per_device=per_device)
    study = Study(space=space, scheduler=scheduler, metric=metric, mode=mode, storage=storage,
                  name=study_name or module_cls.__name__, seed=seed, verbose=verbose, clock=clock,
                  warm_start=warm_start, pruner=pruner, epochs=epochs)
    deadline = None if time_budget is None else clock() + float(time_budget)
    job = TrainJob(module_cls, epochs=epochs, device=device, eval_every=eval_every, handlers=handlers,
                   seed=seed, deadline=deadline, clock=clock, metric=metric, mode=mode)
    return study.run(job, n_trials=n_trials, time_budget=time_budget, epoch_budget=epoch_budget,
                     executor=executor, trial_timeout=trial_timeout)


def optimize(
    objective: Callable[[dict[str, Any]], float],
    space: Space | Mapping[str, Parameter],
    *,
    scheduler: Scheduler | None = None,
    n_trials: int | None = None,
    mode: Literal["min", "max"] = "min",
    storage: str | Storage | None = None,
    seed: int | None = None,
    time_budget: float | None = None,
    study_name: str | None = None,
    name: str | None = None,
    verbose: bool = False,
    warm_start: Any = None,
    pruner: Any = None,
) -> Study:
    """Minimise (or maximise) ``objective(params) -> float`` over ``space``; no training involved.

    An objective that raises or returns NaN/inf makes a failed trial; the study goes on, except
    for a programming error while no trial has a value yet (see :func:`tune`). ``warm_start``:
    as for :func:`tune`. There are no epochs here, so no ``pruner``: use :func:`tune`, or
    ``Study(..., pruner=...)`` with ``ask`` / ``report`` / ``tell``.
    """
    if pruner is not None:
        raise ValueError(f"optimize: a pruner compares trials at their epochs, and optimize() calls the objective "
                         f"once per trial (no epochs, no reports); got pruner={pruner!r}. Use tune(..., pruner=...) "
                         f"or Study(..., pruner=...) with ask / trial.report / tell")
    if not callable(objective):
        raise TypeError(f"optimize: objective must be callable, got {objective!r}")
    if mode not in ("min", "max"):
        raise ValueError(f"optimize: mode must be 'min' or 'max', got mode={mode!r}")
    study_name = _name(name, study_name, "optimize")
    seed = check_seed(seed, "optimize")
    n_trials = check_count(n_trials, "n_trials", "optimize")
    time_budget = check_seconds(time_budget, "time_budget", "optimize")
    study = Study(space=space, scheduler=scheduler, metric="value", mode=mode, storage=storage,
                  name=study_name or getattr(objective, "__name__", "objective"), seed=seed, verbose=verbose,
                  warm_start=warm_start)
    return study.run(ObjectiveJob(objective, "value"), n_trials=n_trials, time_budget=time_budget)
