"""The numpy LogEI-with-gradient of the acquisition search equals the torch reference path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchsearch.schedulers._gp.acquisition import log_ei_grad, log_h
from torchsearch.schedulers._gp.fast import log_ei_with_grad, np_log_h
from torchsearch.schedulers._gp.gp import Posterior


def test_log_h_matches_the_torch_branches_from_the_asymptote_to_large_z():
    z = np.concatenate([-np.logspace(9, -3, 60), np.linspace(-3, 8, 40)])
    np.testing.assert_allclose(np_log_h(z), log_h(torch.from_numpy(z)).numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cat_cols, additive", [((), 0.0), ((3,), 0.0), ((2, 3), 0.0), ((2, 3), 0.7)])
@pytest.mark.parametrize("best", [-1.5, 3.0])  # an incumbent far below the mean: the tail branches
def test_values_and_gradients_equal_the_torch_path(cat_cols, additive, best, monkeypatch):
    import torchsearch.schedulers._gp.kernel as K

    monkeypatch.setattr(K, "CAT_ADDITIVE", additive)  # with two categories: the additive terms
    rng = np.random.default_rng(0)
    n, d = 40, 4
    X = rng.random((n, d))
    cat = np.zeros(d, dtype=bool)
    for j in cat_cols:
        X[:, j] = rng.integers(3, size=n)
        cat[j] = True
    y = rng.normal(size=n)
    theta = torch.tensor([np.log(0.3), np.log(0.5), np.log(0.2), np.log(0.7), 0.1, np.log(1e-4)])
    post = Posterior(torch.from_numpy(X), torch.from_numpy(y), theta, torch.from_numpy(cat))
    x = rng.random((9, d))
    x[0] = X[0]  # at an observation: the variance floor, gradient of the variance dropped
    for j in cat_cols:
        x[:, j] = rng.integers(3, size=len(x))
    a, g = log_ei_with_grad(post, best)(x)
    m, v, vjp = post.mean_var_vjp(torch.from_numpy(x))
    ta, gm, gv = log_ei_grad(m, v, best)
    np.testing.assert_allclose(a, ta.numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(g, vjp(gm, gv).numpy(), rtol=1e-7, atol=1e-7)
    assert np.all(g[:, list(cat_cols)] == 0.0)


def test_log_h_is_finite_and_decreasing_far_in_the_tail():
    # the erfcx form lost its precision near z = -1e7 (log h was NaN there)
    z = -np.logspace(0.1, 12, 200)
    lh = log_h(torch.from_numpy(z)).numpy()
    assert np.all(np.isfinite(lh)) and np.all(np.diff(lh) < 0)
