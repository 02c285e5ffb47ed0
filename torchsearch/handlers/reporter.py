"""Reporter: join a study from any Ignite loop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ignite.engine import Engine, Events

from ._base import as_float, resolve_engines
from ._stop import request_stop, stop_record

if TYPE_CHECKING:
    from ..trainer import Trainer

__all__ = ["Reporter"]


class Reporter:
    """Report each evaluation of an Ignite run to a study trial, and obey its decision.

    After every run of ``evaluator`` (``Events.COMPLETED``) the evaluator's metrics go to
    ``trial.report(metrics, step=trainer.state.epoch)``: they are stored, the scheduler sees
    the study metric, and when its decision is ``stop`` (a pruner, a study budget) the trainer
    is stopped with that decision's code and reason. When something else stops the trainer
    with a recorded reason (:class:`Patience`, :class:`Divergence`...), the reason is handed
    to the trial, so ``study.tell(trial)`` marks it ``stopped`` with it (``failed`` for a
    non-finite loss).

    Args:
        trial: the running trial, from ``study.ask()``.
        metric_names: which metrics to report (default: every scalar metric; tensors with
            more than one element, such as a confusion matrix, are left out).

    Example::

        trial = study.ask()
        ...  # build model, optimizer, trainer and evaluator from trial.params
        Reporter(trial).attach(trainer, evaluator)
        trainer.run(train_loader, max_epochs=30)
        study.tell(trial)
    """

    def __init__(self, trial: Any, *, metric_names: Sequence[str] | None = None) -> None:
        if not callable(getattr(trial, "report", None)) or not callable(getattr(trial, "stop", None)):
            raise TypeError(f"Reporter: trial must be a running trial from study.ask() (with report() and stop()), "
                            f"got {trial!r}")
        if metric_names is not None:
            if isinstance(metric_names, str) or not all(isinstance(m, str) and m for m in metric_names):
                raise ValueError(f"Reporter: metric_names must be a list of metric names or None, "
                                 f"got metric_names={metric_names!r}")
            metric_names = list(metric_names)
        self.trial = trial
        self.metric_names = metric_names
        self.trainer: Engine | None = None

    def _metrics(self, engine: Engine) -> dict[str, float]:
        metrics = engine.state.metrics
        if self.metric_names is not None:
            missing = [m for m in self.metric_names if m not in metrics]
            if missing:
                raise ValueError(f"Reporter: metrics {missing} are not in engine.state.metrics "
                                 f"(it has {sorted(metrics)})")
            return {m: as_float("Reporter", f"metric {m!r}", metrics[m]) for m in self.metric_names}
        out = {}
        for k, v in metrics.items():
            try:
                out[str(k)] = as_float("Reporter", f"metric {k!r}", v)
            except ValueError:
                continue  # not a scalar: not reportable
        return out

    def __call__(self, engine: Engine) -> None:
        trainer = self.trainer or engine
        decision = self.trial.report(self._metrics(engine), step=int(trainer.state.epoch))
        if decision.action == "stop":
            request_stop(trainer, decision.code or "scheduler", decision.reason or "stopped by the study")

    def _hand_over(self, engine: Engine) -> None:
        record = stop_record(engine)
        if record is not None:
            self.trial.stop(*record)

    def attach(self, trainer: Engine | Trainer, evaluator: Engine | None = None) -> Reporter:
        """Report after each run of ``evaluator`` (without one: the trainer's own metrics after
        each epoch). ``trainer`` may be a :class:`torchsearch.Trainer`."""
        trainer, evaluator = resolve_engines("Reporter", trainer, evaluator)
        self.trainer = trainer
        watched = evaluator if evaluator is not None else trainer
        watched.add_event_handler(Events.COMPLETED if evaluator is not None else Events.EPOCH_COMPLETED, self)
        trainer.add_event_handler(Events.TERMINATE, self._hand_over)
        return self
