"""Target: stop when the metric is good enough."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from ignite.engine import Engine

from ._base import StopHandler, check_float, check_metric, check_mode, read_metric

if TYPE_CHECKING:
    from ..trainer import Trainer

__all__ = ["Target"]


class Target(StopHandler):
    """Stop training as soon as ``metric`` reaches ``value`` (``>=`` for mode max, ``<=`` for min).

    Example::

        Target("accuracy", 0.97, mode="max").attach(trainer, evaluator)
        # trainer.state.stop_reason: "target: accuracy 0.9722 >= 0.97 at epoch 6"

    Inside ``tune()`` the trial ends ``stopped`` (code ``"target"``), its best value counting.
    A NaN metric never reaches a target. Stateless.
    """

    code = "target"

    def __init__(self, metric: str, value: float, *, mode: Literal["min", "max"],
                 trainer: Engine | None = None) -> None:
        who = "Target"
        self.metric = check_metric(who, metric)
        self.value = check_float(who, "value", value)
        self.mode = check_mode(who, mode)
        if trainer is not None and not isinstance(trainer, Engine):
            raise TypeError(f"{who}: trainer must be an ignite Engine or None, got {trainer!r}")
        self.trainer = trainer

    def __call__(self, engine: Engine) -> None:
        score = read_metric("Target", engine, self.metric)
        reached = score >= self.value if self.mode == "max" else score <= self.value
        if reached:
            op = ">=" if self.mode == "max" else "<="
            self._stop(engine, f"target: {self.metric} {score:.4g} {op} {self.value:g} at epoch {self._epoch(engine)}")

    def attach(self, trainer: Engine | Trainer, evaluator: Engine | None = None, event: Any = None) -> Target:
        """Watch ``evaluator`` after each run (or the trainer's metrics after each epoch if no
        evaluator); stop ``trainer``. ``trainer`` may be a :class:`torchsearch.Trainer`."""
        self._watch_metrics(trainer, evaluator, event)
        return self

    def reset(self) -> None:
        pass
