"""Asynchronous Hyperband (Li et al. 2018; run as in Li et al. 2020): several ASHA ladders.

Bracket ``b`` (0 to ``s_max``, ``s_max = floor(log_reduction(max_epochs / min_epochs))``) has its
first rung at ``min_epochs * reduction**b``: bracket 0 is the most aggressive, the last one the
most patient (with ``max_epochs = min_epochs * reduction**s_max`` it trains every trial in full).
Each trial is assigned to a bracket by its number, by a fixed sequence in which bracket ``b``
appears in proportion to the trials Hyperband starts in it, ``ceil((s_max + 1) / (s + 1) *
reduction**s)`` with ``s = s_max - b`` (Optuna's ``HyperbandPruner`` weighs its brackets the
same way; it draws by a hash). Brackets run asynchronously on the same pause and promotion as
:class:`~torchsearch.pruners.ASHA`; a free slot goes to the paused trial of the highest rung (in
epochs) that qualifies in its own bracket.
"""

from __future__ import annotations

import math

from ._rungs import Ladder, milestones
from .asha import ASHA

__all__ = ["Hyperband"]


def bracket_sequence(weights: list[int]) -> list[int]:
    """One period of a smooth weighted round robin: bracket ``b`` appears ``weights[b]`` times,
    spread evenly (not in blocks)."""
    total, current, out = sum(weights), [0] * len(weights), []
    for _ in range(total):
        for b, w in enumerate(weights):
            current[b] += w
        b = max(range(len(weights)), key=lambda i: (current[i], -i))
        current[b] -= total
        out.append(b)
    return out


class Hyperband(ASHA):
    """Hyperband with asynchronous brackets. Arguments as :class:`ASHA`'s; ``promote=False``
    stops at its rungs instead of pausing (what Ray Tune's and Optuna's Hyperband do)."""

    def _build(self) -> list[Ladder]:
        top = self.max_epochs
        assert top is not None
        if top <= self.min_epochs:
            raise ValueError(f"Hyperband: max_epochs must be greater than min_epochs={self.min_epochs}, "
                             f"got max_epochs={top!r}")
        s_max = 0
        while self.min_epochs * self.reduction ** (s_max + 1) <= top:
            s_max += 1
        self.s_max = s_max
        ladders = [Ladder(milestones(self.min_epochs * self.reduction**b, self.reduction, top), self.reduction,
                          self.cutoff) for b in range(s_max + 1)]
        weights = [math.ceil((s_max + 1) / (s + 1) * self.reduction**s) for s in (s_max - b for b in range(s_max + 1))]
        self.weights = weights
        self._sequence = bracket_sequence(weights)
        return ladders

    def _ladder_of(self, number: int) -> int:
        return self._sequence[number % len(self._sequence)]

    def bracket(self, number: int) -> int:
        """The bracket of trial ``number``."""
        return self._ladder_of(number)

    def _label(self, ladder: int) -> str:
        rungs = self._ladders[ladder].rungs
        first = f"from epoch {rungs[0]}" if rungs else "no rungs"
        return f"Hyperband bracket {ladder} ({first})"
