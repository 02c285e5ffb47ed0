"""The math of successive halving, no decisions: one ladder of rungs, its records and promotions.

A :class:`Ladder` has rungs at ``milestones`` (epochs, increasing). Each trial that reaches a
rung records its value there ("lower is better"). The rung's *top* is its best
``len(records) // reduction`` trials (Li et al. 2020, ASHA): those may be promoted to the next
rung, each once. When no new trial will come (``last``), a rung with any record promotes at
least its best one, so that a finite study still trains someone to the end.
"""

from __future__ import annotations

import bisect
import math

__all__ = ["Ladder", "milestones"]


def milestones(start: int, reduction: int, end: int) -> list[int]:
    """``start, start * reduction, ...`` below ``end``."""
    out, m = [], start
    while m < end:
        out.append(m)
        m *= reduction
    return out


class Ladder:
    def __init__(self, rungs: list[int], reduction: int) -> None:
        self.rungs = rungs
        self.reduction = reduction
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
        n = len(self.records[k])
        q = n // self.reduction
        return max(q, 1) if last and n else q

    def cutoff(self, k: int, last: bool = False) -> float:
        """The worst value in rung ``k``'s top (``-inf``: the top is empty)."""
        q = self.quota(k, last)
        return self._sorted[k][q - 1][0] if q else -math.inf

    def in_top(self, k: int, number: int, last: bool = False) -> bool:
        """Whether ``number``'s value at rung ``k`` is as good as the top's worst."""
        loss = self.records[k].get(number)
        return loss is not None and loss <= self.cutoff(k, last)

    def candidates(self, last: bool = False) -> list[tuple[int, float, int]]:
        """Paused trials that may be promoted now: ``(rung, loss, number)`` for each, those of the
        highest rung first, then the best first. As in ASHA's ``get_job``: a trial qualifies when it
        is in the top of its rung and was not promoted from that rung already."""
        out = []
        tops: dict[int, set[int]] = {}
        for number, k in self.paused.items():
            if k not in tops:
                tops[k] = set(self.ranked(k, self.quota(k, last))) - self.promoted[k]
            if number in tops[k]:
                out.append((k, self.records[k][number], number))
        out.sort(key=lambda c: (-self.rungs[c[0]], c[1], c[2]))
        return out
