"""Scrambled Sobol start-up points shared by the model-based schedulers (Bayes, TPE)."""

from __future__ import annotations

from collections.abc import Container
from typing import Any

import numpy as np
from scipy.stats import qmc

from ..space import Space


class SobolStart:
    """The scheduler's scrambled Sobol sequence over the unit cube of ``space``, seeded once.

    ``point(i, tried)`` gives the configuration at position ``i`` (or the first later one whose key
    is not in ``tried``), so a resumed study that replays ``i`` trials continues the same sequence.
    """

    def __init__(self, space: Space, seed: int | None) -> None:
        self.space = space
        self._sobol = qmc.Sobol(len(space), scramble=True, seed=np.random.default_rng(seed))
        self._pos = 0

    def point(self, i: int, tried: Container[str]) -> dict[str, Any] | None:
        """The next Sobol point not yet tried (None after 64 repeats: a small discrete space)."""
        pos = max(self._pos, i)
        for _ in range(64):
            if pos != self._sobol.num_generated:
                self._sobol.reset()
                self._sobol.fast_forward(pos)
            u = self._sobol.random(1)[0]
            pos += 1
            params = self.space.from_unit(u)
            if self.space.key(params) not in tried:
                self._pos = pos
                return params
        self._pos = pos
        return None
