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


def _best_splits(X: np.ndarray, yc: np.ndarray, node: np.ndarray, count: np.ndarray, starts: np.ndarray,
                 can: np.ndarray, min_leaf: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The best cut of every splittable node of one level at once.

    ``X: m x d`` and ``yc: m`` (values centred on their node's mean) are the level's rows,
    grouped by ``node: m`` (ascending; node ``g`` holds ``count[g]`` rows from ``starts[g]``);
    ``can: G`` marks the nodes that may split. For each feature the rows are sorted by value
    within their node, and the gain of cutting after the ``i``-th row of a node is
    ``S_l^2 / n_l + S_r^2 / n_r`` (larger is better: the squared error it removes, plus a
    constant). A cut lies halfway between two distinct values; equal gains are broken at random,
    as a forest with a random feature order does, so that no feature wins ties by its position.
    Returns the nodes that split, their features and their cuts (``k`` each).
    """
    m, d = X.shape
    local = np.arange(m) - starts[node]  # a row's rank inside its node
    n_left = local + 1.0
    n_node = count[node].astype(float)
    allowed = can[node] & (n_left >= min_leaf) & (n_node - n_left >= min_leaf)
    total = np.add.reduceat(yc, starts)[node]
    gain = np.full((m, d), -np.inf)
    xs = np.empty((m, d))
    for j in range(d):
        order = np.lexsort((X[:, j], node))  # by node, then by value: nodes keep their rows' slots
        x = X[order, j]
        cs = np.cumsum(yc[order])
        left = cs - np.concatenate(([0.0], cs))[starts][node]
        ok = allowed.copy()
        ok[:-1] &= x[1:] > x[:-1]
        ok[-1] = False
        gain[:, j] = np.where(ok, left**2 / n_left + (total - left) ** 2 / np.maximum(n_node - n_left, 1.0), -np.inf)
        xs[:, j] = x
    best = np.maximum.reduceat(gain.max(axis=1), starts)  # G; -inf where no cut is allowed
    near = best[node][:, None]
    tied = np.isfinite(gain) & (gain >= near - 1e-10 * np.abs(near))
    key = np.where(tied, rng.random((m, d)), -1.0)
    top = np.maximum.reduceat(key.max(axis=1), starts)
    p, f = np.nonzero(tied & (key == top[node][:, None]))
    _, first = np.unique(node[p], return_index=True)
    p, f = p[first], f[first]
    a, b = xs[p, f], xs[p + 1, f]
    cut = (a + b) / 2
    cut = np.where(cut < b, cut, a)  # adjacent floats: keep the right side non-empty
    return node[p], f, cut


def fit_tree(X: np.ndarray, y: np.ndarray, *, rng: np.random.Generator | int | None = None,
             min_leaf: int = 1, max_depth: int = 64) -> Tree:
    """Grow a regression tree on ``X: n x d`` (in the unit cube), ``y: n`` until its leaves are
    pure, hold fewer than ``2 * min_leaf`` points, or reach ``max_depth``.

    Grown a level at a time: every node of a depth is split in one pass of array operations.
    ``rng`` breaks ties between equally good cuts.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    rng = np.random.default_rng(rng)
    n, d = X.shape
    tol = 1e-12 * float(np.ptp(y)) if n else 0.0
    rows, node = np.arange(n), np.zeros(n, dtype=np.intp)
    lo, hi = np.zeros((1, d)), np.ones((1, d))
    leaves: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    depth = 0
    while rows.size:
        order = np.argsort(node, kind="stable")
        rows, node = rows[order], node[order]
        count = np.bincount(node, minlength=lo.shape[0])  # every node holds a row
        starts = np.concatenate(([0], np.cumsum(count)[:-1]))
        yr = y[rows]
        mean = np.add.reduceat(yr, starts) / count
        spread = np.maximum.reduceat(yr, starts) - np.minimum.reduceat(yr, starts)
        can = (count >= 2 * min_leaf) & (spread > tol) & (depth < max_depth)
        split = np.zeros(len(count), dtype=bool)
        if can.any():
            nodes, feat, cut = _best_splits(X[rows], yr - mean[node], node, count, starts, can, min_leaf, rng)
            split[nodes] = True
        leaves.append((lo[~split], hi[~split], mean[~split]))
        if not split.any():
            break
        keep = split[node]
        rows, node = rows[keep], node[keep]
        rank = np.cumsum(split) - 1  # a split node's place among this level's split nodes
        f_of, cut_of = np.zeros(len(count), dtype=np.intp), np.zeros(len(count))
        f_of[nodes], cut_of[nodes] = feat, cut
        right = X[rows, f_of[node]] > cut_of[node]
        node = 2 * rank[node] + right
        k = np.arange(len(nodes))
        new_lo, new_hi = np.repeat(lo[nodes], 2, axis=0), np.repeat(hi[nodes], 2, axis=0)
        new_hi[2 * k, feat] = cut
        new_lo[2 * k + 1, feat] = cut
        lo, hi = new_lo, new_hi
        depth += 1
    lo_all, hi_all, v_all = (np.concatenate(parts) for parts in zip(*leaves))
    return Tree(lo_all, hi_all, v_all)


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
        trees.append(fit_tree(X[rows], y[rows], rng=rng, min_leaf=min_leaf, max_depth=max_depth))
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
