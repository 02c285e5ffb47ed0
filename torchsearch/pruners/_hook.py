"""What the coordinator does with a pruner, in one place (``Coordinator.pruning``).

The coordinator calls :class:`PrunerHook` at five points: a trial starts (:meth:`started`); a
report's decision, after the scheduler's (:meth:`decide`); a slot is free (:meth:`promote`,
before a new trial is asked for); a trial ends (:meth:`ended`); the study ends with trials
still paused at a rung (:meth:`unpromoted`). On opening a stored study, :meth:`recover`
rebuilds the pruner's rungs from the stored reports.
"""

from __future__ import annotations

import json
from typing import Any

from ..schedulers.base import Decision
from .base import Pruner

__all__ = ["PrunerHook", "check_pruner", "from_config", "stored_pruner"]


def _kinds() -> dict[str, type]:
    from .asha import ASHA
    from .hyperband import Hyperband
    from .median import Median

    return {"Median": Median, "ASHA": ASHA, "Hyperband": Hyperband}


def _shown(config: dict[str, Any]) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in config.get("args", {}).items())
    return f"{config.get('kind')}({args})"


def from_config(config: dict[str, Any]) -> Pruner | None:
    """The pruner a study stored (:meth:`Pruner.config`), built again; None for a kind this
    torchsearch does not know (a user's own Pruner subclass)."""
    cls = _kinds().get(config.get("kind", ""))
    return None if cls is None else cls(**config.get("args", {}))


def stored_pruner(stored: dict[str, Any] | None, pruner: Pruner | None, *, study: str,
                  where: str) -> Pruner | None:
    """The pruner a (re)opened study runs with, given the one it stored (None: none stored) and
    the one passed (set up). Nothing stored: the one passed. Stored and none passed: the stored
    one rebuilt (its rungs, so paused trials can still be promoted; not set up), or None with a
    warning when its kind is unknown here. Stored and another passed: ValueError."""
    if stored is None:
        return pruner
    if pruner is None:
        rebuilt = from_config(stored)
        if rebuilt is None:
            import warnings

            warnings.warn(f"{where}: study {study!r} was run with pruner {_shown(stored)}, which this torchsearch "
                          "cannot rebuild: it goes on without a pruner (pass pruner=... to use one)", stacklevel=3)
        return rebuilt
    mine = json.loads(json.dumps(pruner.config()))
    if mine != stored:
        raise ValueError(f"{where}: study {study!r} was created with pruner {_shown(stored)} (rungs at epochs "
                         f"{stored.get('rungs')}), got pruner={_shown(mine)} (rungs at epochs {mine.get('rungs')}): "
                         "pass the same pruner or none (the stored one is rebuilt), or use another study name")
    return pruner


def check_pruner(pruner: Any, scheduler: Any, *, mode: str, metric: str, epochs: int | None, where: str) -> Pruner | None:
    """Validate ``pruner`` for a study and set it up; None passes through."""
    if pruner is None:
        return None
    if not isinstance(pruner, Pruner):
        raise TypeError(f"{where}: pruner must be a torchsearch.pruners.Pruner (Median, ASHA, Hyperband) or None, "
                        f"got pruner={pruner!r}")
    from ..schedulers.pbt import PBT

    if isinstance(scheduler, PBT):
        raise ValueError(f"{where}: PBT replaces its weak members itself (exploit); it takes no pruner, "
                         f"got pruner={pruner.describe()}")
    own = pruner._max_epochs_arg  # (its own max_epochs, before setup takes the study's)
    if pruner.needs_max_epochs and own is not None and epochs is not None and own < epochs:
        name = type(pruner).__name__
        raise ValueError(f"{where}: {name}(max_epochs={own}) is below the study's epochs={epochs}: every trial would "
                         f"train past the pruner's last rung without being judged there. Leave {name}(max_epochs=None) "
                         f"(it takes epochs={epochs}), or give max_epochs >= {epochs}, or train for {own} epochs")
    pruner.setup(mode=mode, max_epochs=epochs, metric=metric)  # type: ignore[arg-type]
    return pruner


class PrunerHook:
    def __init__(self, pruner: Pruner, scheduler: Any) -> None:
        self.pruner, self.scheduler = pruner, scheduler
        self.cannot_pause: set[int] = set()  # trials from Study.ask: nothing resumes them

    def setup_scheduler(self) -> None:
        """After ``scheduler.setup``: tell it the rungs (a model-based scheduler learns there)."""
        rungs = self.pruner.rungs()
        if rungs:
            self.scheduler.set_rungs(rungs)

    def recover(self, trials: list[Any], metric: str, paused_at: dict[int, int]) -> None:
        """Rebuild the rungs from the stored trials (with their reports): ``paused_at`` holds the
        step of each trial taken back paused from its durable state (its later reports are lost)."""
        for t in trials:
            self.pruner.on_trial_start(t.number, t.params)
            series = dict(t.metrics.get(metric, {}))
            if t.number in paused_at:
                step = paused_at[t.number]
                self.pruner.on_restore(t.number, {s: v for s, v in series.items() if s <= step}, "paused")
            else:
                self.pruner.on_restore(t.number, series, t.state)

    def started(self, number: int, params: dict[str, Any], *, can_pause: bool = True) -> None:
        if not can_pause:
            self.cannot_pause.add(number)
        self.pruner.on_trial_start(number, params)

    def decide(self, number: int, step: int, value: float, decision: Decision, final: bool) -> Decision:
        """The report's decision: the scheduler's, unless it said plain ``continue`` and the
        pruner stops or pauses the trial. The pruner sees every report (its rungs); a last
        evaluation is never pruned (the trial ends anyway)."""
        mine = self.pruner.on_report(number, step, value, can_pause=number not in self.cannot_pause)
        if final or mine.action == "continue" or decision.action != "continue":
            return decision
        return mine

    def quiet(self, number: int, scheduler_quiet: int) -> int:
        return min(scheduler_quiet, self.pruner.quiet_reports(number))

    def promote(self, population: Any, *, last: bool) -> Any:
        """The paused trial the pruner promotes to a free slot, made running (or None)."""
        number = self.pruner.next_promotion(last=last)
        if number is None or number not in population.paused():  # (a worker may not have handed it back yet)
            return None
        trial = population.resume(number)
        if trial is not None:
            self.pruner.on_resume(number)
        return trial

    def ended(self, number: int, value: float | None, state: str) -> None:
        self.cannot_pause.discard(number)
        self.pruner.on_complete(number, value, state)

    def unpromoted(self, number: int) -> Decision:
        return self.pruner.unpromoted(number)
