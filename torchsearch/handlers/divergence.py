"""Divergence: stop at once on a NaN/inf loss, or when the loss blows up."""

from __future__ import annotations

import cmath
import math
import numbers
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from ignite.engine import Engine, Events

from ._base import StopHandler, as_float, check_float, check_int, check_metric, read_metric, resolve_engines

if TYPE_CHECKING:
    from ..trainer import Trainer

__all__ = ["Divergence"]


def _is_real_scalar(x: Any) -> bool:
    """One real number: a Python or numpy real, or a one-element real tensor."""
    if isinstance(x, torch.Tensor):
        return x.numel() == 1 and not x.is_complex()
    return isinstance(x, numbers.Real)


def _non_finite(x: Any) -> float | complex | None:
    """The first NaN or infinity in ``x``, or None if it has none.

    ``x`` is what Ignite's ``TerminateOnNan`` takes (a number, a tensor, or a list, tuple or
    dict of them, nested; strings are skipped), or a numpy array. A complex number is
    non-finite when its real or imaginary part is (``torch.isfinite``), and is returned as
    such. Anything else (None, an object...) raises ``TypeError``, as in Ignite.
    """
    if isinstance(x, np.ndarray):
        if x.dtype.kind in "fc":
            x = torch.from_numpy(x)
        elif x.dtype.kind == "O":
            x = x.ravel().tolist()
        else:  # integers, booleans, strings, dates: never NaN
            return None
    if isinstance(x, torch.Tensor):
        x = x.detach()
        bad = x[~torch.isfinite(x)]
        return bad.flatten()[0].item() if bad.numel() else None
    if isinstance(x, numbers.Complex) and not isinstance(x, numbers.Real):
        return None if cmath.isfinite(x) else complex(x)
    if isinstance(x, numbers.Number):
        return None if math.isfinite(x) else float(x)  # type: ignore[arg-type]
    if isinstance(x, (str, bytes)):
        return None
    if isinstance(x, Mapping):
        x = list(x.values())
    if isinstance(x, Sequence):
        for item in x:
            bad = _non_finite(item)
            if bad is not None:
                return bad
        return None
    raise TypeError(f"Divergence: the watched output (engine.state.output, after output_transform) must be a "
                    f"number, a tensor or array, or a list, tuple or dict of them (strings are skipped), as for "
                    f"Ignite's TerminateOnNan; found {x!r} of type {type(x).__name__}. Pick the loss with "
                    f"output_transform=")


class Divergence(StopHandler):
    """Stop training when a lower-is-better quantity (the loss) goes non-finite or blows up.

    By default it watches the trainer's output (the batch loss) after every iteration, so a
    learning rate that is far too high is caught within a few iterations rather than at the
    end of the epoch. With ``metric=`` it watches a metric instead (a validation loss on the
    evaluator, after each evaluation).

    - NaN or inf: stop at once (code ``"non_finite"``, from the first event, warmup or not).
    - ``factor``: after ``warmup`` events, stop when the value exceeds ``factor`` times the
      best (lowest) value seen so far (code ``"divergence"``). Only applies while the best is
      positive, as a loss is.
    - ``ceiling``: after ``warmup`` events, stop when the value exceeds ``ceiling``.

    Without ``factor`` and ``ceiling`` only non-finite values stop training, and the watched
    output may be anything Ignite's :class:`~ignite.handlers.TerminateOnNan` takes (a number,
    real or complex, a tensor of any shape and dtype, or a list, tuple or dict of them,
    nested): one NaN or infinity anywhere stops it (a complex value when its real or
    imaginary part is one), strings are skipped, and anything else (``None``, an object...)
    raises ``TypeError``, as in Ignite. ``Divergence()`` is a ``TerminateOnNan`` whose stop is
    recorded (code ``"non_finite"`` and a sentence) instead of logged as a warning, that also
    checks numpy arrays (on which Ignite raises ``TypeError``); its ``output_transform`` is
    keyword-only. Batch losses are
    noisy: late in training one lucky batch sets a low best that an ordinary batch then
    exceeds ten times over. ``smoothing`` compares an exponential moving average instead
    (``avg = smoothing * avg + (1 - smoothing) * value``); 0.9 (about the last ten batches)
    ignores single batches and still catches a real blow-up within a few iterations.

    Args:
        output_transform: turns ``engine.state.output`` into the watched number (default: the
            output itself, which is the loss for Ignite's ``create_supervised_trainer`` and for
            :class:`torchsearch.Trainer`).
        metric: watch ``engine.state.metrics[metric]`` instead of the output.
        factor: blow-up ratio over the best value (> 1), or None.
        ceiling: absolute upper limit, or None.
        warmup: events (iterations, or evaluations with ``metric``) before ``factor`` and
            ``ceiling`` apply (>= 0).
        smoothing: weight of the past in the moving average that ``factor`` and ``ceiling``
            compare, in [0, 1); 0 (the default) compares raw values.
        trainer: the engine to stop; usually given to :meth:`attach` instead.

    Example::

        Divergence(factor=10, smoothing=0.9).attach(trainer)
        trainer.run(loader, max_epochs=10)
        print(trainer.state.stop_code, trainer.state.stop_reason)
        # divergence  divergence: loss (smoothed) 535.1 > 10 x best 2.337 (epoch 1, iteration 4)

    Inside ``tune()`` a non-finite training loss already makes the trial ``failed`` (the
    Trainer checks every loss), and a stop with code ``"non_finite"`` fails the trial too;
    a blow-up caught by ``factor`` or ``ceiling`` ends it ``stopped``, its best value counting.
    """

    code = "divergence"

    def __init__(
        self,
        *,
        output_transform: Callable[[Any], Any] | None = None,
        metric: str | None = None,
        factor: float | None = None,
        ceiling: float | None = None,
        warmup: int = 0,
        smoothing: float = 0.0,
        trainer: Engine | None = None,
    ) -> None:
        who = "Divergence"
        if metric is not None and output_transform is not None:
            raise ValueError(f"{who}: give metric= or output_transform=, not both; got metric={metric!r} and "
                             f"output_transform={output_transform!r}")
        if metric is not None:
            check_metric(who, metric)
        if output_transform is not None and not callable(output_transform):
            raise TypeError(f"{who}: output_transform must be callable(output) -> float, got {output_transform!r}")
        if factor is not None:
            factor = check_float(who, "factor", factor, low=1.0, low_open=True)
        if ceiling is not None:
            ceiling = check_float(who, "ceiling", ceiling)
        check_int(who, "warmup", warmup, low=0)
        smoothing = check_float(who, "smoothing", smoothing, low=0.0)
        if smoothing >= 1.0:
            raise ValueError(f"{who}: smoothing must be in [0, 1), got smoothing={smoothing!r}")
        if trainer is not None and not isinstance(trainer, Engine):
            raise TypeError(f"{who}: trainer must be an ignite Engine or None, got {trainer!r}")
        self.output_transform = output_transform
        self.metric = metric
        self.factor = factor
        self.ceiling = ceiling
        self.warmup = warmup
        self.smoothing = smoothing
        self.trainer = trainer
        # on the output, the handler runs on the trainer itself; on a metric, maybe on an evaluator
        self.reads_evaluator = metric is not None
        self.best: float | None = None
        self.average: float | None = None  # the moving average (the raw value when smoothing=0)
        self.n_events = 0

    @property
    def _name(self) -> str:
        return (self.metric or "loss") + (" (smoothed)" if self.smoothing else "")

    def _value(self, engine: Engine) -> float | complex | None:
        """The watched number; or, for an output that is not one real number (which only the
        non-finite check may watch), its first NaN or infinity, or None if it has none."""
        if self.metric is not None:
            return read_metric("Divergence", engine, self.metric)
        out = engine.state.output
        if self.output_transform is not None:
            out = self.output_transform(out)
        if _is_real_scalar(out) or self.factor is not None or self.ceiling is not None:
            return as_float("Divergence", "the watched output (factor= and ceiling= need one number; pick it "
                            "with output_transform=)", out)
        return _non_finite(out)

    def _where(self, engine: Engine) -> str:
        state = self._trainer_for(engine).state
        if self.metric is not None:
            return f"epoch {state.epoch}"
        return f"epoch {state.epoch}, iteration {state.iteration}"

    def __call__(self, engine: Engine) -> None:
        value = self._value(engine)
        self.n_events += 1
        if value is None:  # an output of several values (or a complex one), all finite
            return
        if not cmath.isfinite(value):  # (a complex value is here only when it is not finite)
            name = self.metric or "loss"
            self._stop(engine, f"divergence: {name} is {value} ({self._where(engine)})", code="non_finite")
            return
        if self.average is not None and self.smoothing:
            value = self.smoothing * self.average + (1.0 - self.smoothing) * value
        self.average = value
        best = self.best
        if best is None or value < best:
            self.best = value
        if self.n_events <= self.warmup:
            return
        if self.ceiling is not None and value > self.ceiling:
            self._stop(engine, f"divergence: {self._name} {value:.4g} > ceiling {self.ceiling:g} "
                               f"({self._where(engine)})")
        elif self.factor is not None and best is not None and best > 0 and value > self.factor * best:
            self._stop(engine, f"divergence: {self._name} {value:.4g} > {self.factor:g} x best {best:.4g} "
                               f"({self._where(engine)})")

    def attach(self, trainer: Engine | Trainer, evaluator: Engine | None = None, event: Any = None) -> Divergence:
        """Watch the trainer's output after each iteration; with ``metric=``, watch
        ``evaluator`` after each run (or the trainer after each epoch if no evaluator).

        ``trainer`` may be a :class:`torchsearch.Trainer`. ``event`` overrides the event.
        """
        trainer, evaluator = resolve_engines("Divergence", trainer, evaluator)
        self._bind(trainer)
        if self.metric is None:
            watched, default = trainer, Events.ITERATION_COMPLETED
        elif evaluator is not None:
            watched, default = evaluator, Events.COMPLETED
        else:
            watched, default = trainer, Events.EPOCH_COMPLETED
        watched.add_event_handler(event or default, self)
        return self

    def reset(self) -> None:
        self.best = None
        self.average = None
        self.n_events = 0

    def state_dict(self) -> OrderedDict[str, Any]:
        return OrderedDict(best=self.best, average=self.average, n_events=self.n_events)

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        if not isinstance(state_dict, Mapping) or "n_events" not in state_dict:
            raise ValueError(f"Divergence.load_state_dict: expected a mapping with 'best' and 'n_events', "
                             f"got {state_dict!r}")
        self.best = state_dict.get("best")
        self.average = state_dict.get("average")
        self.n_events = int(state_dict["n_events"])
