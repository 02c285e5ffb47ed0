"""LogEI and its input gradient in numpy, for the small batches of the acquisition search.

The L-BFGS-B refinement of the acquisition calls it 30-40 times per suggestion on a handful
of points; at that size every torch operation costs more in dispatch than in arithmetic, and
this numpy version of ``Posterior.mean_var_vjp`` followed by ``log_ei_grad`` takes about a
quarter of the time (benchmarks/bo_suite.py ``--timing``). It is the same math, checked
against the torch path in tests/schedulers/test_bayes_fast.py; the torch path stays the reference
(and scores the large candidate batches).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.special import erfcx, log_ndtr, ndtr

from .acquisition import _ASYMPTOTE as _BIG
from .gp import Posterior
from .kernel import components

__all__ = ["log_ei_with_grad", "np_log_h"]

_SQRT5 = math.sqrt(5.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_SQRT_PI_2 = 0.5 * math.log(math.pi / 2.0)


def np_log_h(z: np.ndarray) -> np.ndarray:
    """``log(phi(z) + z Phi(z))`` (see ``acquisition.log_h``; same three branches)."""
    z1 = np.maximum(z, -1.0)
    out = np.log(np.exp(-0.5 * z1 * z1 - _LOG_SQRT_2PI) + z1 * ndtr(z1))
    low = z <= -1.0
    if not low.any():
        return out
    zl = z[low]
    res = -0.5 * zl * zl - _LOG_SQRT_2PI - 2.0 * np.log(-zl)  # the asymptote, z <= -1e4
    mid = zl > _BIG
    z2 = zl[mid]
    w = np.log(-z2) + np.log(erfcx(-z2 / math.sqrt(2.0))) + _LOG_SQRT_PI_2  # < 0
    near = w > -math.log(2.0)  # log(1 - exp(w)), each form where it is accurate
    l1m = np.empty_like(w)
    l1m[near] = np.log(-np.expm1(w[near]))
    l1m[~near] = np.log1p(-np.exp(w[~near]))
    res[mid] = -0.5 * z2 * z2 - _LOG_SQRT_2PI + l1m
    out[low] = res
    return out


def log_ei_with_grad(post: Posterior, best: float) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``f(x: m x d) -> (log EI: m, d log EI / dx: m x d)`` for minimisation under ``post``
    (gradient zero in categorical columns, and where the variance is at its floor)."""
    X = post.X.detach().cpu().numpy()
    alpha = post.alpha.detach().cpu().numpy()
    K_inv = post.K_inv.detach().cpu().numpy()
    inv_ls = post.inv_ls.detach().cpu().numpy()
    scale = float(post.scale)
    cat = post.cat.detach().cpu().numpy().astype(bool)
    o = ~cat
    Xc = X[:, cat]
    has_cat = bool(cat.any())
    terms = []  # per kernel term (kernel.components): weight, inverse lengthscales
    for w, m in components(post.cat):
        il = inv_ls if m is None else inv_ls * m.cpu().numpy()
        terms.append((scale * w, il, X[:, o] * il[o], il[cat] * il[cat]))

    def f(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=float)
        k = np.zeros((len(x), len(X)))
        kps = []
        for sw, il, Xo, il2c in terms:
            diff = (x[:, o] * il[o])[:, None, :] - Xo[None, :, :]
            d2 = (diff * diff).sum(-1)
            if has_cat:
                d2 = d2 + (x[:, cat][:, None, :] != Xc[None, :, :]).astype(float) @ il2c
            r = np.sqrt(d2)
            e = np.exp(-_SQRT5 * r)
            k = k + sw * (1.0 + _SQRT5 * r + (5.0 / 3.0) * d2) * e
            kps.append(sw * (-5.0 / 6.0) * (1.0 + _SQRT5 * r) * e)
        mean = k @ alpha
        kik = k @ K_inv
        raw = scale - (k * kik).sum(1)
        var = np.maximum(raw, 1e-12)
        sigma = np.sqrt(var)
        z = (best - mean) / sigma
        lh = np_log_h(z)
        g = np.exp(log_ndtr(z) - lh)
        g_mean = -g / sigma
        g_var = np.where(raw > 1e-12, (1.0 - g * z) / (2.0 * var), 0.0)
        a = g_mean[:, None] * alpha[None, :] - 2.0 * g_var[:, None] * kik
        grad = np.zeros_like(x)
        for (_, il, _, _), kp in zip(terms, kps):
            c = 2.0 * kp * a
            grad += (x * c.sum(1, keepdims=True) - c @ X) * (il * il)
        grad[:, cat] = 0.0
        return lh + np.log(sigma), grad

    return f
