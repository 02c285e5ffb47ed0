"""fANOVA main effects on a random regression forest, in numpy (the math behind ``importance``).

The method is functional ANOVA on a random forest (Hutter, Hoos & Leyton-Brown, "An Efficient
Approach for Assessing Hyperparameter Importance", ICML 2014): a forest of regression trees is
fitted to the observed values over the unit cube ``[0, 1]^d``; each tree is a piecewise-constant
function whose leaves are boxes, so its mean, its total variance and the variance of each
one-parameter marginal (the tree averaged over every other parameter, uniform measure) are
exact sums over the leaves. A parameter's importance in one tree is the share of the tree's
variance its marginal explains; the forest's is the mean over the trees with any variance.

Shapes: ``X: n x d`` (points in the unit cube), ``y: n``; a tree is ``lo: L x d``, ``hi: L x d``
(its leaf boxes) and ``value: L``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Tree", "fit_tree", "fit_forest", "main_effects", "forest_main_effects"]


@dataclass
class Tree:
    """A regression tree as its leaves: the boxes ``[lo, hi]`` (``L x d``) and their values (``L``)."""

    lo: np.ndarray
    hi: np.ndarray
    value: np.ndarray

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The value of the leaf holding each row of ``X`` (``m x d`` -> ``m``); a split point
        belongs to the leaf below it, as in fitting."""
        X = np.asarray(X, dtype=float)
        lower = (X[:, None, :] > self.lo[None]) | (self.lo[None] == 0.0)
        inside = lower & (X[:, None, :] <= self.hi[None])  # m x L x d
        leaf = np.argmax(inside.all(axis=2), axis=1)
        return self.value[leaf]


def _best_split(X: np.ndarray, y: np.ndarray, min_leaf: int) -> tuple[int, float] | None:
    """The (feature, threshold) that most reduces the squared error of ``y``, or None.

    Every feature at once: sort each column, and the gain of cutting after row ``i`` is
    ``S_l^2 / n_l + S_r^2 / n_r`` on centred values (larger is better). A cut lies halfway
    between two distinct values, so tied points never land on both sides.
    """
    n = y.shape[0]
    order = np.argsort(X, axis=0, kind="stable")  # n x d
    xs = np.take_along_axis(X, order, axis=0)
    ys = (y - y.mean())[order]  # n x d
    left = np.cumsum(ys, axis=0)[:-1]  # (n-1) x d: sums of the first i+1 rows
    total = left[-1] + ys[-1]
    n_left = np.arange(1, n, dtype=float)[:, None]
    gain = left**2 / n_left + (total - left) ** 2 / (n - n_left)
    ok = (xs[1:] > xs[:-1]) & (n_left >= min_leaf) & (n - n_left >= min_leaf)
    if not ok.any():
        return None
    gain = np.where(ok, gain, -np.inf)
    i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
    return int(j), float((xs[i, j] + xs[i + 1, j]) / 2)


def fit_tree(X: np.ndarray, y: np.ndarray, *, min_leaf: int = 1, max_depth: int = 64) -> Tree:
    """Grow a regression tree on ``X: n x d`` (in the unit cube), ``y: n`` until its leaves are
    pure, hold fewer than ``2 * min_leaf`` points, or reach ``max_depth``."""
    n, d = X.shape
    scale = float(np.ptp(y)) if n else 0.0
    los, his, values = [], [], []
    stack = [(np.arange(n), np.zeros(d), np.ones(d), 0)]
    while stack:
        idx, lo, hi, depth = stack.pop()
        yy = y[idx]
        split = None
        if len(idx) >= 2 * min_leaf and depth < max_depth and np.ptp(yy) > 1e-12 * scale:
            split = _best_split(X[idx], yy, min_leaf)
        if split is None:
            los.append(lo)
            his.append(hi)
            values.append(float(yy.mean()))
            continue
        j, cut = split
        below = X[idx, j] <= cut
        hi_left, lo_right = hi.copy(), lo.copy()
        hi_left[j] = lo_right[j] = cut
        stack.append((idx[below], lo, hi_left, depth + 1))
        stack.append((idx[~below], lo_right, hi, depth + 1))
    return Tree(np.array(los), np.array(his), np.array(values))


def fit_forest(X: np.ndarray, y: np.ndarray, *, n_trees: int = 64, seed: int | None = 0,
               min_leaf: int = 1, max_depth: int = 64) -> list[Tree]:
    """``n_trees`` trees, each grown on a bootstrap sample of the rows (all features at each split)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)
    n = y.shape[0]
    trees = []
    for _ in range(n_trees):
        rows = rng.integers(0, n, size=n)
        trees.append(fit_tree(X[rows], y[rows], min_leaf=min_leaf, max_depth=max_depth))
    return trees


def main_effects(tree: Tree) -> np.ndarray | None:
    """The share of the tree's variance (uniform measure on the unit cube) that each feature's
    marginal explains (``d``), or None when the tree is constant.

    The marginal of feature ``j`` is constant between consecutive leaf edges on ``j``; on each
    such interval it is the sum over the leaves covering it of ``value * volume / width_j``.
    """
    width = tree.hi - tree.lo  # L x d
    volume = width.prod(axis=1)  # L
    mean = float(volume @ tree.value)
    total = float(volume @ (tree.value - mean) ** 2)
    if not total > 1e-300:
        return None
    d = tree.lo.shape[1]
    shares = np.zeros(d)
    for j in range(d):
        edges = np.unique(np.concatenate([tree.lo[:, j], tree.hi[:, j]]))
        a, b = edges[:-1], edges[1:]  # K intervals
        covers = (tree.lo[:, j, None] <= a[None]) & (tree.hi[:, j, None] >= b[None])  # L x K
        marginal = (tree.value * volume / width[:, j]) @ covers  # K
        shares[j] = float((b - a) @ (marginal - mean) ** 2) / total
    return shares


def forest_main_effects(trees: list[Tree]) -> np.ndarray | None:
    """The mean of :func:`main_effects` over the non-constant trees (``d``), or None if all are."""
    per_tree = [s for s in (main_effects(t) for t in trees) if s is not None]
    if not per_tree:
        return None
    return np.mean(per_tree, axis=0)
