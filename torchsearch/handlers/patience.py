"""Patience: stop when a validation metric has stopped improving."""

from __future__ import annotations

import inspect
import math
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from ignite.engine import Engine, Events
from ignite.handlers import EarlyStopping

from ._base import UNATTACHED, StopHandler, as_float, check_float, check_int, check_metric, check_mode, read_metric

if TYPE_CHECKING:
    from ..trainer import Trainer

__all__ = ["Patience"]

_P = inspect.Parameter
#: attach(engine, event, reset_engine, reset_event): Ignite's form (the trainer comes from __init__)
_IGNITE_ATTACH = inspect.Signature([
    _P("engine", _P.POSITIONAL_OR_KEYWORD), _P("event", _P.POSITIONAL_OR_KEYWORD, default=Events.COMPLETED),
    _P("reset_engine", _P.POSITIONAL_OR_KEYWORD, default=None),
    _P("reset_event", _P.POSITIONAL_OR_KEYWORD, default=Events.STARTED)])
#: attach(trainer, evaluator, event): torchsearch's form
_OUR_ATTACH = inspect.Signature([
    _P("trainer", _P.POSITIONAL_OR_KEYWORD), _P("evaluator", _P.POSITIONAL_OR_KEYWORD, default=None),
    _P("event", _P.POSITIONAL_OR_KEYWORD, default=None)])


def _one_of(who: str, ours: str, ignites: str, a: Any, b: Any) -> Any:
    if a is not None and b is not None:
        raise ValueError(f"{who}: {ours}= and {ignites}= name the same setting; give one, got {ours}={a!r} and "
                         f"{ignites}={b!r}")
    return a if a is not None else b


class Patience(StopHandler, EarlyStopping):
    """Stop training when a score has not improved for ``patience`` evaluations in a row.

    Ignite's :class:`~ignite.handlers.EarlyStopping` (it is one): the same positional form
    ``Patience(patience, score_function, trainer)``, the same names (``threshold``,
    ``cumulative``, ``threshold_mode``, ``mode``), defaults, ``counter``, ``best_score``,
    ``reset``, ``attach(engine, event, reset_engine, reset_event)`` and ``state_dict``. It adds
    a stop recorded with a reason (``trainer.state.stop_reason``, see :func:`request_stop`),
    ``metric=`` instead of a score function, a ``warmup``, and an ``attach(trainer, evaluator)``
    that also takes a :class:`torchsearch.Trainer`. Where it differs from Ignite, on purpose:

    - a NaN or infinite score counts as no improvement (Ignite takes NaN for a new best, and
      then never stops);
    - a relative threshold is measured against ``|best|``: mode max needs
      ``score > best + threshold * |best|`` (Ignite's ``best * (1 + threshold)`` is the same
      for a positive best and moves the bar the wrong way for a negative one);
    - ``min_delta`` and ``min_delta_mode`` are this class's own names for ``threshold`` and
      ``threshold_mode`` (no deprecation warning), and given as ``min_delta`` the delta is
      ``cumulative`` unless told otherwise; giving both names of one setting is an error
      (Ignite lets the deprecated name win);
    - ``mode`` has no default with ``metric=`` (is a higher ``"loss"`` better?);
    - ``trainer`` may be left out and given to :meth:`attach`; a run without one raises, and so
      does ``attach(evaluator)`` alone, at the evaluator's second run (see :meth:`attach`);
    - ``attach(evaluator)`` Ignite's way resets the count when the constructor's trainer starts
      a run, not each time the evaluator does (which Ignite's default ``reset_engine=engine``
      does, so that it never stops);
    - a run started after :meth:`load_state_dict` carries on from the loaded state instead of
      resetting it (how a checkpointed run resumes);
    - arguments are checked more strictly (``patience`` an int, ``threshold`` finite,
      ``cumulative`` a bool, a score a number or a one-element tensor), and errors name the
      parameter, the value given and what is allowed (Ignite's exception types, not its
      messages).

    Added: the stop reason, ``warmup``, ``best_value``, ``best_epoch`` and ``n_evaluations``
    (also in :meth:`state_dict`), and :meth:`attach` returns the handler. Pytorch-ignite's own
    ``test_early_stopping.py`` runs against this class (``tests/ignite_compat/run.py``).

    Args:
        patience: how many evaluations in a row without improvement stop training (>= 1).
        score_function: ``score_function(engine) -> float``, as in Ignite; or give ``metric``.
        trainer: the engine to stop; or give it to :meth:`attach`.
        threshold: the improvement that counts, over the best so far (>= 0, default 0). With
            ``threshold_mode="abs"`` a score must beat ``best + threshold`` (mode max); with
            ``"rel"``, ``best + threshold * |best|``.
        cumulative: whether the bar stays at the last improvement (small steps that add up to
            ``threshold`` count) or follows the best score seen (a step must exceed
            ``threshold`` by itself). Default False, as in Ignite; True when the delta is given
            as ``min_delta``.
        threshold_mode: ``"abs"`` (default) or ``"rel"``.
        mode: ``"max"`` (higher is better; the default with ``score_function``) or ``"min"``.
        min_delta, min_delta_mode: ``threshold`` and ``threshold_mode`` by torchsearch's names.
        cumulative_delta: Ignite's old name of ``cumulative`` (a DeprecationWarning, as in Ignite).
        metric: the key of ``engine.state.metrics`` to watch (``"accuracy"``), instead of
            ``score_function``; then ``mode`` is required.
        warmup: the first ``warmup`` evaluations never stop training (they are counted, and
            the stop comes at the first evaluation after the warmup if patience ran out).

    Example::

        Patience(5, metric="accuracy", mode="max", min_delta=1e-3).attach(trainer, evaluator)
        trainer.run(loader, max_epochs=100)
        print(trainer.state.stop_reason)
        # patience: no improvement > 0.001 in 5 evaluations (best accuracy 0.9555 at epoch 7)

        # or exactly as Ignite's EarlyStopping:
        Patience(5, lambda e: e.state.metrics["accuracy"], trainer).attach(evaluator)

    In ``tune(handlers=[Patience(5, metric="accuracy", mode="max")])`` it watches each trial's
    validation metrics and ends the trial as ``stopped`` with that reason.
    """

    code = "patience"

    def __init__(
        self,
        patience: int,
        score_function: Callable[[Engine], float] | None = None,
        trainer: Engine | None = None,
        threshold: float | None = None,
        cumulative: bool | None = None,
        threshold_mode: Literal["abs", "rel"] | None = None,
        mode: Literal["min", "max"] | None = None,
        min_delta: float | None = None,
        min_delta_mode: Literal["abs", "rel"] | None = None,
        cumulative_delta: bool | None = None,
        *,
        metric: str | None = None,
        warmup: int = 0,
    ) -> None:
        who = "Patience"
        check_int(who, "patience", patience, low=1)
        if (metric is None) == (score_function is None):
            raise ValueError(f"{who}: give exactly one of metric= or score_function=, got metric={metric!r}, "
                             f"score_function={score_function!r}")
        if metric is not None:
            check_metric(who, metric)
            if mode is None:
                raise TypeError(f"{who}: mode= is required with metric={metric!r}: 'max' if a higher {metric!r} "
                                "is better, 'min' if lower")
        elif not callable(score_function):
            hint = f"; to watch engine.state.metrics[{score_function!r}] give metric={score_function!r}" \
                if isinstance(score_function, str) else ""
            raise TypeError(f"{who}: score_function must be callable(engine) -> float, got {score_function!r}{hint}")
        mode = check_mode(who, "max" if mode is None else mode)
        if cumulative_delta is not None:
            warnings.warn(f"{who}: cumulative_delta= is Ignite's old name of cumulative=; use cumulative=",
                          DeprecationWarning, stacklevel=2)
        cumulative = _one_of(who, "cumulative", "cumulative_delta", cumulative, cumulative_delta)
        if cumulative is not None and not isinstance(cumulative, bool):
            raise TypeError(f"{who}: cumulative must be True or False, got cumulative={cumulative!r}")
        if cumulative is None:
            cumulative = min_delta is not None  # torchsearch's name keeps torchsearch's cumulative bar
        delta = _one_of(who, "threshold", "min_delta", threshold, min_delta)
        name = "min_delta" if min_delta is not None else "threshold"
        delta = check_float(who, name, 0.0 if delta is None else delta, low=0.0)
        delta_mode = _one_of(who, "threshold_mode", "min_delta_mode", threshold_mode, min_delta_mode)
        if delta_mode is None:
            delta_mode = "abs"
        elif delta_mode not in ("abs", "rel"):
            name = "min_delta_mode" if min_delta_mode is not None else "threshold_mode"
            raise ValueError(f"{who}: {name} must be 'abs' or 'rel', got {name}={delta_mode!r}")
        check_int(who, "warmup", warmup, low=0)
        if trainer is not None and not isinstance(trainer, Engine):
            raise TypeError(f"{who}: trainer must be an ignite Engine or None, got {trainer!r}")
        self.metric = metric
        self._score_function = score_function
        super().__init__(patience, score_function=self._score, trainer=trainer or UNATTACHED, threshold=delta,
                         cumulative=cumulative, threshold_mode=delta_mode, mode=mode)
        self.trainer = trainer  # None until attach(): keeps the handler picklable for worker processes
        self._given_trainer = trainer  # never replaced behind the user's back
        self.warmup = warmup
        self.n_evaluations = 0
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self._loaded = False  # a state given to load_state_dict that the next run resumes
        self._lone = False  # attached to one engine alone: it watches, resets and stops that engine
        self._one_epoch_run = False  # that engine's last run was evaluated, and was of one epoch

    # -- torchsearch's names for Ignite's threshold and threshold_mode (not deprecated here) ----
    @property
    def min_delta(self) -> float:  # type: ignore[override]
        return self.threshold

    @min_delta.setter
    def min_delta(self, value: float) -> None:
        self.threshold = check_float("Patience", "min_delta", value, low=0.0)

    @property
    def min_delta_mode(self) -> str:  # type: ignore[override]
        return self.threshold_mode

    @min_delta_mode.setter
    def min_delta_mode(self, value: str) -> None:
        if value not in ("abs", "rel"):
            raise ValueError(f"Patience: min_delta_mode must be 'abs' or 'rel', got min_delta_mode={value!r}")
        self.threshold_mode = value

    # -- Ignite protocol ----------------------------------------------------------------------
    def _score(self, engine: Engine) -> float:
        if self.metric is not None:
            return read_metric("Patience", engine, self.metric)
        return as_float("Patience", "score_function(engine)", self._score_function(engine))  # type: ignore[misc]

    def _improves(self, score: float, reference: float) -> bool:
        margin = self.threshold if self.threshold_mode == "abs" else self.threshold * abs(reference)
        return score > reference + margin if self.mode == "max" else score < reference - margin

    def _better(self, score: float, than: float | None) -> bool:
        return than is None or (score > than if self.mode == "max" else score < than)

    def __call__(self, engine: Engine) -> None:
        score = self.score_function(engine)
        epoch = self._epoch(engine)
        self.n_evaluations += 1
        finite = math.isfinite(score)
        if finite and self._better(score, self.best_value):
            self.best_value, self.best_epoch = score, epoch
        if finite and (self.best_score is None or self._improves(score, self.best_score)):
            self.best_score = score
            self.counter = 0
        else:
            if finite and not self.cumulative and self._better(score, self.best_score):
                self.best_score = score  # the bar follows the best score, improvement or not
            self.counter += 1
            self.logger.debug("Patience: %i / %i", self.counter, self.patience)
        self._one_epoch_run = self._lone and engine.state.max_epochs == 1
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

    def attach(self, *args: Any, **kwargs: Any) -> Patience:  # type: ignore[override]
        """Attach, in either of two forms; return the handler.

        ``attach(trainer, evaluator=None, event=None)`` (torchsearch's): watch ``evaluator``
        after each of its runs (``Events.COMPLETED``), or, without one, the trainer's own
        metrics after each epoch (``event`` overrides that); stop ``trainer``, and reset the
        count when it starts a run. ``trainer`` may be a :class:`torchsearch.Trainer` (whose
        evaluator is then used). Given one engine alone, it takes it for the trainer: an
        evaluator given so (the Ignite habit, without ``trainer=`` in the constructor) would
        count afresh at each of its runs and never stop training, so when that engine starts a
        second one-epoch run from scratch, as an evaluator does, it raises ``RuntimeError``
        naming ``attach(trainer, evaluator)``.

        ``attach(engine, event=Events.COMPLETED, reset_engine=None, reset_event=Events.STARTED)``
        (Ignite's): run on ``engine`` at ``event``, reset at ``reset_event`` of ``reset_engine``
        (default: the trainer given to the constructor), stop the constructor's trainer. This
        form is meant when the handler was built with a trainer and ``attach`` gets one engine,
        an event second, or any of ``engine=``, ``reset_engine=``, ``reset_event=``.

        The trainer given to the constructor is never replaced: attaching it to another trainer
        raises ``ValueError``. Without one, attaching to a new trainer starts from a clean
        state (one handler can serve every trial of a study); to resume there, call
        :meth:`load_state_dict` after ``attach`` (a handler never attached may take it before).
        """
        if self._ignite_form(args, kwargs):
            self._attach_ignite(**_bind_args(_IGNITE_ATTACH, args, kwargs))
        else:
            self._attach_ours(**_bind_args(_OUR_ATTACH, args, kwargs))
        return self

    def _ignite_form(self, args: tuple, kwargs: dict) -> bool:
        if kwargs.keys() & {"engine", "reset_engine", "reset_event"}:
            if kwargs.keys() & {"trainer", "evaluator"}:
                raise TypeError(f"Patience.attach: give Ignite's (engine, event, reset_engine, reset_event) or "
                                f"torchsearch's (trainer, evaluator, event), not a mix; got {sorted(kwargs)}")
            return True
        if kwargs.keys() & {"trainer", "evaluator"}:
            return False
        if len(args) >= 2 and args[1] is not None and not isinstance(args[1], Engine):
            return True  # attach(engine, event, ...)
        return len(args) == 1 and isinstance(args[0], Engine) and self._given_trainer is not None

    def _attach_ignite(self, engine: Any, event: Any, reset_engine: Any, reset_event: Any) -> None:
        trainer = self._given_trainer
        if trainer is None:
            raise ValueError("Patience.attach(engine, event, reset_engine, reset_event) is Ignite's form: it stops "
                             "the trainer given to Patience(..., trainer=...), and this Patience has none; give "
                             "one, or use attach(trainer, evaluator)")
        for name, value in (("engine", engine), ("reset_engine", reset_engine)):
            if value is not None and not isinstance(value, Engine):
                raise TypeError(f"Patience.attach: {name} must be an ignite Engine, got {name}={value!r}")
        if engine is None:
            raise TypeError("Patience.attach: engine must be an ignite Engine, got engine=None")
        self._bind(trainer)
        self._lone = False
        engine.add_event_handler(event, self)
        self._reset_on(reset_engine or trainer, reset_event)

    def _attach_ours(self, trainer: Any, evaluator: Any, event: Any) -> None:
        if self._given_trainer is not None:
            engine = trainer if isinstance(trainer, Engine) else getattr(trainer, "train_engine", None)
            if engine is not self._given_trainer:
                raise ValueError(f"Patience.attach: this Patience stops the trainer given to its constructor "
                                 f"({self._given_trainer!r}) and is never moved to another; got trainer={trainer!r}. "
                                 "To watch an evaluator, use attach(evaluator) or attach(trainer, evaluator)")
        watched = self._watch_metrics(trainer, evaluator, event)
        self._lone, self._one_epoch_run = watched is self.trainer, False
        self._reset_on(self.trainer, Events.STARTED)

    def _reset_on(self, engine: Engine, event: Any) -> None:
        if not engine.has_event_handler(self.reset, event):
            engine.add_event_handler(event, self.reset)

    def reset(self, engine: Engine | None = None) -> None:
        """Forget the count, the best score and the warmup count (Ignite's ``reset``).

        :meth:`attach` registers it where the trainer starts a run (``Events.STARTED``), so a
        run started again counts afresh, as in Ignite. There (called with the engine) it keeps
        a state given to :meth:`load_state_dict` since the last run: the run resumes it.
        """
        if engine is not None and self._one_epoch_run and engine.state.epoch == 0:
            self._one_epoch_run = False
            raise RuntimeError(
                "Patience: attached to one engine alone (attach(engine), no evaluator, no trainer= given to "
                "Patience), it watches and stops that engine and counts afresh at each of its runs; this engine "
                f"({engine!r}) now starts a second run of one epoch from scratch, as an evaluator does, so the "
                "count could never reach patience and training would never be stopped. Give the trainer: "
                "attach(trainer, evaluator), or Patience(..., trainer=trainer).attach(evaluator)")
        if engine is not None and self._loaded:
            self._loaded = False
            return
        self._loaded = False
        super().reset()
        self.n_evaluations = 0
        self.best_value = None
        self.best_epoch = None

    def state_dict(self) -> OrderedDict[str, Any]:
        state = super().state_dict()
        state.update(n_evaluations=self.n_evaluations, best_value=self.best_value, best_epoch=self.best_epoch)
        return state

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Take ``state_dict`` (from :meth:`state_dict`); the next run resumes it rather than
        resetting."""
        super().load_state_dict(state_dict)
        self.n_evaluations = int(state_dict.get("n_evaluations", 0))
        self.best_value = state_dict.get("best_value")
        self.best_epoch = state_dict.get("best_epoch")
        self._loaded = True


def _bind_args(signature: inspect.Signature, args: tuple, kwargs: dict) -> dict[str, Any]:
    form = f"Patience.attach{signature}"
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{form}: {e}") from None
    bound.apply_defaults()
    return dict(bound.arguments)
