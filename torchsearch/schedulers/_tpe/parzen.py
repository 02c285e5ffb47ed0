"""Parzen estimators over an encoded space (see ``encoding``): the l(x) and g(x) of TPE.

An estimator fitted to ``n`` rows is a mixture of ``n + 1`` product kernels: one per row
(weight 1, or the weights given) and a broad prior kernel (weight ``prior_weight``). A kernel
is a product over the columns it models:

- ``cont``: a normal truncated to the unit interval, centred on the row's value;
- ``ord``: the same normal integrated over each value's slice of the unit interval (cut half-way
  between neighbouring centres): a probability table over the values;
- ``cat``: ``1 + eps`` on the row's category and ``eps`` on every other one, normalised, with
  ``eps = prior_weight / (n + 1)`` (sharper as evidence grows).

The prior kernel is a normal centred on 0.5 with standard deviation 1 (the whole range) on
ordered columns and uniform on categories. Bandwidths are per kernel and per column: the
distance to the farther neighbour in that column (see :func:`bandwidths`), as in Optuna's
estimator, clipped below by ``floor``. Everything is vectorised over kernels and candidates:
the continuous columns of all kernels score all candidates as a precision-weighted squared
distance (two matrix products), and the discrete columns read small tables (one row per
distinct kernel, one column per value).

Shapes: rows ``n x d`` (encoded, ``d`` columns of the whole space), candidates ``m x d``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr, ndtri

__all__ = ["View", "Parzen", "bandwidths"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_TINY = 1e-300


@dataclass(frozen=True)
class View:
    """Which columns of the encoded rows an estimator models (see ``encoding.Encoding``)."""

    cont: np.ndarray  # indices of continuous columns
    ords: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (column, sorted unit centres)
    cats: list[tuple[int, int]] = field(default_factory=list)  # (column, number of categories)

    @property
    def indices(self) -> list[int]:
        """Every column modelled."""
        return [*map(int, self.cont), *(j for j, _ in self.ords), *(j for j, _ in self.cats)]

    def columns(self) -> list[View]:
        """One view per modelled column (a univariate TPE)."""
        out = [View(np.array([j])) for j in self.cont]
        out += [View(np.array([], dtype=int), ords=[o]) for o in self.ords]
        out += [View(np.array([], dtype=int), cats=[c]) for c in self.cats]
        return out


def bandwidths(values: np.ndarray, factor: float, floor: float) -> np.ndarray:
    """Per-kernel, per-column bandwidths of kernels on ``n`` unit-scale values (``n x k`` ->
    ``n x k``): each kernel's distance to the farther of its two neighbours in that column (the
    nearest one at either end), times ``factor``, clipped to ``[floor, 1]``. Narrow inside a
    cluster, wide where the values are sparse; one value alone gets the floor."""
    n, k = values.shape
    if n < 2:
        return np.full((n, k), floor)
    v = np.ascontiguousarray(values.T)  # k x n: sort along contiguous rows
    order = np.argsort(v, axis=1)
    gaps = np.diff(np.take_along_axis(v, order, axis=1), axis=1)  # k x (n - 1)
    widest = np.empty((k, n))
    widest[:, 0], widest[:, -1] = gaps[:, 0], gaps[:, -1]
    np.maximum(gaps[:, :-1], gaps[:, 1:], out=widest[:, 1:-1])
    s = np.empty((k, n))
    np.put_along_axis(s, order, widest, axis=1)
    return np.clip(factor * s.T, floor, 1.0)


def _mass_inside(mu: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Mass of ``N(mu, s)`` inside the unit interval (elementwise); 1 where both ends lie
    more than 8 sd away, so only kernels near an end pay for ``ndtr``."""
    z = np.ones_like(mu)
    near = (mu < 8.0 * s) | (1.0 - mu < 8.0 * s)
    m, sd = mu[near], s[near]
    z[near] = np.maximum(ndtr((1.0 - m) / sd) - ndtr(-m / sd), _TINY)
    return z


def _edges(centres: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], (centres[:-1] + centres[1:]) / 2, [1.0]])


def _ord_table(centres: np.ndarray, mus: np.ndarray, sds: np.ndarray) -> np.ndarray:
    """log P(value k | kernel i) for kernels ``N(mus[i], sds[i])`` (``r x K``), with the
    prior's row appended (``(r + 1) x K``)."""
    edges = _edges(centres)
    mus, sds = np.append(mus, 0.5), np.append(sds, 1.0)
    mass = np.diff(ndtr((edges[None, :] - mus[:, None]) / sds[:, None]), axis=1)
    mass /= mass.sum(axis=1, keepdims=True)
    return np.log(np.maximum(mass, _TINY))


def _cat_table(k: int, eps: float) -> np.ndarray:
    """log P(category k | kernel on category i), ``(K + 1) x K``; the last row is the prior's."""
    t = np.full((k + 1, k), eps)
    t[np.arange(k), np.arange(k)] += 1.0
    t[k] = 1.0
    return np.log(t / t.sum(axis=1, keepdims=True))


class Parzen:
    """A Parzen estimator fitted to ``rows`` over the columns of ``view``.

    Args:
        rows: ``n x d`` encoded rows (``n`` may be 0: the prior alone).
        view: the columns modelled.
        prior_weight: weight of the prior kernel (each row's kernel weighs 1).
        factor: multiplies the bandwidths (see :func:`bandwidths`).
        floor: smallest bandwidth (unit scale).
        weights: the rows' kernel weights (default: 1 each).
    """

    def __init__(self, rows: np.ndarray, view: View, *, prior_weight: float, factor: float, floor: float,
                 weights: np.ndarray | None = None) -> None:
        self.view = view
        n = rows.shape[0]
        self.n = n
        w = np.append(np.ones(n) if weights is None else weights, prior_weight)
        self.log_w = np.log(w / w.sum())  # n + 1
        # continuous columns: centres n x c, bandwidths n x c, log normalisers n
        self.mu = rows[:, view.cont]
        self.s = bandwidths(self.mu, factor, floor)
        self.log_norm = np.log(self.s * _mass_inside(self.mu, self.s)).sum(axis=1)  # n
        self.prec = 1.0 / self.s**2
        self.prior_log_norm = len(view.cont) * math.log(ndtr(0.5) - ndtr(-0.5))
        # discrete columns: (column, table row of each kernel (n + 1), log table (n + 1) x K)
        self.tables: list[tuple[int, np.ndarray, np.ndarray]] = []
        for j, centres in view.ords:
            mus = centres[rows[:, j].astype(int)]
            sds = bandwidths(mus[:, None], factor, floor)[:, 0]
            # many trials share a value and a bandwidth: one table row per distinct kernel
            widths, w_at = np.unique(sds, return_inverse=True)
            keys, row = np.unique(rows[:, j].astype(int) * len(widths) + w_at.reshape(-1), return_inverse=True)
            table = _ord_table(centres, centres[keys // len(widths)], widths[keys % len(widths)])
            self.tables.append((j, np.append(row.reshape(-1), len(keys)), table))
        for j, k in view.cats:
            idx = rows[:, j].astype(int)
            self.tables.append((j, np.append(idx, k), _cat_table(k, prior_weight / (n + 1))))

    def sample(self, m: int, rng: np.random.Generator, d: int) -> np.ndarray:
        """``m`` rows drawn from the mixture (``m x d``; columns outside the view are zero)."""
        comp = rng.choice(self.n + 1, size=m, p=np.exp(self.log_w))
        out = np.zeros((m, d))
        c = len(self.view.cont)
        if c:
            prior = comp == self.n
            mine = np.minimum(comp, self.n - 1)
            mu = np.where(prior[:, None], 0.5, self.mu[mine] if self.n else 0.5)
            s = np.where(prior[:, None], 1.0, self.s[mine] if self.n else 1.0)
            lo, hi = ndtr(-mu / s), ndtr((1.0 - mu) / s)
            u = lo + (hi - lo) * rng.random((m, c))
            out[:, self.view.cont] = np.clip(mu + s * ndtri(u), 0.0, 1.0)
        for j, idx, table in self.tables:
            p = np.exp(table[idx[comp]])  # m x K
            cdf = np.cumsum(p, axis=1)
            u = rng.random(m)[:, None] * cdf[:, -1:]
            out[:, j] = np.minimum((cdf < u).sum(axis=1), table.shape[1] - 1)
        return out

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """log density (mass for discrete columns) of each candidate row (``m x d`` -> ``m``)."""
        m = x.shape[0]
        c = len(self.view.cont)
        const = self.log_w - c * _LOG_SQRT_2PI  # n + 1
        if c:
            xc = x[:, self.view.cont]
            const[:-1] -= self.log_norm
            const[-1] -= self.prior_log_norm
            comps = np.empty((self.n + 1, m))
            if self.n:  # sum_j (x_j - mu_ij)^2 / s_ij^2, as two matrix products
                mp = self.mu * self.prec
                sq = self.prec @ (xc * xc).T
                sq -= 2.0 * (mp @ xc.T)
                sq += (mp * self.mu).sum(1)[:, None]
                np.maximum(sq, 0.0, out=sq)
                comps[:-1] = sq
            comps[-1] = ((xc - 0.5) ** 2).sum(1)
            comps *= -0.5
            comps += const[:, None]
        else:
            comps = np.repeat(const[:, None], m, axis=1)
        for j, idx, table in self.tables:  # the candidates' columns first (R x m), then the rows
            comps += np.take(table[:, x[:, j].astype(int)], idx, axis=0)
        top = comps.max(axis=0)
        comps -= top
        # raising the terms below e^-60 of the largest to e^-60 moves the sum by at most
        # n e^-60, and keeps exp off its (twenty times slower) underflow path
        np.maximum(comps, -60.0, out=comps)
        return top + np.log(np.exp(comps).sum(axis=0))
