"""The math of successive halving, no decisions: one ladder of rungs, its records and promotions.

A :class:`Ladder` has rungs at ``milestones`` (epochs, increasing). Each trial that reaches a
rung records its value there ("lower is better"). The rung's *top* is its best
``len(records) // reduction`` trials (Li et al. 2020, ASHA): those may be promoted to the next
rung, each once. When no new trial will come (``last``), a rung with any record promotes at
least its best one, so that a finite study still trains someone to the end.

Two rules say who is in the top (``cutoff``):

- ``"top"`` (the paper's, and Optuna's ``SuccessiveHalvingPruner``'s): the best
  ``len(records) // reduction`` trials of the rung, the trial itself counted;
- ``"quantile"`` (Ray Tune's ``ASHAScheduler``'s): a trial whose loss is at most the
  ``1 / reduction`` quantile (linear interpolation, numpy's default) of the *other* trials'
  losses at the rung; a trial alone at its rung is in. Milder while a rung is thin: of 5 trials
  it keeps 2, where ``"top"`` keeps 1; asymptotically both keep a ``1 / reduction`` share.
"""

from __future__ import annotations

import bisect
import math

__all__ = ["Ladder", "milestones", "CUTOFFS"]

CUTOFFS = ("top", "quantile")


def milestones(start: int, reduction: int, end: int) -> list[int]:
    """``start, start * reduction, ...`` below ``end``."""
    out, m = [], start
    while m < end:
        out.append(m)
        m *= reduction
    return out


class Ladder:
    def __init__(self, rungs: list[int], reduction: int, cutoff: str = "top") -> None:
        if cutoff not in CUTOFFS:
            raise ValueError(f"Ladder: cutoff must be one of {CUTOFFS}, got cutoff={cutoff!r}")
        self.rungs = rungs
        self.reduction = reduction
        self.rule = cutoff
        self.records: list[dict[int, float]] = [{} for _ in rungs]   # per rung: number -> loss
        self.promoted: list[set[int]] = [set() for _ in rungs]       # per rung: who left it upwards
        self.paused: dict[int, int] = {}                              # number -> rung where it waits
        self._sorted: list[list[tuple[float, int]]] = [[] for _ in rungs]  # per rung: (loss, number), best first

    def record(self, k: int, number: int, loss: float) -> None:
        old = self.records[k].get(number)
        if old is not None:
            self._sorted[k].remove((old, number))
        self.records[k][number] = loss
        bisect.insort(self._sorted[k], (loss, number))  # (a report costs O(log n) + a memmove, not a sort)

    def forget(self, number: int) -> None:
        """Drop every record of ``number`` (a trial interrupted: its rerun records again)."""
        for k, rec in enumerate(self.records):
            old = rec.pop(number, None)
            if old is not None:
                self._sorted[k].remove((old, number))
            self.promoted[k].discard(number)
        self.paused.pop(number, None)

    def ranked(self, k: int, top: int | None = None) -> list[int]:
        """Rung ``k``'s trials (the best ``top`` of them), best first (equal values: lower
        number first)."""
        return [n for _, n in self._sorted[k][:top]]

    def quota(self, k: int, last: bool = False) -> int:
        """(``"top"``) how many trials rung ``k``'s top holds."""
        n = len(self.records[k])
        q = n // self.reduction
        return max(q, 1) if last and n else q

    def cutoff(self, k: int, last: bool = False, number: int | None = None) -> float:
        """The worst loss in rung ``k``'s top (``"top"``), or the quantile of the trials other
        than ``number`` that a loss must not exceed (``"quantile"``); ``-inf``: nobody is in."""
        if self.rule == "quantile":
            return self._quantile(k, number)
        q = self.quota(k, last)
        return self._sorted[k][q - 1][0] if q else -math.inf

    def _quantile(self, k: int, number: int | None) -> float:
        ranked = self._sorted[k]
        own = self.records[k].get(number) if number is not None else None
        skip = bisect.bisect_left(ranked, (own, number)) if own is not None else len(ranked)
        m = len(ranked) - (own is not None)
        if m == 0:
            return math.inf  # alone at the rung: nothing to compare with

        def at(i: int) -> float:  # the i-th best of the others
            return ranked[i + (i >= skip)][0]

        pos = (m - 1) / self.reduction
        lo = math.floor(pos)
        frac = pos - lo
        return at(lo) if frac == 0 or lo + 1 >= m else at(lo) + frac * (at(lo + 1) - at(lo))

    def in_top(self, k: int, number: int, last: bool = False) -> bool:
        """Whether ``number``'s value at rung ``k`` passes the rung's cutoff."""
        loss = self.records[k].get(number)
        return loss is not None and loss <= self.cutoff(k, last, number)

    def qualifies(self, k: int, number: int, last: bool = False) -> bool:
        """Whether ``number`` may be promoted from rung ``k``: the rule that :meth:`candidates`
        applies (``"top"``: among the best ``quota`` by rank, equal values ranked by number, so a
        value that ties the cutoff may be left out; ``"quantile"``: the cutoff)."""
        if self.rule == "quantile":
            return self.in_top(k, number, last)
        return number in self.ranked(k, self.quota(k, last))

    def candidates(self, last: bool = False) -> list[tuple[int, float, int]]:
        """Paused trials that may be promoted now: ``(rung, loss, number)`` for each, those of the
        highest rung first, then the best first. As in ASHA's ``get_job``: a trial qualifies when it
        is in the top of its rung and was not promoted from that rung already."""
        out = []
        tops: dict[int, set[int]] = {}
        for number, k in self.paused.items():
            if number in self.promoted[k]:
                continue
            if self.rule == "quantile":
                if self.in_top(k, number, last):
                    out.append((k, self.records[k][number], number))
                continue
            if k not in tops:  # (one ranking per rung, not one per paused trial)
                tops[k] = set(self.ranked(k, self.quota(k, last)))
            if number in tops[k]:
                out.append((k, self.records[k][number], number))
        out.sort(key=lambda c: (-self.rungs[c[0]], c[1], c[2]))
        return out
