"""Random search: independent uniform (log-uniform where declared) or scrambled Sobol points."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy.stats import qmc

from ..space import Space
from .base import Scheduler

__all__ = ["Random"]


class Random(Scheduler):
    """Random search.

    Args:
        sobol: draw scrambled Sobol points (``scipy.stats.qmc.Sobol``) in the unit cube
            instead of independent uniform ones: better coverage for small budgets.
        seed: the same seed gives the same sequence of configurations.

    The i-th configuration depends only on the seed and i, so a resumed study continues the
    sequence instead of repeating it.
    """

    def __init__(self, *, sobol: bool = False, seed: int | None = None) -> None:
        if not isinstance(sobol, bool):
            raise TypeError(f"Random: sobol must be True or False, got sobol={sobol!r}")
        super().__init__(seed=seed)
        self.sobol = sobol

    def setup(self, space: Space, *, mode: Literal["min", "max"], seed: int | None = None) -> None:
        super().setup(space, mode=mode, seed=seed)
        self._issued = 0
        self._seen = 0
        if self.sobol:
            self._sobol = qmc.Sobol(d=len(space), scramble=True, seed=np.random.default_rng(self.seed))

    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        self._seen += 1

    def _point(self, i: int) -> np.ndarray:
        if self.sobol:
            if i != self._sobol.num_generated:
                self._sobol.reset()
                self._sobol.fast_forward(i)
            return self._sobol.random(1)[0]
        if self.seed is None:
            return self.rng.random(len(self.space))
        return np.random.default_rng([self.seed, i]).random(len(self.space))

    def suggest(self) -> dict[str, Any] | None:
        i = max(self._issued, self._seen)
        self._issued = i + 1
        return self.space.from_unit(self._point(i))

    def describe(self) -> str:
        return f"Random(sobol={self.sobol}, seed={self.seed})"
