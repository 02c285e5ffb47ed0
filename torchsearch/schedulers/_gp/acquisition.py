"""Expected Improvement for minimisation, and its numerically stable logarithm (LogEI).

With posterior mean ``mu``, standard deviation ``sigma`` and incumbent ``best``,
``z = (best - mu) / sigma`` and

    EI = sigma * h(z),   h(z) = phi(z) + z * Phi(z).

``log h`` is computed without cancellation for very negative ``z`` (Ament et al., 2023):
for ``z < -1``, ``h(z) = phi(z) * (1 - |z| sqrt(pi/2) erfcx(|z| / sqrt2))``, evaluated through
``log1mexp``; below ``-1e4`` the asymptote ``log phi(z) - 2 log|z|`` takes over. So the
acquisition keeps a useful gradient where plain EI underflows to zero.
"""

from __future__ import annotations

import math

import torch

__all__ = ["ei", "log_ei", "log_ei_grad", "log_h"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_SQRT_PI_2 = 0.5 * math.log(math.pi / 2.0)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
# below this z the asymptote (relative error 3 / z^2 in h, 3e-8 here); the erfcx branch loses
# its precision further out (1 - exp(w) rounds to <= 0 near z = -1e7: log h was NaN there)
_ASYMPTOTE = -1e4


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for ``x < 0``."""
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def log_h(z: torch.Tensor) -> torch.Tensor:
    """``log(phi(z) + z Phi(z))``, stable for every finite ``z``."""
    big = _ASYMPTOTE
    # branch 1: z > -1, direct
    z1 = z.clamp_min(-1.0)
    h1 = torch.exp(-0.5 * z1.square() - _LOG_SQRT_2PI) + z1 * torch.special.ndtr(z1)
    out1 = torch.log(h1)
    if bool((z > -1.0).all()):  # common near the incumbent: skip the tail branches
        return out1
    # branch 2: big < z <= -1, through erfcx
    z2 = z.clamp(big, -1.0)
    log_phi2 = -0.5 * z2.square() - _LOG_SQRT_2PI
    w = torch.log(-z2) + torch.log(torch.special.erfcx(-z2 * _INV_SQRT2)) + _LOG_SQRT_PI_2
    out2 = log_phi2 + _log1mexp(w)
    # branch 3: z <= big, asymptote
    z3 = z.clamp_max(big)
    out3 = -0.5 * z3.square() - _LOG_SQRT_2PI - 2.0 * torch.log(-z3)
    return torch.where(z > -1.0, out1, torch.where(z > big, out2, out3))


def log_ei(mean: torch.Tensor, var: torch.Tensor, best: float | torch.Tensor) -> torch.Tensor:
    """``log EI`` for minimisation (lower is better); ``var`` is the latent variance."""
    sigma = var.sqrt()
    return log_h((best - mean) / sigma) + torch.log(sigma)


def log_ei_grad(
    mean: torch.Tensor, var: torch.Tensor, best: float | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``log EI`` and its partial derivatives with respect to ``mean`` and ``var``.

    ``d log h / dz = Phi(z) / h(z)``, computed as ``exp(log Phi(z) - log h(z))``.
    """
    sigma = var.sqrt()
    z = (best - mean) / sigma
    lh = log_h(z)
    g = torch.exp(torch.special.log_ndtr(z) - lh)
    d_mean = -g / sigma
    d_sigma = (1.0 - g * z) / sigma
    return lh + torch.log(sigma), d_mean, d_sigma / (2.0 * sigma)


def ei(mean: torch.Tensor, var: torch.Tensor, best: float | torch.Tensor) -> torch.Tensor:
    """Plain EI for minimisation (underflows to 0 far from the incumbent; use for plots)."""
    sigma = var.sqrt()
    z = (best - mean) / sigma
    return sigma * (torch.exp(-0.5 * z.square() - _LOG_SQRT_2PI) + z * torch.special.ndtr(z))
