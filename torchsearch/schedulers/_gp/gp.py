"""Exact Gaussian-process regression with a Matern-5/2 ARD kernel, fitted by MAP.

Shapes: ``X: n x d`` encoded inputs, ``y: n`` standardised outputs (zero mean, unit variance),
``x: m x d`` query points. Hyperparameters travel as one vector ``theta`` (log scale):

    theta = [log lengthscale_1 .. log lengthscale_d, log signal variance, log noise variance]

Priors (on the log values, so the densities are normal):

- lengthscales: log-normal with median ``exp(sqrt(2) + log(d) / 2)`` and log-sd ``sqrt(3)``,
  the dimension-scaled prior of Hvarfner et al. (2024): smooth models unless the data insist;
- signal variance: log-normal around 1 (the outputs are standardised);
- noise variance: log-normal with median ``1e-4`` and log-sd 3, bounded below by ``1e-6``:
  near-interpolation for deterministic objectives, learnt from the data for noisy ones.

The fit maximises ``log p(y | X, theta) + log p(theta)`` with scipy's L-BFGS-B on autograd
gradients, warm-started from the previous fit when one is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize

from .kernel import kernel

__all__ = ["Posterior", "fit_hyperparameters", "default_theta", "theta_bounds"]

_LOG_NOISE_MIN = math.log(1e-6)
_NOISE_PRIOR = (math.log(1e-4), 3.0)
_SCALE_PRIOR = (0.0, 1.0)
_LOG2PI = math.log(2.0 * math.pi)


def _ls_prior(d: int) -> tuple[float, float]:
    return math.sqrt(2.0) + 0.5 * math.log(d), math.sqrt(3.0)


def default_theta(d: int) -> np.ndarray:
    """The prior medians: the starting point of a first fit (shape ``d + 2``)."""
    return np.array([_ls_prior(d)[0]] * d + [_SCALE_PRIOR[0], _NOISE_PRIOR[0]])


def theta_bounds(d: int) -> list[tuple[float, float]]:
    return [(math.log(1e-3), math.log(1e3))] * d + [(math.log(1e-3), math.log(1e2)), (_LOG_NOISE_MIN, 0.0)]


def _neg_log_prior(theta: torch.Tensor, d: int) -> torch.Tensor:
    mu, sd = _ls_prior(d)
    nlp = ((theta[:d] - mu) / sd).square().sum() / 2
    nlp = nlp + ((theta[d] - _SCALE_PRIOR[0]) / _SCALE_PRIOR[1]).square() / 2
    return nlp + ((theta[d + 1] - _NOISE_PRIOR[0]) / _NOISE_PRIOR[1]).square() / 2


def neg_log_posterior(theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
    """``-log p(y | X, theta) - log p(theta)`` (up to a constant); ``inf`` when K is not PD."""
    n, d = X.shape
    K = kernel(X, X, torch.exp(-theta[:d]), torch.exp(theta[d]), cat)
    K = K + (torch.exp(theta[d + 1]) + 1e-9) * torch.eye(n, dtype=X.dtype, device=X.device)
    L, info = torch.linalg.cholesky_ex(K)
    if int(info) != 0:
        return torch.tensor(math.inf, dtype=X.dtype, device=X.device)
    a = torch.linalg.solve_triangular(L, y.unsqueeze(-1), upper=False).squeeze(-1)
    nll = 0.5 * a.square().sum() + torch.log(torch.diagonal(L)).sum() + 0.5 * n * _LOG2PI
    return nll + _neg_log_prior(theta, d)


def fit_hyperparameters(
    X: torch.Tensor, y: torch.Tensor, cat: torch.Tensor, *, init: np.ndarray | None = None,
    max_iter: int = 200,
) -> np.ndarray:
    """MAP hyperparameters ``theta`` (numpy, ``d + 2``) by L-BFGS-B.

    Starts from ``init`` (a previous fit) or the prior medians, whichever scores better.
    """
    d = X.shape[1]
    bounds = theta_bounds(d)
    lo, hi = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])

    def f(t: np.ndarray) -> tuple[float, np.ndarray]:
        th = torch.tensor(t, dtype=X.dtype, device=X.device, requires_grad=True)
        v = neg_log_posterior(th, X, y, cat)
        if not torch.isfinite(v):
            return 1e20, np.zeros_like(t)
        (g,) = torch.autograd.grad(v, th)
        return float(v.detach()), g.cpu().numpy()

    starts = [default_theta(d)]
    if init is not None and init.shape == (d + 2,) and np.all(np.isfinite(init)):
        starts.append(np.clip(init, lo, hi))
    with torch.no_grad():
        scores = [float(neg_log_posterior(torch.tensor(s, dtype=X.dtype, device=X.device), X, y, cat))
                  for s in starts]
    x0 = starts[int(np.argmin(scores))]
    res = minimize(f, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": max_iter, "gtol": 1e-5})
    theta = np.asarray(res.x, dtype=float)
    return theta if np.all(np.isfinite(theta)) and res.fun < 1e19 else x0


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

    def mean_var(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k = kernel(x, self.X, self.inv_ls, self.scale, self.cat)  # m x n
        mean = k @ self.alpha
        v = torch.linalg.solve_triangular(self.L, k.T, upper=False)  # n x m
        var = (self.scale - v.square().sum(0)).clamp_min(1e-12)
        return mean, var

    def condition(self, Xp: torch.Tensor, yp: torch.Tensor) -> Posterior:
        """The same GP with extra (fantasy) observations ``Xp: p x d, yp: p``."""
        return Posterior(torch.cat([self.X, Xp]), torch.cat([self.y, yp]), self.theta, self.cat)
