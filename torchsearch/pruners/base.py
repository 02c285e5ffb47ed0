"""The pruner protocol: what Median, ASHA and Hyperband implement.

A pruner compares a running trial with its peers and decides, at each report, whether it goes
on. Like a scheduler it is plain Python with no I/O and no clock: it sees trial numbers, steps
(epochs) and values, and returns :class:`~torchsearch.schedulers.base.Decision` objects. The
study (the coordinator) calls it:

- ``setup(mode=..., max_epochs=..., metric=...)`` once, before anything else;
- ``on_trial_start(number, params)`` for every trial the study holds (replayed ones too);
- ``on_restore(number, values, state)`` when a resumed study replays a stored trial: its reports
  (``step -> value``) and its state (``"paused"`` for one that waits for promotion with a
  durable copy; a finished state otherwise). The pruner rebuilds its rungs from them;
- ``on_report(number, step, value, can_pause=...)`` after each evaluation, after the
  scheduler's decision: ``continue``, ``stop`` (code ``"pruned"``, with a sentence a person can
  check), or ``pause`` (code ``"rung"``: the trial reached a rung and waits, its state kept,
  until it is promoted; ``checkpoint=True``). ``can_pause=False`` (a trial from ``Study.ask``,
  which nothing can resume): decide ``continue`` or ``stop`` only;
- ``quiet_reports(number)``: how many of the next reports it will surely answer ``continue``;
- ``next_promotion(last=...)``: which paused trial should take a free slot now (None: none
  qualifies). A query: it changes nothing. ``last=True`` says no new trial will start (the study
  reached ``n_trials`` or the scheduler has nothing more): each rung may then promote its best;
- ``on_resume(number)`` when the coordinator resumes that paused trial (a promotion);
- ``unpromoted(number)``: the stop decision of a trial still paused when the study ends;
- ``on_complete(number, value, state)`` when a trial ends.

Values are passed as reported; ``self.mode`` says whether lower or higher is better.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from ..schedulers.base import CONTINUE, QUIET_ALWAYS, Decision

__all__ = ["Pruner", "PRUNED", "RUNG"]

PRUNED = "pruned"  # stop code of a pruned trial
RUNG = "rung"      # code of a pause at a rung (waiting for promotion)


def check_int(owner: str, name: str, value: Any, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{owner}: {name} must be an int >= {low}, got {name}={value!r}")
    return value


def fmt(v: float) -> str:
    return f"{v:.4g}"


def quiet_until(last: int | None, stride: int | None, target: float) -> int:
    """How many future reports surely come before step ``target``, when reports arrive every
    ``stride`` steps after step ``last`` (unknown stride or last step: none)."""
    if last is None or stride is None or stride < 1 or target == math.inf:
        return 0 if target != math.inf else QUIET_ALWAYS
    return max(0, math.ceil((target - last) / stride) - 1)


class Pruner:
    """Base class: holds the mode, the metric's name and ``max_epochs``; prunes nothing."""

    mode: Literal["min", "max"]
    metric: str
    max_epochs: int | None

    def __init__(self, *, max_epochs: int | None = None) -> None:
        if max_epochs is not None:
            check_int(type(self).__name__, "max_epochs", max_epochs, 1)
        self._max_epochs_arg = max_epochs
        self.max_epochs = max_epochs

    @property
    def needs_max_epochs(self) -> bool:
        """Whether :meth:`setup` must know the epochs a full trial trains (rungs do)."""
        return False

    def setup(self, *, mode: Literal["min", "max"], max_epochs: int | None = None, metric: str = "value") -> None:
        """Bind to a study. The pruner's own ``max_epochs`` wins over the study's (``tune(epochs=)``)."""
        if mode not in ("min", "max"):
            raise ValueError(f"{type(self).__name__}: mode must be 'min' or 'max', got mode={mode!r}")
        self.mode, self.metric = mode, metric
        self.max_epochs = self._max_epochs_arg if self._max_epochs_arg is not None else max_epochs
        if self.max_epochs is not None:
            check_int(type(self).__name__, "max_epochs", self.max_epochs, 1)
        if self.max_epochs is None and self.needs_max_epochs:
            name = type(self).__name__
            raise ValueError(f"{name} needs max_epochs (the epochs of a full trial): give {name}(max_epochs=...) "
                             "or tune(epochs=...) / Study(epochs=...); got max_epochs=None")

    def loss(self, value: float | None) -> float:
        """``value`` as "lower is better"; NaN when missing."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return math.nan
        return float(value) if self.mode == "min" else -float(value)

    def shown(self, loss: float) -> str:
        """A "lower is better" value as reported."""
        return fmt(loss if self.mode == "min" else -loss)

    # -- protocol (defaults: a pruner that never prunes) ----------------------------------
    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        pass

    def on_report(self, number: int, step: int, value: float, *, can_pause: bool = True) -> Decision:
        return CONTINUE

    def quiet_reports(self, number: int) -> int:
        return QUIET_ALWAYS if type(self).on_report is Pruner.on_report else 0

    def next_promotion(self, *, last: bool = False) -> int | None:
        return None

    def on_resume(self, number: int) -> None:
        pass

    def unpromoted(self, number: int) -> Decision:
        return Decision.stop(PRUNED, f"{type(self).__name__}: paused at a rung when the study ended, never promoted")

    def on_restore(self, number: int, values: dict[int, float], state: str) -> None:
        pass

    def on_complete(self, number: int, value: float | None, state: str) -> None:
        pass

    def paused(self) -> list[int]:
        """Trials paused at a rung, waiting for promotion."""
        return []

    def rungs(self, number: int | None = None) -> list[int]:
        """The steps where trial ``number`` (or any trial) is compared with its peers."""
        return []

    def describe(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:  # (what a user sees printing it: its arguments, not an address)
        return self.describe()

    def arguments(self) -> dict[str, Any]:
        """The constructor's arguments that rebuild this pruner (``max_epochs`` as set up)."""
        return {"max_epochs": self.max_epochs}

    def config(self) -> dict[str, Any]:
        """What the study stores (``studies.pruner``): ``{"kind", "args", "rungs"}``; a reopened
        study rebuilds the pruner from it (:func:`torchsearch.pruners._hook.from_config`)."""
        return {"kind": type(self).__name__, "args": self.arguments(), "rungs": self.rungs()}
