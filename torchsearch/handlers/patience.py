"""Patience: stop when a validation metric has stopped improving."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from ignite.engine import Engine
from ignite.handlers import EarlyStopping

from ._base import UNATTACHED, StopHandler, as_float, check_float, check_int, check_metric, check_mode, read_metric

if TYPE_CHECKING:
    from ..trainer import Trainer

__all__ = ["Patience"]


class Patience(StopHandler, EarlyStopping):
    """Stop training when ``metric`` has not improved by more than ``min_delta`` for ``patience``
    evaluations in a row.

    An Ignite :class:`~ignite.handlers.EarlyStopping` (same ``patience``, ``counter``,
    ``best_score``, ``reset`` and ``state_dict``), with what it lacks: the stop is recorded with
    a reason (``trainer.state.stop_reason``, see :func:`request_stop`), a ``warmup``, a NaN
    score counts as "no improvement" (Ignite takes it for a new best), and a relative
    ``min_delta`` is measured against ``|best|`` (Ignite's ``best * (1 + delta)`` moves the bar
    the wrong way for negative scores).

    Args:
        patience: how many evaluations in a row without improvement stop training (>= 1).
        metric: the key of ``engine.state.metrics`` to watch (``"accuracy"``); or give
            ``score_function(engine) -> float`` instead, as in Ignite.
        mode: ``"max"`` (higher is better) or ``"min"``.
        min_delta: the improvement that counts, over the best so far (>= 0). With
            ``min_delta_mode="abs"`` a score must beat ``best + min_delta`` (mode max); with
            ``"rel"`` it must beat ``best + min_delta * |best|``.
        warmup: the first ``warmup`` evaluations never stop training (they are counted, and
            the stop comes at the first evaluation after the warmup if patience ran out).
        trainer: the engine to stop; usually given to :meth:`attach` instead.

    Example::

        Patience(5, metric="accuracy", mode="max", min_delta=1e-3).attach(trainer, evaluator)
        trainer.run(loader, max_epochs=100)
        print(trainer.state.stop_reason)
        # patience: no improvement > 0.001 in 5 evaluations (best accuracy 0.9555 at epoch 7)

    In ``tune(handlers=[Patience(5, metric="accuracy", mode="max")])`` it watches each trial's
    validation metrics and ends the trial as ``stopped`` with that reason.
    """

    code = "patience"

    def __init__(
        self,
        patience: int,
        *,
        metric: str | None = None,
        score_function: Callable[[Engine], float] | None = None,
        mode: Literal["min", "max"],
        min_delta: float = 0.0,
        min_delta_mode: Literal["abs", "rel"] = "abs",
        warmup: int = 0,
        trainer: Engine | None = None,
    ) -> None:
        who = "Patience"
        check_int(who, "patience", patience, low=1)
        if (metric is None) == (score_function is None):
            raise ValueError(f"{who}: give exactly one of metric= or score_function=, got metric={metric!r}, "
                             f"score_function={score_function!r}")
        if metric is not None:
            check_metric(who, metric)
        elif not callable(score_function):
            raise TypeError(f"{who}: score_function must be callable(engine) -> float, got {score_function!r}")
        check_mode(who, mode)
        min_delta = check_float(who, "min_delta", min_delta, low=0.0)
        if min_delta_mode not in ("abs", "rel"):
            raise ValueError(f"{who}: min_delta_mode must be 'abs' or 'rel', got min_delta_mode={min_delta_mode!r}")
        check_int(who, "warmup", warmup, low=0)
        if trainer is not None and not isinstance(trainer, Engine):
            raise TypeError(f"{who}: trainer must be an ignite Engine or None, got {trainer!r}")
        self.metric = metric
        self._score_function = score_function
        super().__init__(patience, score_function=self._score, trainer=trainer or UNATTACHED, threshold=min_delta,
                         cumulative=True, threshold_mode=min_delta_mode, mode=mode)
        self.trainer = trainer  # None until attach(): keeps the handler picklable for worker processes
        self.warmup = warmup
        self.n_evaluations = 0
        self.best_value: float | None = None
        self.best_epoch: int | None = None

    # -- Ignite protocol ----------------------------------------------------------------------
    def _score(self, engine: Engine) -> float:
        if self.metric is not None:
            return read_metric("Patience", engine, self.metric)
        return as_float("Patience", "score_function(engine)", self._score_function(engine))  # type: ignore[misc]

    def _improves(self, score: float, reference: float) -> bool:
        margin = self.threshold if self.threshold_mode == "abs" else self.threshold * abs(reference)
        return score > reference + margin if self.mode == "max" else score < reference - margin

    def __call__(self, engine: Engine) -> None:
        score = self.score_function(engine)
        epoch = self._epoch(engine)
        self.n_evaluations += 1
        finite = math.isfinite(score)
        if finite and (self.best_value is None
                       or (score > self.best_value if self.mode == "max" else score < self.best_value)):
            self.best_value, self.best_epoch = score, epoch
        if finite and (self.best_score is None or self._improves(score, self.best_score)):
            self.best_score = score
            self.counter = 0
        else:
            self.counter += 1
            self.logger.debug("Patience: %i / %i", self.counter, self.patience)
        if self.counter >= self.patience and self.n_evaluations > self.warmup:
            self._stop(engine, self.reason())

    def reason(self) -> str:
        """The sentence recorded when this handler stops training."""
        if self.threshold == 0:
            bar = "no improvement"
        elif self.threshold_mode == "abs":
            bar = f"no improvement > {self.threshold:g}"
        else:
            bar = f"no improvement > {self.threshold:g} x |best|"
        if self.best_value is None:
            best = "no finite score yet"
        else:
            name = f"{self.metric} " if self.metric else ""
            best = f"best {name}{self.best_value:.4g} at epoch {self.best_epoch}"
        n = self.counter
        return f"patience: {bar} in {n} evaluation{'s' if n != 1 else ''} ({best})"

    def attach(self, trainer: Engine | Trainer, evaluator: Engine | None = None,  # type: ignore[override]
               event: Any = None) -> Patience:
        """Watch ``evaluator`` after each run (``Events.COMPLETED``), or, without an evaluator,
        the trainer's own metrics after each epoch; stop ``trainer``.

        ``trainer`` may be a :class:`torchsearch.Trainer` (its evaluator is then used).
        ``event`` overrides the event listened to on the watched engine.
        """
        self._watch_metrics(trainer, evaluator, event)
        return self

    def reset(self) -> None:
        super().reset()
        self.n_evaluations = 0
        self.best_value = None
        self.best_epoch = None

    def state_dict(self) -> OrderedDict[str, Any]:
        state = super().state_dict()
        state.update(n_evaluations=self.n_evaluations, best_value=self.best_value, best_epoch=self.best_epoch)
        return state

    def load_state_dict(self, state_dict: Mapping) -> None:
        super().load_state_dict(state_dict)
        self.n_evaluations = int(state_dict.get("n_evaluations", 0))
        self.best_value = state_dict.get("best_value")
        self.best_epoch = state_dict.get("best_epoch")
