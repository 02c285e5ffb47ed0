"""Asynchronous successive halving (ASHA, Li et al. 2020), with promotion or stop-at-report.

Rungs sit at ``min_epochs * reduction**k`` epochs, below ``max_epochs``. A trial's value when it
reaches a rung (its first report at or past the rung's epoch) is recorded there. The top of a
rung is its best ``n // reduction`` of the ``n`` trials recorded so far.

``promote=True`` (the paper's ASHA): a trial that reaches a rung **pauses** there, its trainer
state kept by the coordinator, and frees its slot. When a slot is free, the coordinator asks
:meth:`ASHA.next_promotion` first: a paused trial in the top of its rung, not promoted from it
yet (the highest rung first, then the best value); the trial resumes exactly where it paused.
Only when none qualifies does the slot go to a new trial. A trial that would be the one promoted
anyway continues at once (no pause). When no new trial will start (``last``), each rung may
promote at least its best trial, so a finite study trains someone to ``max_epochs``; trials
still paused when the study ends are stopped with code ``"pruned"``.

``promote=False`` (what Optuna's ``SuccessiveHalvingPruner`` and Ray Tune's ``ASHAScheduler``
do): a trial that reaches a rung outside its top (counting itself; a rung of fewer than
``reduction`` trials keeps its best) is **stopped** there, code ``"pruned"``; the others train on.
"""

from __future__ import annotations

from typing import Any

from ..schedulers.base import CONTINUE, QUIET_ALWAYS, Decision
from ._rungs import CUTOFFS, Ladder, milestones
from .base import PRUNED, RUNG, Pruner, check_int, quiet_until

__all__ = ["ASHA"]


class _Track:
    __slots__ = ("ladder", "next", "last", "stride", "live")

    def __init__(self, ladder: int) -> None:
        self.ladder = ladder         # which ladder (Hyperband bracket) the trial climbs
        self.next = 0                # the next rung it has not reached
        self.last: int | None = None    # step of its latest report
        self.stride: int | None = None  # steps between its latest two reports
        self.live = True


class ASHA(Pruner):
    """Asynchronous successive halving.

    Args:
        min_epochs: epochs of the first rung (>= 1).
        reduction: the reduction factor (int >= 2): a rung's top is its best 1/``reduction``,
            and the next rung sits ``reduction`` times further.
        max_epochs: epochs of a full trial (default: ``tune(epochs=...)``); must exceed
            ``min_epochs``.
        promote: pause at rungs and promote (True, the paper's ASHA), or stop at the rung the
            trials outside its top (False, as Optuna and Ray Tune do).
        cutoff: who is in a rung's top. ``"top"`` (the paper's rule, and Optuna's): the best
            ``n // reduction`` of the ``n`` trials recorded at the rung, the trial counted.
            ``"quantile"`` (Ray Tune's ``ASHAScheduler``): a trial at least as good as the
            ``1 - 1/reduction`` quantile (interpolated) of the *other* trials' values at the
            rung; a trial alone at its rung goes on. Milder while a rung is thin (of 5 trials it
            keeps 2, ``"top"`` keeps 1); the same share once rungs are full.
    """

    def __init__(self, min_epochs: int = 1, reduction: int = 3, max_epochs: int | None = None, *,
                 promote: bool = True, cutoff: str = "top") -> None:
        name = type(self).__name__
        check_int(name, "min_epochs", min_epochs, 1)
        check_int(name, "reduction", reduction, 2)
        if max_epochs is not None:
            check_int(name, "max_epochs", max_epochs, 1)
            if max_epochs <= min_epochs:
                raise ValueError(f"{name}: max_epochs must be greater than min_epochs={min_epochs}, "
                                 f"got max_epochs={max_epochs!r}")
        if not isinstance(promote, bool):
            raise ValueError(f"{name}: promote must be True or False, got promote={promote!r}")
        if cutoff not in CUTOFFS:
            raise ValueError(f"{name}: cutoff must be one of {', '.join(map(repr, CUTOFFS))}, got cutoff={cutoff!r}")
        super().__init__(max_epochs=max_epochs)
        self.min_epochs, self.reduction, self.promote, self.cutoff = min_epochs, reduction, promote, cutoff

    @property
    def needs_max_epochs(self) -> bool:
        return True

    def setup(self, *, mode: Any, max_epochs: int | None = None, metric: str = "value") -> None:
        super().setup(mode=mode, max_epochs=max_epochs, metric=metric)
        assert self.max_epochs is not None  # (setup raised otherwise)
        self._ladders = self._build()
        self._tracks: dict[int, _Track] = {}

    def _build(self) -> list[Ladder]:
        if self.max_epochs <= self.min_epochs:  # type: ignore[operator]
            raise ValueError(f"ASHA: max_epochs must be greater than min_epochs={self.min_epochs}, "
                             f"got max_epochs={self.max_epochs!r}")
        return [Ladder(milestones(self.min_epochs, self.reduction, self.max_epochs), self.reduction,  # type: ignore[arg-type]
                       self.cutoff)]

    def _ladder_of(self, number: int) -> int:
        return 0

    def _label(self, ladder: int) -> str:
        return "ASHA"

    def _track(self, number: int) -> _Track:
        t = self._tracks.get(number)
        if t is None:
            t = self._tracks[number] = _Track(self._ladder_of(number))
        return t

    # -- protocol -------------------------------------------------------------------------
    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        self._track(number)

    def on_report(self, number: int, step: int, value: float, *, can_pause: bool = True) -> Decision:
        t = self._track(number)
        if t.last is not None and step > t.last:
            t.stride = step - t.last
        t.last = step
        if not t.live:
            return CONTINUE
        lad = self._ladders[t.ladder]
        loss = self.loss(value)
        crossed = self._climb(t, lad, number, step, loss)
        if not crossed:
            return CONTINUE
        if not self.promote or not can_pause:  # (a trial nothing can resume is judged as if promote=False)
            for k in crossed:
                if not lad.in_top(k, number, last=True):
                    return Decision.stop(PRUNED, self._below(t.ladder, k, loss, step, number))
            return CONTINUE
        k = crossed[-1]
        for j in crossed[:-1]:
            lad.promoted[j].add(number)
        lad.paused[number] = k
        if self._first_choice() == number:  # it would be promoted to its own slot: go on at once
            self.on_resume(number)
            return CONTINUE
        return Decision("pause", code=RUNG, checkpoint=True,
                        reason=f"{self._label(t.ladder)}: {self.metric} {self.shown(loss)} at epoch {step} reached "
                               f"rung {lad.rungs[k]}; waits for promotion ({self._top_words()} of the rung)")

    @staticmethod
    def _climb(t: _Track, lad: Ladder, number: int, step: int, loss: float) -> list[int]:
        """Record ``loss`` at every rung ``step`` reaches; return their indices."""
        crossed = []
        while t.next < len(lad.rungs) and step >= lad.rungs[t.next]:
            lad.record(t.next, number, loss)
            crossed.append(t.next)
            t.next += 1
        return crossed

    def _top_words(self) -> str:
        if self.cutoff == "quantile":
            return f"as good as the {self._q()} quantile of the others"
        return f"top 1/{self.reduction}"

    def _q(self) -> str:
        """The quantile of the others' values a trial must reach, as reported (higher is better: 1 - 1/reduction)."""
        return f"{1 - 1 / self.reduction if self.mode == 'max' else 1 / self.reduction:.2f}"

    def _short(self, ladder: int, k: int, loss: float, number: int) -> str:
        """Why ``loss`` at rung ``k`` is not in the top: the rule, the cutoff, the rung's size."""
        lad = self._ladders[ladder]
        n = len(lad.records[k])
        if self.cutoff == "quantile":
            side = "below" if self.mode == "max" else "above"
            return (f"{side} the {self._q()} quantile of the other {n - 1} trials at rung {lad.rungs[k]} "
                    f"({self.shown(lad.cutoff(k, True, number))})")
        side = "below the top" if self.mode == "max" else "above the best"
        return (f"{side} 1/{self.reduction} of rung {lad.rungs[k]} ({self.shown(lad.cutoff(k, last=True))}; "
                f"{n} trials)")

    def _below(self, ladder: int, k: int, loss: float, step: int, number: int) -> str:
        return (f"{self._label(ladder)}: {self.metric} {self.shown(loss)} at epoch {step} is "
                f"{self._short(ladder, k, loss, number)}")

    def quiet_reports(self, number: int) -> int:
        t = self._tracks.get(number)
        if t is None or not t.live:
            return 0 if t is None else QUIET_ALWAYS
        lad = self._ladders[t.ladder]
        target = lad.rungs[t.next] if t.next < len(lad.rungs) else float("inf")
        return quiet_until(t.last, t.stride, target)

    def _first_choice(self, last: bool = False) -> int | None:
        best: tuple[int, float, int] | None = None
        for lad in self._ladders:
            for k, loss, number in lad.candidates(last)[:1]:
                key = (-lad.rungs[k], loss, number)
                if best is None or key < best:
                    best = key
        return None if best is None else best[2]

    def next_promotion(self, *, last: bool = False) -> int | None:
        """The paused trial that should take a free slot now: in the top of its rung and not
        promoted from it yet; the highest rung (in epochs) first, then the best value. None when
        none qualifies. ``last``: no new trial will start (each rung may promote its best)."""
        return self._first_choice(last) if self.promote else None

    def on_resume(self, number: int) -> None:
        t = self._tracks.get(number)
        if t is None:
            return
        lad = self._ladders[t.ladder]
        k = lad.paused.pop(number, None)
        if k is not None:
            lad.promoted[k].add(number)

    def paused(self) -> list[int]:
        return [n for lad in self._ladders for n in lad.paused]

    def unpromoted(self, number: int) -> Decision:
        t = self._track(number)
        lad = self._ladders[t.ladder]
        k = lad.paused.get(number)
        if k is None:
            return Decision.stop(PRUNED, f"{self._label(t.ladder)}: paused when the study ended, never promoted")
        loss, m = lad.records[k][number], lad.rungs[k]
        if lad.qualifies(k, number, last=True):
            why = (f"{self._label(t.ladder)}: {self.metric} {self.shown(loss)} at rung {m}; the study ended before "
                   "its promotion")
        elif self.cutoff == "top" and loss == lad.cutoff(k, last=True):  # a tie with the top's last place
            why = (f"{self._label(t.ladder)}: {self.metric} {self.shown(loss)} at rung {m} ties the last place of the "
                   f"top 1/{self.reduction} of the rung ({len(lad.records[k])} trials), held by an earlier trial "
                   "(equal values: the earlier trial first): never promoted")
        elif self.cutoff == "quantile":
            why = (f"{self._label(t.ladder)}: {self.metric} {self.shown(loss)} at rung {m} is "
                   f"{self._short(t.ladder, k, loss, number)}: never promoted")
        else:
            side = "below the top" if self.mode == "max" else "above the best"
            why = (f"{self._label(t.ladder)}: {self.metric} {self.shown(loss)} at rung {m} is {side} 1/{self.reduction} "
                   f"of the rung ({self.shown(lad.cutoff(k, last=True))}; {len(lad.records[k])} trials): never promoted")
        return Decision.stop(PRUNED, why)

    def on_restore(self, number: int, values: dict[int, float], state: str) -> None:
        """Rebuild ``number``'s rungs from its stored reports. ``state="paused"``: it waits at its
        highest rung (when its last report is that rung's); ``"interrupted"``: its rerun reports
        again, so these are not counted; any other state: it has ended."""
        t = self._track(number)
        lad = self._ladders[t.ladder]
        lad.forget(number)
        t.next, t.last, t.stride = 0, None, None
        t.live = state == "paused"
        if state == "interrupted":
            return
        crossed: list[int] = []
        at_last = False
        for step in sorted(values):
            if t.last is not None:
                t.stride = step - t.last
            t.last = step
            new = self._climb(t, lad, number, step, self.loss(values[step]))
            crossed += new
            at_last = bool(new)
        for k in crossed:
            lad.promoted[k].add(number)
        if t.live and crossed and at_last:
            lad.promoted[crossed[-1]].discard(number)
            lad.paused[number] = crossed[-1]

    def on_complete(self, number: int, value: float | None, state: str) -> None:
        t = self._tracks.get(number)
        if t is None:
            return
        t.live = False
        lad = self._ladders[t.ladder]
        if state == "interrupted":  # not finished: its rerun (a new trial) records again
            lad.forget(number)
        else:
            lad.paused.pop(number, None)

    def rungs(self, number: int | None = None) -> list[int]:
        if number is None or number not in self._tracks:
            return sorted({m for lad in self._ladders for m in lad.rungs})
        return list(self._ladders[self._tracks[number].ladder].rungs)

    def arguments(self) -> dict[str, Any]:
        args = {"min_epochs": self.min_epochs, "reduction": self.reduction, "max_epochs": self.max_epochs,
                "promote": self.promote}
        if self.cutoff != "top":  # (studies stored before the option have no key: "top")
            args["cutoff"] = self.cutoff
        return args

    def describe(self) -> str:
        return (f"{type(self).__name__}(min_epochs={self.min_epochs}, reduction={self.reduction}, "
                f"max_epochs={self.max_epochs}, promote={self.promote}"
                + (f", cutoff={self.cutoff!r})" if self.cutoff != "top" else ")"))
