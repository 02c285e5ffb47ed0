"""Monotone transforms of the losses for losses that span decades (the math behind ``warp``).

A stationary GP fitted to losses such as Zakharov's or Powell's (five to nine decades over the
box) sees a few huge values and a flat floor where the optimum is: the valley's shape is lost in
the standardisation. Two standard remedies, each monotone (the best observation stays the best):

- ``log``: ``z = log(y - min(y) + delta)``, with ``delta`` a fixed fraction (``LOG_DELTA``) of
  ``median(y) - min(y)`` (never 0), so the best loss is finite and the distances to it are
  resolved on a log scale;
- ``copula``: ``z = Phi^-1((rank - 1/2) / n)``, ties given their average rank (the Gaussian
  copula transform of Salinas et al. 2020): only the order of the losses is kept.

:func:`spans_decades` is the rule that says when the losses span decades: the worst loss is more
than ``DECADES`` times as far from the best as the median is.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

__all__ = ["DECADES", "LOG_DELTA", "copula_scores", "spans_decades", "LogMap", "RankMap"]

DECADES = 30.0  # the losses "span decades" when (max - min) / (median - min) exceeds this
LOG_DELTA = 0.05  # the log transform's offset, as a fraction of median - min


def spans_decades(y: np.ndarray, ratio: float | None = None) -> bool:
    """Whether ``(max(y) - min(y)) / (median(y) - min(y)) > ratio`` (``DECADES`` by default).
    False with fewer than 3 losses, or when the median is the best loss (no scale to compare)."""
    ratio = DECADES if ratio is None else ratio
    y = np.asarray(y, dtype=float)
    if len(y) < 3 or not np.all(np.isfinite(y)):
        return False
    lo, med, hi = float(y.min()), float(np.median(y)), float(y.max())
    return med > lo and (hi - lo) > ratio * (med - lo)


def copula_scores(y: np.ndarray) -> np.ndarray:
    """``Phi^-1((rank - 1/2) / n)`` with ties given their average rank."""
    y = np.asarray(y, dtype=float)
    return ndtri((rankdata(y, method="average") - 0.5) / len(y))


class LogMap:
    """``y -> log(y - min + delta)`` and back; ``delta = LOG_DELTA * (median - min)``, or that
    fraction of the range when the median is the minimum, or 1 when every loss is equal."""

    def __init__(self, y: np.ndarray, frac: float | None = None) -> None:
        frac = LOG_DELTA if frac is None else frac
        if not frac > 0:
            raise ValueError(f"LogMap: frac must be > 0, got frac={frac!r}")
        y = np.asarray(y, dtype=float)
        self.lo = float(y.min())
        spread = float(np.median(y)) - self.lo
        if not spread > 0:
            spread = float(y.max()) - self.lo
        self.delta = frac * spread if spread > 0 else 1.0

    def __call__(self, y: np.ndarray) -> np.ndarray:
        # a loss below the fitted minimum (never one of the fitted losses) is floored at delta / 1e6
        d = np.maximum(np.asarray(y, dtype=float) - self.lo + self.delta, self.delta * 1e-6)
        return np.log(d)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.exp(np.asarray(z, dtype=float)) + self.lo - self.delta


class RankMap:
    """The copula scores of the fitted losses; other values (and ``inverse``) by piecewise-linear
    interpolation between the fitted (loss, score) pairs, continued linearly past the ends with the
    slope of the outermost segment (the slope of the whole range when only one distinct loss)."""

    def __init__(self, y: np.ndarray) -> None:
        y = np.asarray(y, dtype=float)
        z = copula_scores(y)
        self.ys, idx = np.unique(y, return_index=True)
        self.zs = z[idx]  # equal losses share one average-rank score

    def _line(self, x: np.ndarray, xs: np.ndarray, fs: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if len(xs) == 1:
            return np.full_like(x, fs[0]) if x.ndim else np.asarray(fs[0])
        out = np.interp(x, xs, fs)
        s0 = (fs[1] - fs[0]) / (xs[1] - xs[0])
        s1 = (fs[-1] - fs[-2]) / (xs[-1] - xs[-2])
        out = np.where(x < xs[0], fs[0] + (x - xs[0]) * s0, out)
        return np.where(x > xs[-1], fs[-1] + (x - xs[-1]) * s1, out)

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return self._line(y, self.ys, self.zs)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return self._line(z, self.zs, self.ys)
