"""What the stopping handlers share: finding the engines, reading a metric, checking arguments."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import torch
from ignite.engine import Engine, Events

from ._stop import request_stop, watch

__all__ = ["StopHandler"]


def _no_step(engine: Engine, batch: Any) -> None:
    return None


#: Stands for "no trainer yet" where Ignite insists on an Engine (``EarlyStopping.__init__``).
UNATTACHED = Engine(_no_step)


def check_int(who: str, name: str, value: Any, *, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{who}: {name} must be an int >= {low}, got {name}={value!r}")
    return value


def check_float(who: str, name: str, value: Any, *, low: float | None = None, low_open: bool = False) -> float:
    """A finite real number, optionally ``>= low`` (``> low`` with ``low_open``)."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if not ok:
        rule = "a finite number" if low is None else f"a finite number {'>' if low_open else '>='} {low:g}"
        raise ValueError(f"{who}: {name} must be {rule}, got {name}={value!r}")
    return float(value)


def check_mode(who: str, mode: Any) -> str:
    if mode not in ("min", "max"):
        raise ValueError(f"{who}: mode must be 'min' or 'max', got mode={mode!r}")
    return mode


def check_metric(who: str, metric: Any) -> str:
    if not isinstance(metric, str) or not metric:
        raise ValueError(f"{who}: metric must be a non-empty string (a key of engine.state.metrics), "
                         f"got metric={metric!r}")
    return metric


def as_float(who: str, what: str, value: Any) -> float:
    """A real number or a one-element real tensor as a float (NaN and inf pass through)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.is_complex():
            raise ValueError(f"{who}: {what} must be a real number or a one-element real tensor, "
                             f"got a {value.dtype} tensor of shape {tuple(value.shape)}")
        return float(value.detach().item())
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: {what} must be a real number, got {value!r}") from None


def read_metric(who: str, engine: Engine, metric: str) -> float:
    metrics = engine.state.metrics
    if metric not in metrics:
        raise ValueError(f"{who}: metric {metric!r} is not in engine.state.metrics (it has {sorted(metrics)}); "
                         "attach the handler to the engine that computes it")
    return as_float(who, f"metric {metric!r}", metrics[metric])


def resolve_engines(who: str, trainer: Any, evaluator: Any) -> tuple[Engine, Engine | None]:
    """``(train engine, evaluator or None)`` from Ignite engines or a :class:`torchsearch.Trainer`."""
    if not isinstance(trainer, Engine):
        train_engine = getattr(trainer, "train_engine", None)
        if not isinstance(train_engine, Engine):
            raise TypeError(f"{who}.attach: trainer must be an ignite Engine or a torchsearch Trainer, "
                            f"got {trainer!r}")
        if evaluator is None:
            evaluator = getattr(trainer, "eval_engine", None)
        trainer = train_engine
    if evaluator is not None and not isinstance(evaluator, Engine):
        raise TypeError(f"{who}.attach: evaluator must be an ignite Engine or None, got {evaluator!r}")
    return trainer, evaluator


class StopHandler:
    """Base of the stopping handlers: which trainer they stop, and how.

    ``attach(trainer, evaluator=None)`` accepts Ignite engines or a :class:`torchsearch.Trainer`
    (whose two engines are used), so the same object works in a plain Ignite script and in
    ``tune(handlers=[...])``. Attaching to a different trainer than before starts from a clean
    state (one handler list can serve every trial of a study); to resume, call
    ``load_state_dict`` after ``attach`` (or before the first ``attach`` of a new handler).
    """

    code: str = "stopped"
    # every handler defines reset(): clear the state it accumulated over a run

    def _bind(self, trainer: Engine) -> None:
        if getattr(self, "_bound", None) is not None and self._bound is not trainer:
            self.reset()
        self._bound = trainer
        self.trainer = trainer
        watch(trainer)

    def _watch_metrics(self, trainer: Any, evaluator: Any, event: Any) -> Engine:
        """Run on ``evaluator`` after each of its runs (``Events.COMPLETED``) or, without one, on
        the trainer after each epoch; ``event`` overrides that. Stops ``trainer``. Returns the
        engine watched."""
        trainer, evaluator = resolve_engines(type(self).__name__, trainer, evaluator)
        self._bind(trainer)
        watched = evaluator if evaluator is not None else trainer
        default = Events.COMPLETED if evaluator is not None else Events.EPOCH_COMPLETED
        watched.add_event_handler(event or default, self)
        return watched

    #: whether ``__call__`` may run on an evaluator (then it needs to know the trainer to stop)
    reads_evaluator: bool = True

    def _trainer_for(self, engine: Engine) -> Engine:
        """The engine to stop: the trainer given to ``attach`` or ``__init__``; without one, the
        engine the handler runs on, when that is a trainer's (``reads_evaluator`` False)."""
        trainer = getattr(self, "trainer", None)
        if isinstance(trainer, Engine) and trainer is not UNATTACHED:
            return trainer
        if self.reads_evaluator:
            name = type(self).__name__
            raise RuntimeError(f"{name}: no trainer to stop; use {name}(...).attach(trainer, evaluator) "
                               f"or pass trainer= to {name}(...)")
        return engine

    def _epoch(self, engine: Engine) -> int:
        return int(self._trainer_for(engine).state.epoch)

    def _stop(self, engine: Engine, reason: str, code: str | None = None) -> None:
        request_stop(self._trainer_for(engine), code or self.code, reason)
