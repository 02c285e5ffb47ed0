"""Exact Gaussian-process regression with a Matern-5/2 ARD kernel, fitted by MAP.

Shapes: ``X: n x d`` encoded inputs, ``y: n`` standardised outputs (zero mean, unit variance),
``x: m x d`` query points. Hyperparameters travel as one vector ``theta`` (log scale):

    theta = [log lengthscale_1 .. log lengthscale_d, log signal variance, log noise variance]

Priors (on the log values, so the densities are normal):

- lengthscales: the dimension-scaled prior of Hvarfner et al. (2024), log-normal with log-mean
  ``mu = sqrt(2) + log(d) / 2`` and log-sd ``sqrt(3)``, *as BoTorch's MAP weighs it*: BoTorch
  maximises the density of the lengthscale itself, whose mode is ``exp(mu - 3)`` (0.46 at d = 5),
  while a normal prior on the log lengthscale pulls to ``exp(mu)``, 20 times longer. So the
  normal prior here has mean ``mu - 3`` (``LS_PRIOR_SHIFT``): the eleventh session's diagnosis
  found our fitted lengthscales longer than BoTorch's on the same data, and the suite 21 problems
  better of 23 with the shift and a constant mean (RESULTS.md, BO, seventh session);
- signal variance: log-normal around 1 (the outputs are standardised);
- noise variance: log-normal with median ``1e-6`` and log-sd 3, bounded below by ``1e-9``:
  near-interpolation for deterministic objectives (a median of ``1e-4`` cost two orders of
  magnitude of final regret on Branin and Hartmann6), learnt from the data for noisy ones.

The GP's prior mean is a constant, profiled out of the fit (``const_mean=True``: its generalised
least-squares value under each ``theta``, :func:`gls_constant`; BoTorch fits a ``ConstantMean``
jointly), or zero. The fit maximises ``log p(y | X, theta) + log p(theta)`` with scipy's
L-BFGS-B on closed-form gradients, warm-started from the previous fit when one is given. ``noise_prior`` swaps the
noise prior (``Bayes`` with ``NOISE_SELECT = "loo"`` fits again under BoTorch's, ``NOISY_PRIOR``,
and keeps the fit with the lower leave-one-out error, ``Posterior.loo_mse``). Screened and not
adopted (RESULTS.md, BO, fourth session): a two-component mixture noise prior
(``_NOISY_WEIGHT``), fitted from one start or from every start (``NOISY_START``, ``MULTI_START``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize

from .kernel import components, kernel, sq_dist

__all__ = ["Posterior", "fit_hyperparameters", "gls_constant", "neg_log_posterior_and_grad", "pair_terms",
           "default_theta", "theta_bounds"]

_LOG_NOISE_MIN = math.log(1e-9)
_NOISE_PRIOR = (math.log(1e-6), 3.0)
# the noise prior's second component, BoTorch's (log-normal, median e^-4 = 0.018, log-sd 1), with
# its weight: 0 = the single component above (screens set it through bo_suite --patch)
NOISY_PRIOR = _NOISY_PRIOR = (-4.0, 1.0)
_NOISY_WEIGHT = 0.0
# fit from every start and keep the best optimum (False: only from the best-scoring start)
MULTI_START = False
# with the mixture: also score a start at the noisy component's median (optimised only if it
# scores best, unless MULTI_START)
NOISY_START = False
_SCALE_PRIOR = (0.0, 1.0)
_LOG2PI = math.log(2.0 * math.pi)
_SQRT5 = math.sqrt(5.0)


# the lengthscale prior's log-mean moves down by this: 3 = its log-variance, which puts the MAP's
# pull on log l where BoTorch's pull on l is, the log-normal's mode exp(mu - sd^2) (0: v33's prior;
# the default since the eleventh session, v44 of the BO suite, with Bayes.CONST_MEAN = "profile")
LS_PRIOR_SHIFT = 3.0
# categorical columns' prior log-mean is higher by this: an ordered column's squared distance
# between two uniform draws is 1/6 on average, a k-way mismatch's (k-1)/k, so equal prior
# correlation needs a lengthscale sqrt(6 (k-1)/k) times longer, a shift of 0.55 (k=2) to 0.90
# (k large), 0.75 at k=4 (0 = v44; 0.75 since the twelfth session, v46 of the BO suite, RESULTS.md)
CAT_LS_SHIFT = 0.75


def _ls_prior(d: int) -> tuple[float, float]:
    return math.sqrt(2.0) + 0.5 * math.log(d) - LS_PRIOR_SHIFT, math.sqrt(3.0)


def _ls_means(d: int, cat: tuple[bool, ...] | None) -> list[float]:
    mu = _ls_prior(d)[0]
    return [mu + (CAT_LS_SHIFT if cat is not None and cat[j] else 0.0) for j in range(d)]


def default_theta(d: int, cat: tuple[bool, ...] | None = None) -> np.ndarray:
    """The prior medians: the starting point of a first fit (shape ``d + 2``)."""
    return np.array(_ls_means(d, cat) + [_SCALE_PRIOR[0], _NOISE_PRIOR[0]])


def theta_bounds(d: int) -> list[tuple[float, float]]:
    return [(math.log(1e-3), math.log(1e3))] * d + [(math.log(1e-3), math.log(1e2)), (_LOG_NOISE_MIN, 0.0)]


_PRIORS: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _prior_tensors(d: int, dtype: torch.dtype, device: torch.device,
                   noise_prior: tuple[float, float] | None = None,
                   cat: tuple[bool, ...] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Means and sds of the normal priors on ``theta`` (cached: constants); ``noise_prior``
    (log median, log-sd) replaces the noise variance's; ``cat`` marks categorical columns."""
    key = (d, dtype, device, noise_prior, cat, CAT_LS_SHIFT)
    if key not in _PRIORS:
        sd = _ls_prior(d)[1]
        nmu, nsd = noise_prior or _NOISE_PRIOR
        _PRIORS[key] = (
            torch.tensor(_ls_means(d, cat) + [_SCALE_PRIOR[0], nmu], dtype=dtype, device=device),
            torch.tensor([sd] * d + [_SCALE_PRIOR[1], nsd], dtype=dtype, device=device),
        )
    return _PRIORS[key]


def pair_terms(X: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
    """``D: n x n x d``, the squared difference (ordered columns) or mismatch (categorical
    columns) of every pair of rows: ``r^2 = D @ inv_ls^2``. Computed once per fit."""
    diffs = X.unsqueeze(1) - X.unsqueeze(0)
    return torch.where(cat, (diffs != 0).to(X.dtype), diffs.square())


def neg_log_posterior_and_grad(
    theta: torch.Tensor, D: torch.Tensor, y: torch.Tensor, noise_prior: tuple[float, float] | None = None,
    const_mean: bool = False, cat: tuple[bool, ...] | None = None,
) -> tuple[float, torch.Tensor]:
    """``-log p(y | X, theta) - log p(theta)`` (up to a constant) and its gradient in closed form
    (no autograd: several times faster); ``inf`` when K is not positive definite.

    ``D`` comes from :func:`pair_terms`; ``cat`` (a tuple of bools, one per column) marks the
    categorical columns, whose prior sits ``CAT_LS_SHIFT`` higher. With ``W = K^-1 - alpha alpha^T``,
    ``d nll / d theta = tr(W dK/dtheta) / 2``; for a lengthscale,
    ``dK/dlog l_j = k'(r^2) * (-2 D_j / l_j^2)``.
    """
    n, _, d = D.shape
    inv_ls2 = torch.exp(-2.0 * theta[:d])
    scale, noise = torch.exp(theta[d]), torch.exp(theta[d + 1])
    terms = []  # per kernel term: its lengthscale mask, scale * weight, r, exp(-sqrt5 r)
    Kf = torch.zeros((), dtype=D.dtype, device=D.device)
    for w, m in components(cat or ()):
        il2 = inv_ls2 if m is None else inv_ls2 * m.to(inv_ls2)
        d2 = D @ il2
        r = d2.sqrt()
        e = torch.exp(-_SQRT5 * r)
        sw = scale * w
        Kf = Kf + sw * (1.0 + _SQRT5 * r + (5.0 / 3.0) * d2) * e
        terms.append((m, sw, r, e))
    K = Kf + (noise + 1e-9) * torch.eye(n, dtype=D.dtype, device=D.device)
    L, info = torch.linalg.cholesky_ex(K)
    if int(info) != 0:
        return math.inf, torch.zeros_like(theta)
    if const_mean:  # a constant prior mean, profiled out: its GLS value under this theta (the
        # gradient at fixed c is the total one, as d nll / dc = 0 there)
        k1 = torch.cholesky_solve(torch.ones(n, 1, dtype=y.dtype, device=y.device), L).squeeze(-1)
        y = y - (k1 @ y) / k1.sum()
    alpha = torch.cholesky_solve(y.unsqueeze(-1), L).squeeze(-1)
    nll = 0.5 * float(y @ alpha) + float(torch.log(torch.diagonal(L)).sum()) + 0.5 * n * _LOG2PI
    W = torch.cholesky_inverse(L) - torch.outer(alpha, alpha)
    prior_mu, prior_sd = _prior_tensors(d, D.dtype, D.device, noise_prior, cat)
    u = (theta - prior_mu) / prior_sd
    g = u / prior_sd
    for m, sw, r, e in terms:
        M = W * (sw * (-5.0 / 6.0) * (1.0 + _SQRT5 * r) * e)  # W o dk/d(r^2)
        gl = (M.reshape(1, -1) @ D.reshape(-1, d)).squeeze(0) * inv_ls2
        g[:d] -= gl if m is None else gl * m.to(gl)
    g[d] += 0.5 * (W * Kf).sum()
    g[d + 1] += 0.5 * noise * torch.diagonal(W).sum()
    prior = 0.5 * float(u.square().sum())
    if _NOISY_WEIGHT > 0.0 and noise_prior is None:  # the noise prior is a two-component mixture
        t = float(theta[d + 1])
        comps = [(1.0 - _NOISY_WEIGHT, *_NOISE_PRIOR), (_NOISY_WEIGHT, *_NOISY_PRIOR)]
        lps = [math.log(w) - math.log(sd) - 0.5 * ((t - mu) / sd) ** 2 for w, mu, sd in comps]
        top = max(lps)
        ws = [math.exp(lp - top) for lp in lps]
        z = sum(ws)
        prior += -0.5 * float(u[d + 1]) ** 2 - (top + math.log(z)) - math.log(_NOISE_PRIOR[1])
        g[d + 1] += -float(u[d + 1] / prior_sd[d + 1]) + sum(
            wk / z * (t - mu) / sd ** 2 for wk, (_, mu, sd) in zip(ws, comps))
    return nll + prior, g


def fit_hyperparameters(
    X: torch.Tensor, y: torch.Tensor, cat: torch.Tensor, *, init: np.ndarray | None = None,
    max_iter: int = 200, max_iter_warm: int = 200, noise_prior: tuple[float, float] | None = None,
    const_mean: bool = False,
) -> np.ndarray:
    """MAP hyperparameters ``theta`` (numpy, ``d + 2``) by L-BFGS-B.

    Starts from ``init`` (a previous fit) or the prior medians, whichever scores better; from
    a previous fit, at most ``max_iter_warm`` iterations (one more point moves the optimum
    little). ``const_mean``: the GP has a constant prior mean, profiled out (see
    :func:`gls_constant`), instead of zero.
    """
    d = X.shape[1]
    bounds = theta_bounds(d)
    lo, hi = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])

    D = pair_terms(X, cat)
    cat_key = tuple(bool(c) for c in cat.tolist())
    memo: dict[bytes, tuple[float, np.ndarray]] = {}

    def f(t: np.ndarray) -> tuple[float, np.ndarray]:
        key = t.tobytes()
        if key not in memo:  # scipy re-evaluates the starting point
            v, g = neg_log_posterior_and_grad(torch.tensor(t, dtype=X.dtype, device=X.device), D, y, noise_prior,
                                              const_mean, cat_key)
            memo.clear()
            memo[key] = (v, g.cpu().numpy()) if math.isfinite(v) else (1e20, np.zeros_like(t))
        v, g = memo[key]
        return v, g.copy()

    starts = [default_theta(d, cat_key)]
    if noise_prior is not None:
        starts[0][d + 1] = noise_prior[0]
    if init is not None and init.shape == (d + 2,) and np.all(np.isfinite(init)):
        starts.append(np.clip(init, lo, hi))
    if (MULTI_START or NOISY_START) and _NOISY_WEIGHT > 0.0:
        noisy = default_theta(d, cat_key)
        noisy[d + 1] = _NOISY_PRIOR[0]
        starts.append(noisy)
    scores = [f(s)[0] for s in starts]
    order = list(range(len(starts))) if MULTI_START else [int(np.argmin(scores))]
    best_x, best_v = starts[int(np.argmin(scores))], min(scores)
    for i in order:
        res = minimize(f, starts[i], jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": max_iter_warm if i == 1 else max_iter, "gtol": 1e-2, "ftol": 1e-6})
        theta = np.asarray(res.x, dtype=float)
        if np.all(np.isfinite(theta)) and res.fun < 1e19 and (res.fun <= best_v or i == order[0]):
            best_x, best_v = theta, float(res.fun)
    return best_x


@dataclass
class Posterior:
    """The GP conditioned on ``X, y`` with fixed ``theta``.

    ``mean_var(x)`` gives the latent posterior mean and variance (noise excluded), each ``m``.
    """

    X: torch.Tensor
    y: torch.Tensor
    theta: torch.Tensor
    cat: torch.Tensor

    def __post_init__(self) -> None:
        n, d = self.X.shape
        self.inv_ls = torch.exp(-self.theta[:d])
        self.scale = torch.exp(self.theta[d])
        self.noise = torch.exp(self.theta[d + 1])
        K = kernel(self.X, self.X, self.inv_ls, self.scale, self.cat)
        eye = torch.eye(n, dtype=self.X.dtype, device=self.X.device)
        jitter = 1e-9
        while True:
            L, info = torch.linalg.cholesky_ex(K + (self.noise + jitter) * eye)
            if int(info) == 0:
                break
            jitter *= 10.0
            if jitter > 1.0:  # pragma: no cover - K + noise I is PD by construction
                raise RuntimeError("GP covariance is not positive definite")
        self.L = L
        self.alpha = torch.cholesky_solve(self.y.unsqueeze(-1), L).squeeze(-1)
        self._K_inv: torch.Tensor | None = None

    @property
    def K_inv(self) -> torch.Tensor:
        """``(K + noise I)^-1``, ``n x n``, computed on first use (the gradient path needs it)."""
        if self._K_inv is None:
            self._K_inv = torch.cholesky_inverse(self.L)
        return self._K_inv

    def loo_mse(self) -> float:
        """Mean squared leave-one-out error of the posterior mean, in closed form:
        ``y_i - mean_{-i}(x_i) = [K^-1 y]_i / [K^-1]_ii`` (Rasmussen & Williams, eq. 5.12)."""
        r = self.alpha / torch.diagonal(self.K_inv)
        return float(r.square().mean())

    def mean_var(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = kernel(x, self.X, self.inv_ls, self.scale, self.cat)  # m x n
        mean = k @ self.alpha
        v = torch.linalg.solve_triangular(self.L, k.T, upper=False)  # n x m
        var = (self.scale - v.square().sum(0)).clamp_min(1e-12)
        return mean, var

    def mean_var_vjp(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
        """Mean ``m``, variance ``m`` and ``vjp(g_mean, g_var) -> m x d``, the gradient with
        respect to ``x`` of ``sum(g_mean * mean + g_var * var)`` (zero in categorical columns).

        Closed form, no autograd: ``dk_i/dx_j = k'(r_i^2) * 2 (x_j - X_ij) / l_j^2``,
        ``dmean/dk = alpha``, ``dvar/dk = -2 K^-1 k``.
        """
        terms = []  # per kernel term: its inverse lengthscales and dk/d(r^2)
        k = torch.zeros((), dtype=x.dtype, device=x.device)
        for w, msk in components(self.cat):
            il = self.inv_ls if msk is None else self.inv_ls * msk.to(self.inv_ls)
            d2 = sq_dist(x, self.X, il, self.cat)  # m x n
            r = d2.sqrt()
            e = torch.exp(-_SQRT5 * r)
            sw = self.scale * w
            k = k + sw * (1.0 + _SQRT5 * r + (5.0 / 3.0) * d2) * e
            terms.append((il, sw * (-5.0 / 6.0) * (1.0 + _SQRT5 * r) * e))
        mean = k @ self.alpha
        kik = k @ self.K_inv  # m x n: K^-1 k
        raw = self.scale - (k * kik).sum(1)
        var = raw.clamp_min(1e-12)

        def vjp(g_mean: torch.Tensor, g_var: torch.Tensor) -> torch.Tensor:
            g_var = torch.where(raw > 1e-12, g_var, torch.zeros_like(g_var))
            a = g_mean.unsqueeze(1) * self.alpha.unsqueeze(0) - 2.0 * g_var.unsqueeze(1) * kik
            g = torch.zeros_like(x)
            for il, kp in terms:
                c = 2.0 * kp * a
                g = g + (x * c.sum(1, keepdim=True) - c @ self.X) * il.square()
            return torch.where(self.cat, torch.zeros_like(g), g)

        return mean, var, vjp

    def condition(self, Xp: torch.Tensor, yp: torch.Tensor) -> Posterior:
        """The same GP with extra (fantasy) observations ``Xp: p x d, yp: p``."""
        return Posterior(torch.cat([self.X, Xp]), torch.cat([self.y, yp]), self.theta, self.cat)


def gls_constant(X: torch.Tensor, y: torch.Tensor, theta: np.ndarray, cat: torch.Tensor) -> float:
    """The generalised least-squares constant mean of ``y`` under the GP ``theta``:
    ``1' K^-1 y / 1' K^-1 1`` (the MAP of a constant prior mean with a flat prior)."""
    L = Posterior(X, y, torch.from_numpy(np.asarray(theta, dtype=float)).to(X.dtype), cat).L
    k1 = torch.cholesky_solve(torch.ones(len(y), 1, dtype=y.dtype, device=y.device), L).squeeze(-1)
    return float(k1 @ y / k1.sum())
