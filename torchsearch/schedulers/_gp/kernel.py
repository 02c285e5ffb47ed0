"""Matern-5/2 ARD kernel over mixed inputs.

Inputs are rows of an encoded matrix ``X: n x d``. Ordered columns (floats, integers, powers of
two) hold the unit-cube encoding; categorical columns hold the category index. The squared
scaled distance is

    r^2 = sum_ordered ((x_j - x'_j) / l_j)^2 + sum_categorical [x_j != x'_j] / l_j^2

so a category has its own lengthscale and every pair of distinct values is equally far apart.

With two or more categorical columns and ``CAT_ADDITIVE = w > 0``, the correlation is
``(1 - w) k(r^2) + w/m sum_c k(r_c^2)``, where ``r_c^2`` leaves out every categorical column but
``c`` (``m`` of them): besides the joint Matern, one over the ordered columns and each category
alone, so that what one category does to the ordered optimum is learned from every value of
the others (BoTorch's mixed kernel adds ordered-only and category-only terms in the same spirit).
Every term shares the lengthscales; :func:`components` gives the weights and column masks.
"""

from __future__ import annotations

import math

import torch

_SQRT5 = math.sqrt(5.0)

# the additive share w above; 0, the joint Matern alone, is the default: w = 0.9 found mixed_two_cats'
# optimum in 45 of 100 seeds against 51 (thirteenth session, RESULTS.md), so it is a screen knob
CAT_ADDITIVE = 0.0


class _Matern52(torch.autograd.Function):
    """``k(r^2) = (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r)`` as a function of ``r^2``.

    Written on ``r^2`` with its own backward, ``dk/d(r^2) = -5/6 (1 + sqrt5 r) exp(-sqrt5 r)``,
    which is finite at ``r = 0`` (autograd through ``sqrt`` would give NaN there).
    """

    @staticmethod
    def forward(ctx, d2: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        r = d2.clamp_min(0.0).sqrt()
        e = torch.exp(-_SQRT5 * r)
        ctx.save_for_backward(r, e)
        return (1.0 + _SQRT5 * r + (5.0 / 3.0) * d2) * e

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        r, e = ctx.saved_tensors
        return grad * (-5.0 / 6.0) * (1.0 + _SQRT5 * r) * e


def matern52(d2: torch.Tensor) -> torch.Tensor:
    """Matern-5/2 correlation of squared scaled distances (any shape)."""
    return _Matern52.apply(d2)


def _gram_sq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``|a_i - b_j|^2`` as ``|a_i|^2 + |b_j|^2 - 2 a_i.b_j``: one matrix product instead of an
    ``m x n x d`` difference tensor (several times faster for the candidate batches; the
    rounding, ~1e-16 of the squared norms, only matters for points closer than that)."""
    return ((a * a).sum(1).unsqueeze(1) + (b * b).sum(1).unsqueeze(0) - 2.0 * (a @ b.T)).clamp_min_(0.0)


def components(cat: torch.Tensor | tuple[bool, ...]) -> list[tuple[float, torch.Tensor | None]]:
    """The kernel's terms as ``(weight, mask)`` for the categorical flags ``cat`` (one per
    column): ``mask`` (``d``, 0/1, the inputs the term sees; ``None``: all) multiplies the
    inverse lengthscales. One term ``(1.0, None)`` unless ``CAT_ADDITIVE > 0`` and two or more
    columns are categorical."""
    flags = [bool(c) for c in (cat.tolist() if isinstance(cat, torch.Tensor) else cat)]
    idx = [j for j, c in enumerate(flags) if c]
    if CAT_ADDITIVE <= 0.0 or len(idx) < 2:
        return [(1.0, None)]
    w = float(CAT_ADDITIVE)
    out: list[tuple[float, torch.Tensor | None]] = [(1.0 - w, None)]
    for j in idx:
        mask = [0.0 if c and k != j else 1.0 for k, c in enumerate(flags)]
        out.append((w / len(idx), torch.tensor(mask, dtype=torch.float64)))
    return out


def sq_dist(
    x1: torch.Tensor, x2: torch.Tensor, inv_ls: torch.Tensor, cat: torch.Tensor
) -> torch.Tensor:
    """Squared scaled distances ``m x n`` between ``x1: m x d`` and ``x2: n x d``.

    ``inv_ls: d`` are inverse lengthscales; ``cat: d`` (bool) marks categorical columns.
    """
    if bool(cat.any()):
        o = ~cat
        d2 = _gram_sq(x1[:, o] * inv_ls[o], x2[:, o] * inv_ls[o])
        mism = (x1[:, cat].unsqueeze(1) != x2[:, cat].unsqueeze(0)).to(x1.dtype)
        return d2 + mism @ inv_ls[cat].square()
    return _gram_sq(x1 * inv_ls, x2 * inv_ls)


def kernel(
    x1: torch.Tensor, x2: torch.Tensor, inv_ls: torch.Tensor, scale: torch.Tensor, cat: torch.Tensor
) -> torch.Tensor:
    """Covariance ``m x n``: ``scale * matern52(r^2)`` (summed over :func:`components`)."""
    comps = components(cat)
    if len(comps) == 1:
        return scale * matern52(sq_dist(x1, x2, inv_ls, cat))
    return scale * sum(w * matern52(sq_dist(x1, x2, inv_ls if m is None else inv_ls * m.to(inv_ls), cat))
                       for w, m in comps)
