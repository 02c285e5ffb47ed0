"""Grid search: every combination of the parameters' grid values, in order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from ..space import Space
from .base import Scheduler

__all__ = ["Grid"]


class Grid(Scheduler):
    """Every combination of the space, each once.

    Args:
        points: how many points a Float gets (log-spaced when ``log=True``); an int for all, or
            a dict ``name -> points``. Int and PowerOfTwo take every value unless ``points`` is
            smaller than their number of values; Choice takes every value.
        shuffle: visit the combinations in a seeded random order instead of row-major.

    Points already run (found on resume through ``on_trial_start``) are not repeated.
    """

    def __init__(self, points: int | Mapping[str, int] | None = None, *, shuffle: bool = False,
                 seed: int | None = None) -> None:
        super().__init__(seed=seed)
        if points is not None and not isinstance(points, Mapping):
            if not isinstance(points, int) or isinstance(points, bool) or points < 1:
                raise ValueError(f"Grid: points must be an int >= 1 or a dict of them, got points={points!r}")
        self.points = points
        self.shuffle = shuffle

    def setup(self, space: Space, *, mode: Literal["min", "max"], seed: int | None = None) -> None:
        super().setup(space, mode=mode, seed=seed)
        self._grid = list(space.grid(self.points))
        if self.shuffle:
            order = self.rng.permutation(len(self._grid))
            self._grid = [self._grid[i] for i in order]
        self._seen: set[str] = set()
        self._pos = 0

    def __len__(self) -> int:
        return len(self._grid)

    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        self._seen.add(self.space.key(params))

    def suggest(self) -> dict[str, Any] | None:
        while self._pos < len(self._grid):
            p = self._grid[self._pos]
            self._pos += 1
            if self.space.key(p) not in self._seen:
                return dict(p)
        return None

    def describe(self) -> str:
        return f"Grid(points={self.points!r}, shuffle={self.shuffle})"
