"""The GP math against closed forms: kernel, posterior, marginal-likelihood gradient, fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from torchsearch.schedulers._gp.gp import (
    Posterior,
    _prior_tensors,
    fit_hyperparameters,
    neg_log_posterior_and_grad,
    pair_terms,
)
from torchsearch.schedulers._gp.kernel import kernel


def neg_log_posterior(theta, X, y, cat, prior_cat=None):
    """The textbook formula, differentiated by autograd: the reference for the closed form
    (``prior_cat``: the categorical columns' key for the shifted lengthscale prior)."""
    n, d = X.shape
    K = kernel(X, X, torch.exp(-theta[:d]), torch.exp(theta[d]), cat)
    K = K + (torch.exp(theta[d + 1]) + 1e-9) * torch.eye(n, dtype=X.dtype)
    L = torch.linalg.cholesky(K)
    a = torch.linalg.solve_triangular(L, y.unsqueeze(-1), upper=False).squeeze(-1)
    nll = 0.5 * a.square().sum() + torch.log(torch.diagonal(L)).sum() + 0.5 * n * math.log(2 * math.pi)
    mu, sd = _prior_tensors(d, X.dtype, X.device, None, prior_cat)
    return nll + 0.5 * ((theta - mu) / sd).square().sum()


def _matern52_numpy(a, b, ls, scale, cat):
    """Direct formula, one pair at a time."""
    out = np.zeros((len(a), len(b)))
    for i, u in enumerate(a):
        for j, v in enumerate(b):
            r2 = sum(((u[k] - v[k]) / ls[k]) ** 2 if not cat[k] else float(u[k] != v[k]) / ls[k] ** 2
                     for k in range(len(ls)))
            r = math.sqrt(r2)
            out[i, j] = scale * (1 + math.sqrt(5) * r + 5 / 3 * r2) * math.exp(-math.sqrt(5) * r)
    return out


@pytest.fixture
def tiny():
    rng = np.random.default_rng(0)
    X = rng.random((6, 3))
    X[:, 2] = rng.integers(0, 3, size=6)
    y = rng.normal(size=6)
    cat = np.array([False, False, True])
    ls, scale, noise = np.array([0.4, 0.7, 1.3]), 1.7, 1e-3
    theta = np.concatenate([np.log(ls), [math.log(scale), math.log(noise)]])
    return X, y, cat, ls, scale, noise, theta


def test_kernel_matches_the_matern52_formula_with_a_category_term(tiny):
    X, _, cat, ls, scale, _, _ = tiny
    K = kernel(torch.from_numpy(X), torch.from_numpy(X), torch.from_numpy(1 / ls), torch.tensor(scale, dtype=torch.float64),
               torch.from_numpy(cat))
    np.testing.assert_allclose(K.numpy(), _matern52_numpy(X, X, ls, scale, cat), rtol=1e-12)


def test_posterior_mean_and_variance_match_a_direct_cholesky_solution(tiny):
    X, y, cat, ls, scale, noise, theta = tiny
    xs = np.random.default_rng(1).random((4, 3))
    xs[:, 2] = [0, 1, 2, 1]
    K = _matern52_numpy(X, X, ls, scale, cat) + (noise + 1e-9) * np.eye(len(X))
    L = np.linalg.cholesky(K)
    ks = _matern52_numpy(xs, X, ls, scale, cat)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
    v = np.linalg.solve(L, ks.T)
    mean_ref, var_ref = ks @ alpha, scale - (v**2).sum(0)

    post = Posterior(torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(theta), torch.from_numpy(cat))
    mean, var = post.mean_var(torch.from_numpy(xs))
    np.testing.assert_allclose(mean.numpy(), mean_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(var.numpy(), var_ref, rtol=1e-10, atol=1e-12)
    mean2, var2, _ = post.mean_var_vjp(torch.from_numpy(xs))
    np.testing.assert_allclose(mean2.numpy(), mean_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(var2.numpy(), var_ref, rtol=1e-10, atol=1e-12)


def test_posterior_interpolates_noise_free_observations(tiny):
    X, y, cat, _, _, _, theta = tiny
    theta = theta.copy()
    theta[-1] = math.log(1e-9)
    post = Posterior(torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(theta), torch.from_numpy(cat))
    mean, var = post.mean_var(torch.from_numpy(X))
    np.testing.assert_allclose(mean.numpy(), y, atol=1e-5)
    assert var.max() < 1e-5


def test_closed_form_gradients_match_autograd(tiny):
    X, y, cat, _, _, _, theta = tiny
    Xt, yt, ct = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(cat)
    th = torch.tensor(theta, requires_grad=True)
    v = neg_log_posterior(th, Xt, yt, ct)
    (g,) = torch.autograd.grad(v, th)
    v2, g2 = neg_log_posterior_and_grad(torch.tensor(theta), pair_terms(Xt, ct), yt)
    assert v2 == pytest.approx(float(v.detach()), rel=1e-12)
    np.testing.assert_allclose(g2.numpy(), g.numpy(), rtol=1e-9, atol=1e-10)

    post = Posterior(Xt, yt, torch.tensor(theta), ct)
    x = torch.tensor([[0.2, 0.9, 1.0], [0.7, 0.1, 0.0]], dtype=torch.float64, requires_grad=True)
    m, var = post.mean_var(x)
    (gx,) = torch.autograd.grad((2.0 * m + 3.0 * var).sum(), x)
    _, _, vjp = post.mean_var_vjp(x.detach())
    g_closed = vjp(torch.full((2,), 2.0, dtype=torch.float64), torch.full((2,), 3.0, dtype=torch.float64))
    np.testing.assert_allclose(g_closed[:, :2].numpy(), gx[:, :2].numpy(), rtol=1e-9, atol=1e-10)
    assert torch.all(g_closed[:, 2] == 0)  # no gradient along a category


def test_fit_finds_shorter_lengthscales_for_a_wigglier_function():
    x = torch.linspace(0, 1, 30, dtype=torch.float64).unsqueeze(1)
    cat = torch.tensor([False])

    def ls(y):
        y = (y - y.mean()) / y.std()
        return math.exp(fit_hyperparameters(x, y, cat)[0])

    assert ls(torch.sin(25 * x[:, 0])) < 0.5 * ls(torch.sin(2 * x[:, 0]))


def test_fit_warm_start_returns_a_point_at_least_as_good(tiny):
    X, y, cat, _, _, _, _ = tiny
    Xt, yt, ct = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(cat)
    D = pair_terms(Xt, ct)
    first = fit_hyperparameters(Xt, yt, ct)
    again = fit_hyperparameters(Xt, yt, ct, init=first)
    f = lambda t: neg_log_posterior_and_grad(torch.from_numpy(t), D, yt)[0]  # noqa: E731
    assert f(again) <= f(first) + 1e-9


def test_output_warp_compresses_a_heavy_bad_tail_and_is_monotone_and_invertible(monkeypatch):
    from torchsearch.schedulers._gp import warp as warp_mod
    from torchsearch.schedulers._gp.warp import OutputWarp

    monkeypatch.setattr(warp_mod, "TRANSFORM", "tail")  # the power transform alone (the default's other branch)
    rng = np.random.default_rng(0)
    # Rosenbrock-like: most losses in the hundreds, a quarter in the tens of thousands
    y = np.concatenate([rng.exponential(size=29) * 100, rng.exponential(size=10) * 1e4])
    assert ((y - y.mean()) / y.std()).max() > 4.5
    w = OutputWarp(y)
    z = w(y)
    assert w.lam < 0
    assert np.all(np.argsort(z, kind="stable") == np.argsort(y, kind="stable"))  # the best stays the best
    np.testing.assert_allclose(w.inverse(z), y, rtol=1e-9)
    assert abs(z.mean()) < 1e-9 and abs(z.std() - 1) < 1e-9
    assert z.max() < 2.5
    assert np.all(np.isfinite(w.inverse(np.array([-50.0, 50.0]))))


def test_by_default_losses_that_span_decades_with_a_heavy_tail_are_fitted_on_a_log_scale():
    # the default since the tenth session (warp.TRANSFORM = "log_outlier", v33 of the BO suite): the
    # same losses as above span decades and have an outlier, so the log of the distance to the best
    # replaces the power transform; order and inverse are kept
    from torchsearch.schedulers._gp.transform import LogMap
    from torchsearch.schedulers._gp.warp import TRANSFORM, OutputWarp

    assert TRANSFORM == "log_outlier"
    rng = np.random.default_rng(0)
    y = np.concatenate([rng.exponential(size=29) * 100, rng.exponential(size=10) * 1e4])
    w = OutputWarp(y)
    z = w(y)
    assert isinstance(w.pre, LogMap) and w.lam == 1.0
    assert np.all(np.argsort(z, kind="stable") == np.argsort(y, kind="stable"))
    np.testing.assert_allclose(w.inverse(z), y, rtol=1e-9)
    best = np.sort(z)[:10]  # the ten best losses are told apart, not squashed against the floor
    assert best[-1] - best[0] > 0.5


def test_output_warp_leaves_losses_without_outliers_linear():
    from torchsearch.schedulers._gp.warp import OutputWarp

    y = np.array([116.0, 18.0, 40.0, 17.0, 11.5, 129.0, 4.0, 19.0, 286.0, 0.5])
    w = OutputWarp(y)
    assert w.lam == 1.0
    np.testing.assert_allclose(w(y), (y - y.mean()) / y.std(), atol=1e-12)


@pytest.mark.parametrize("log_noise", [math.log(1e-7), math.log(3e-4), -4.0, math.log(0.2)])
def test_noise_mixture_prior_value_and_gradient_match_the_formula(tiny, monkeypatch, log_noise):
    # the two-component noise prior (near-interpolation, or BoTorch's log-normal noise): the
    # value is -log of the mixture density (up to the single prior's constant), the gradient its
    # derivative; checked against autograd of the textbook formula at both modes and between
    from torchsearch.schedulers._gp import gp as gp_mod

    monkeypatch.setattr(gp_mod, "_NOISY_WEIGHT", 0.3)
    X, y, cat, _, _, _, theta = tiny
    theta = theta.copy()
    theta[-1] = log_noise
    Xt, yt, ct = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(cat)
    d = X.shape[1]
    th = torch.tensor(theta, requires_grad=True)
    mu, sd = _prior_tensors(d, Xt.dtype, Xt.device)
    v_single = neg_log_posterior(th, Xt, yt, ct)
    t = th[d + 1]
    comps = [(0.7, *gp_mod._NOISE_PRIOR), (0.3, *gp_mod._NOISY_PRIOR)]
    mix = torch.logsumexp(torch.stack([math.log(w) - math.log(s) - 0.5 * ((t - m) / s) ** 2 for w, m, s in comps]), 0)
    v_ref = v_single - 0.5 * ((t - mu[d + 1]) / sd[d + 1]) ** 2 - mix - math.log(gp_mod._NOISE_PRIOR[1])
    (g_ref,) = torch.autograd.grad(v_ref, th)
    v, g = neg_log_posterior_and_grad(torch.tensor(theta), pair_terms(Xt, ct), yt)
    assert v == pytest.approx(float(v_ref.detach()), rel=1e-10)
    np.testing.assert_allclose(g.numpy(), g_ref.numpy(), rtol=1e-8, atol=1e-10)


def test_noise_mixture_with_zero_weight_is_the_single_prior(tiny, monkeypatch):
    from torchsearch.schedulers._gp import gp as gp_mod

    monkeypatch.setattr(gp_mod, "_NOISY_WEIGHT", 0.0)
    X, y, cat, _, _, _, theta = tiny
    Xt, yt, ct = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(cat)
    ref = float(neg_log_posterior(torch.tensor(theta), Xt, yt, ct))
    assert neg_log_posterior_and_grad(torch.tensor(theta), pair_terms(Xt, ct), yt)[0] == pytest.approx(ref, rel=1e-12)


def test_loo_mse_matches_refitting_without_each_point(tiny):
    # the closed form [K^-1 y]_i / [K^-1]_ii against n posteriors, each without one observation
    X, y, cat, _, _, _, theta = tiny
    Xt, yt, ct, th = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(cat), torch.from_numpy(theta)
    errs = []
    for i in range(len(X)):
        keep = [j for j in range(len(X)) if j != i]
        mean, _ = Posterior(Xt[keep], yt[keep], th, ct).mean_var(Xt[i:i + 1])
        errs.append(float(yt[i] - mean[0]))
    assert Posterior(Xt, yt, th, ct).loo_mse() == pytest.approx(float(np.mean(np.square(errs))), rel=1e-8)


def test_fit_under_another_noise_prior_uses_that_prior(tiny):
    # noise_prior replaces the noise variance's prior (value and gradient), nothing else
    X, y, cat, _, _, _, theta = tiny
    Xt, yt, ct = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(cat)
    D = pair_terms(Xt, ct)
    d = X.shape[1]
    base, gb = neg_log_posterior_and_grad(torch.tensor(theta), D, yt)
    other, go = neg_log_posterior_and_grad(torch.tensor(theta), D, yt, noise_prior=(-4.0, 1.0))
    mu, sd = _prior_tensors(d, Xt.dtype, Xt.device)
    t = theta[d + 1]
    expected = base - 0.5 * ((t - float(mu[d + 1])) / float(sd[d + 1])) ** 2 + 0.5 * (t + 4.0) ** 2
    assert other == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(go[:d + 1].numpy(), gb[:d + 1].numpy(), rtol=1e-12)
    assert float(go[d + 1] - gb[d + 1]) == pytest.approx((t + 4.0) - (t - float(mu[d + 1])) / float(sd[d + 1]) ** 2)


def test_a_profiled_constant_mean_is_the_gls_constant_and_its_gradient_is_the_total_one(tiny):
    from torchsearch.schedulers._gp.gp import gls_constant

    X, y, cat, _, _, _, theta = tiny
    Xt, yt, ct = torch.from_numpy(X), torch.from_numpy(y + 5.0), torch.from_numpy(cat)

    def profiled(th):  # autograd through c(theta): the total derivative
        n, d = Xt.shape
        K = kernel(Xt, Xt, torch.exp(-th[:d]), torch.exp(th[d]), ct)
        K = K + (torch.exp(th[d + 1]) + 1e-9) * torch.eye(n, dtype=Xt.dtype)
        k1 = torch.linalg.solve(K, torch.ones(n, dtype=Xt.dtype))
        c = (k1 @ yt) / k1.sum()
        return neg_log_posterior(th, Xt, yt - c, ct), c

    th = torch.tensor(theta, requires_grad=True)
    v, c = profiled(th)
    (g,) = torch.autograd.grad(v, th)
    v2, g2 = neg_log_posterior_and_grad(torch.tensor(theta), pair_terms(Xt, ct), yt, const_mean=True)
    assert v2 == pytest.approx(float(v.detach()), rel=1e-12)
    np.testing.assert_allclose(g2.numpy(), g.numpy(), rtol=1e-8, atol=1e-9)
    assert gls_constant(Xt, yt, theta, ct) == pytest.approx(float(c.detach()), rel=1e-12)
    # the constant soaks up an offset the zero-mean model must explain with its signal variance
    assert abs(float(c.detach()) - 5.0) < 2.0
    plain = fit_hyperparameters(Xt, yt, ct)
    prof = fit_hyperparameters(Xt, yt, ct, const_mean=True)
    assert prof[3] < plain[3]


def test_a_warp_offset_moves_the_models_zero_and_inverse_adds_it_back():
    from torchsearch.schedulers._gp.warp import OutputWarp

    y = np.random.default_rng(3).normal(size=20) ** 2
    w = OutputWarp(y)
    z = w(y)
    w.offset(0.7)
    np.testing.assert_allclose(w(y), z - 0.7, rtol=0, atol=1e-12)
    np.testing.assert_allclose(w.inverse(w(y)), y, rtol=1e-9, atol=1e-9)


def test_by_default_the_gp_has_a_constant_mean_and_the_lengthscale_prior_pulls_where_botorchs_does():
    # the defaults since the eleventh session (v44 of the BO suite, RESULTS.md "Seventh session"):
    # a profiled constant mean, and the log-normal prior's pull at its mode exp(mu - 3), not exp(mu)
    from torchsearch.schedulers import bayes
    from torchsearch.schedulers._gp import gp

    assert bayes.CONST_MEAN == "profile"
    assert gp.LS_PRIOR_SHIFT == 3.0
    mu, sd = gp._ls_prior(5)
    assert math.exp(mu) == pytest.approx(math.exp(math.sqrt(2.0) + 0.5 * math.log(5) - sd ** 2))  # 0.46


def _assert_closed_form_matches_autograd(theta, Xt, yt, ct, key):
    """The closed-form value and gradient (categorical prior key ``key``) equal the textbook's."""
    th = torch.tensor(theta, requires_grad=True)
    v = neg_log_posterior(th, Xt, yt, ct, prior_cat=key)
    (g,) = torch.autograd.grad(v, th)
    v2, g2 = neg_log_posterior_and_grad(torch.tensor(theta), pair_terms(Xt, ct), yt, cat=key)
    assert v2 == pytest.approx(float(v.detach()), rel=1e-12)
    np.testing.assert_allclose(g2.numpy(), g.numpy(), rtol=1e-9, atol=1e-10)


def test_a_categorical_columns_lengthscale_prior_sits_higher_and_the_gradient_still_matches(tiny, monkeypatch):
    # a k-way mismatch counts (k-1)/k where an ordered column's squared distance averages 1/6,
    # so the categorical column's prior log-mean is CAT_LS_SHIFT higher; nothing else moves
    from torchsearch.schedulers._gp import gp

    X, y, cat, _, _, _, theta = tiny
    key = tuple(bool(c) for c in cat)
    plain_mu, plain_sd = _prior_tensors(X.shape[1], torch.float64, torch.device("cpu"))
    mu, sd = _prior_tensors(X.shape[1], torch.float64, torch.device("cpu"), None, key)
    shift = np.where(np.r_[cat, False, False], gp.CAT_LS_SHIFT, 0.0)
    assert gp.CAT_LS_SHIFT > 0 and cat.any()
    np.testing.assert_allclose((mu - plain_mu).numpy(), shift)
    assert torch.equal(sd, plain_sd)
    # the closed-form gradient under the shifted prior equals autograd's
    Xt, yt, ct = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(cat)
    _assert_closed_form_matches_autograd(theta, Xt, yt, ct, key)


def test_the_categorical_shift_leaves_a_space_without_categories_unchanged(monkeypatch):
    from torchsearch.schedulers._gp import gp

    rng = np.random.default_rng(3)
    X = torch.from_numpy(rng.random((15, 3)))
    y = torch.from_numpy(np.sin(6 * X[:, 0].numpy()) + X[:, 1].numpy())
    cat = torch.zeros(3, dtype=torch.bool)
    with_shift = fit_hyperparameters(X, y, cat)
    monkeypatch.setattr(gp, "CAT_LS_SHIFT", 0.0)
    np.testing.assert_array_equal(fit_hyperparameters(X, y, cat), with_shift)
    # and with a category, the shift is what changes the fit
    Xc = X.clone()
    Xc[:, 2] = torch.from_numpy(rng.integers(0, 3, 15).astype(float))
    catc = torch.tensor([False, False, True])
    plain = fit_hyperparameters(Xc, y, catc)
    monkeypatch.setattr(gp, "CAT_LS_SHIFT", 0.75)
    assert fit_hyperparameters(Xc, y, catc)[2] > plain[2]  # the category's log-lengthscale is longer


@pytest.fixture
def two_cats():
    rng = np.random.default_rng(3)
    X = rng.random((9, 4))
    X[:, 2] = rng.integers(0, 3, size=9)
    X[:, 3] = rng.integers(0, 2, size=9)
    y = rng.normal(size=9)
    cat = np.array([False, False, True, True])
    theta = np.array([math.log(0.4), math.log(0.7), math.log(1.3), math.log(0.9), math.log(1.7), math.log(1e-3)])
    return X, y, cat, theta


def test_the_additive_category_kernel_is_its_weighted_terms_each_seeing_one_category(two_cats, monkeypatch):
    import torchsearch.schedulers._gp.kernel as K

    X, _, cat, theta = two_cats
    monkeypatch.setattr(K, "CAT_ADDITIVE", 0.6)
    ls, scale = np.exp(theta[:4]), math.exp(theta[4])
    joint = _matern52_numpy(X, X, ls, scale, cat)
    want = (0.4 * joint  # an infinite lengthscale hides a column: each other term sees one category
            + 0.3 * _matern52_numpy(X, X, ls * np.array([1, 1, 1, np.inf]), scale, cat)
            + 0.3 * _matern52_numpy(X, X, ls * np.array([1, 1, np.inf, 1]), scale, cat))
    assert not np.allclose(want, joint)
    got = kernel(torch.from_numpy(X), torch.from_numpy(X), torch.from_numpy(1.0 / ls),
                 torch.tensor(scale, dtype=torch.float64), torch.from_numpy(cat))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(np.diagonal(got.numpy()), scale)


def test_with_one_category_the_additive_share_changes_nothing(tiny, monkeypatch):
    import torchsearch.schedulers._gp.kernel as K

    X, y, cat, _, _, _, theta = tiny
    Xt, yt, ct = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(cat)
    before = neg_log_posterior_and_grad(torch.tensor(theta), pair_terms(Xt, ct), yt, cat=tuple(cat.tolist()))
    monkeypatch.setattr(K, "CAT_ADDITIVE", 0.9)
    after = neg_log_posterior_and_grad(torch.tensor(theta), pair_terms(Xt, ct), yt, cat=tuple(cat.tolist()))
    assert K.components(ct) == [(1.0, None)]
    assert before[0] == after[0] and torch.equal(before[1], after[1])


@pytest.mark.parametrize("share", [0.0, 0.5, 0.9])
def test_additive_category_kernel_gradients_match_autograd(two_cats, monkeypatch, share):
    import torchsearch.schedulers._gp.kernel as K

    monkeypatch.setattr(K, "CAT_ADDITIVE", share)
    X, y, cat, theta = two_cats
    Xt, yt, ct = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(cat)
    key = tuple(cat.tolist())
    _assert_closed_form_matches_autograd(theta, Xt, yt, ct, key)

    post = Posterior(Xt, yt, torch.tensor(theta), ct)
    x = torch.tensor([[0.2, 0.9, 1.0, 0.0], [0.7, 0.1, 2.0, 1.0]], dtype=torch.float64, requires_grad=True)
    m, var = post.mean_var(x)
    (gx,) = torch.autograd.grad((2.0 * m - 3.0 * var).sum(), x)
    _, _, vjp = post.mean_var_vjp(x.detach())
    g_closed = vjp(torch.full((2,), 2.0, dtype=torch.float64), torch.full((2,), -3.0, dtype=torch.float64))
    np.testing.assert_allclose(g_closed[:, :2].numpy(), gx[:, :2].numpy(), rtol=1e-9, atol=1e-10)


def test_the_additive_share_carries_each_categorys_shift_to_a_pair_never_seen(monkeypatch):
    """f = (x - a[c1] - b[c2])^2: every pair but (c1=1, c2=1) observed along x; the additive share
    predicts that pair's minimum where the two shifts put it, the joint kernel alone does not."""
    import torchsearch.schedulers._gp.kernel as K

    a, b = [0.2, 0.5], [0.0, 0.3]
    xs = np.linspace(0.0, 1.0, 7)
    rows = [(x, i, j) for i in range(2) for j in range(2) if (i, j) != (1, 1) for x in xs]
    X = torch.tensor(rows, dtype=torch.float64)
    y = torch.tensor([(x - a[i] - b[j]) ** 2 * 10 for x, i, j in rows], dtype=torch.float64)
    y = (y - y.mean()) / y.std()
    cat = torch.tensor([False, True, True])
    grid = torch.tensor([(x, 1.0, 1.0) for x in np.linspace(0, 1, 101)], dtype=torch.float64)
    where = {}
    for share in (0.0, 0.9):
        monkeypatch.setattr(K, "CAT_ADDITIVE", share)
        theta = fit_hyperparameters(X, y, cat)
        mean, _ = Posterior(X, y, torch.from_numpy(theta), cat).mean_var(grid)
        where[share] = float(grid[int(torch.argmin(mean)), 0])
    assert abs(where[0.9] - 0.8) < 0.08
    assert abs(where[0.9] - 0.8) < abs(where[0.0] - 0.8)
