"""EI and LogEI against the closed formula (scipy.stats.norm), far tails and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm

from torchsearch.schedulers._gp.acquisition import ei, log_ei, log_ei_grad, log_h


def _ei_ref(mean, sd, best):
    z = (best - mean) / sd
    return sd * (z * norm.cdf(z) + norm.pdf(z))


def test_ei_and_log_ei_match_the_closed_formula():
    mean = np.linspace(-3, 3, 41)
    sd = np.linspace(0.1, 2.0, 41)
    best = 0.25
    ref = _ei_ref(mean, sd, best)
    m, v = torch.from_numpy(mean), torch.from_numpy(sd**2)
    np.testing.assert_allclose(ei(m, v, best).numpy(), ref, rtol=1e-10)
    np.testing.assert_allclose(np.exp(log_ei(m, v, best).numpy()), ref, rtol=1e-9)


@pytest.mark.parametrize("z", [-1.0, -1.0 - 1e-9, -3.0, -8.0, -25.0])
def test_log_h_matches_scipy_where_scipy_is_accurate_and_is_continuous(z):
    ref = np.log(norm.pdf(z) + z * norm.cdf(z)) if z > -9 else None
    got = float(log_h(torch.tensor(z, dtype=torch.float64)))
    if ref is not None:
        assert got == pytest.approx(ref, rel=1e-7)
    # asymptote: log h(z) ~ log phi(z) - 2 log|z| for z -> -inf
    if z <= -25:
        assert got == pytest.approx(norm.logpdf(z) - 2 * np.log(-z), abs=1e-2)


def test_log_ei_stays_finite_with_a_useful_gradient_where_ei_underflows():
    mean = torch.tensor([40.0, 60.0, 1e9], dtype=torch.float64, requires_grad=True)
    var = torch.ones(3, dtype=torch.float64)
    assert torch.all(ei(mean.detach(), var, 0.0) == 0)  # plain EI underflows
    a = log_ei(mean, var, 0.0)
    assert torch.all(torch.isfinite(a)) and a[0] > a[1] > a[2]
    (g,) = torch.autograd.grad(a.sum(), mean)
    assert torch.all(torch.isfinite(g)) and torch.all(g < 0)


def test_log_ei_grad_matches_autograd():
    mean = torch.tensor([-2.0, 0.0, 0.5, 3.0, 12.0], dtype=torch.float64, requires_grad=True)
    var = torch.tensor([0.3, 1.0, 2.0, 0.5, 0.7], dtype=torch.float64, requires_grad=True)
    a = log_ei(mean, var, 0.1)
    gm, gv = torch.autograd.grad(a.sum(), (mean, var))
    a2, dm, dv = log_ei_grad(mean.detach(), var.detach(), 0.1)
    np.testing.assert_allclose(a2.numpy(), a.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(dm.numpy(), gm.numpy(), rtol=1e-8)
    np.testing.assert_allclose(dv.numpy(), gv.numpy(), rtol=1e-8)
