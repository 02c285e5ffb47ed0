"""Matern-5/2 ARD kernel over mixed inputs.

Inputs are rows of an encoded matrix ``X: n x d``. Ordered columns (floats, integers, powers of
two) hold the unit-cube encoding; categorical columns hold the category index. The squared
scaled distance is

    r^2 = sum_ordered ((x_j - x'_j) / l_j)^2 + sum_categorical [x_j != x'_j] / l_j^2

so a category has its own lengthscale and every pair of distinct values is equally far apart.
"""

from __future__ import annotations

import math

import torch

_SQRT5 = math.sqrt(5.0)


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
    """Covariance ``m x n``: ``scale * matern52(r^2)``."""
    return scale * matern52(sq_dist(x1, x2, inv_ls, cat))
