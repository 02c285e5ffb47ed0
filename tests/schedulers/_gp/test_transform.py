"""The output transforms for losses that span decades (``_gp.transform``, ``warp.TRANSFORM``)."""

import math

import numpy as np
import pytest

from torchsearch.schedulers._gp import warp as warp_mod
from torchsearch.schedulers._gp.transform import LogMap, RankMap, copula_scores, spans_decades
from torchsearch.schedulers._gp.warp import OutputWarp


def _decades(n=40, seed=0):
    # Zakharov-like: losses log-uniform over nine decades
    return 10.0 ** np.random.default_rng(seed).uniform(0, 9, size=n)


def test_spans_decades_is_the_ratio_of_the_range_to_the_median_distance():
    # (max - min) / (median - min): 29 is below the rule's 30, 31 above it
    assert not spans_decades(np.array([1.0, 2.0, 30.0]))
    assert spans_decades(np.array([1.0, 2.0, 32.0]))
    assert spans_decades(np.array([1.0, 2.0, 32.0]), ratio=40) is False
    # no scale to compare: the median is the best loss; too few losses; not finite
    assert not spans_decades(np.array([0.0, 0.0, 0.0, 5.0, 100.0]))
    assert not spans_decades(np.array([1.0, 1e9]))
    assert not spans_decades(np.array([1.0, 2.0, math.inf]))
    assert spans_decades(_decades())
    assert not spans_decades(np.random.default_rng(0).normal(size=60))


def test_copula_scores_average_ties_and_are_symmetric():
    z = copula_scores(np.array([3.0, 1.0, 2.0, 2.0]))
    # ranks 4, 1, 2.5, 2.5 of 4: Phi^-1(0.875), Phi^-1(0.125), 0, 0
    np.testing.assert_allclose(z, [1.1503493803760083, -1.1503493803760083, 0.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("cls", [LogMap, RankMap])
def test_maps_are_monotone_and_invert_on_and_off_the_fitted_losses(cls):
    y = _decades()
    m = cls(y)
    z = m(y)
    assert np.all(np.diff(z[np.argsort(y)]) > 0)  # strictly: no two distinct losses merge
    np.testing.assert_allclose(m.inverse(z), y, rtol=1e-9)
    grid = np.linspace(y.min(), y.max(), 101)
    assert np.all(np.diff(m(grid)) > 0)
    np.testing.assert_allclose(m.inverse(m(grid)), grid, rtol=1e-9)


def test_log_map_offset_is_a_fraction_of_the_median_distance_and_never_zero():
    y = np.array([2.0, 3.0, 4.0, 102.0])
    assert LogMap(y, frac=0.1).delta == pytest.approx(0.1 * (3.5 - 2.0))
    assert LogMap(np.array([2.0, 2.0, 2.0, 7.0]), frac=0.1).delta == pytest.approx(0.5)
    assert LogMap(np.array([2.0, 2.0]), frac=0.1).delta == 1.0
    with pytest.raises(ValueError, match=r"frac must be > 0, got frac=0"):
        LogMap(y, frac=0)


@pytest.mark.parametrize("kind", ["log", "log_tail", "log_outlier", "copula", "copula_decades"])
def test_each_transform_keeps_the_best_and_round_trips_through_the_warp(monkeypatch, kind):
    monkeypatch.setattr(warp_mod, "TRANSFORM", kind)
    y = _decades()
    w = OutputWarp(y)
    assert w.pre is not None  # these losses span decades: every variant transforms them
    z = w(y)
    assert z[int(np.argmin(y))] == z.min()  # the best stays the best (ties allowed)
    assert np.all(np.diff(z[np.argsort(y)]) > 0)
    assert abs(z.mean()) < 1e-9 and abs(z.std() - 1) < 1e-9
    np.testing.assert_allclose(w.inverse(z), y, rtol=1e-7)
    out = w.inverse(np.array([-50.0, 50.0]))  # far outside: finite, in the widened range
    assert np.all(np.isfinite(out)) and out[0] >= w.lo and out[1] <= w.hi


@pytest.mark.parametrize("kind", ["log", "log_tail", "log_outlier", "copula_decades"])
def test_decades_transforms_leave_ordinary_losses_to_the_tail_rule(monkeypatch, kind):
    monkeypatch.setattr(warp_mod, "TRANSFORM", kind)
    y = np.array([116.0, 18.0, 40.0, 17.0, 11.5, 129.0, 4.0, 19.0, 286.0, 0.5])  # ratio 15.6
    w = OutputWarp(y)
    assert w.pre is None and w.lam == 1.0
    np.testing.assert_allclose(w(y), (y - y.mean()) / y.std(), atol=1e-12)


def test_log_outlier_needs_both_decades_and_a_heavy_bad_tail(monkeypatch):
    monkeypatch.setattr(warp_mod, "TRANSFORM", "log_outlier")
    # spans decades (ratio 99) but the worst is 3.5 sd above the mean: no outlier, left linear
    y = np.concatenate([[0.0], np.full(5, 1.0), np.full(4, 99.0)])
    assert spans_decades(y) and (y.max() - y.mean()) / y.std() < 4
    w = OutputWarp(y)
    assert w.pre is None and w.lam == 1.0
    # both: the log map, and no power transform after it
    w = OutputWarp(_decades())
    assert isinstance(w.pre, LogMap) and w.lam == 1.0


def test_the_log_transform_resolves_the_good_losses_the_tail_warp_flattens(monkeypatch):
    # Over nine decades, the tail warp leaves the best 20 of 40 losses within 0.015 standard
    # deviations of each other (the GP sees a flat floor); the log transform spreads them over
    # 0.8 (its offset, 5% of the median's distance, still merges the lowest few), the ranks over 2.2.
    y = _decades()
    best = np.argsort(y)[:20]
    monkeypatch.setattr(warp_mod, "TRANSFORM", "tail")
    tail = OutputWarp(y)(y)[best]
    monkeypatch.setattr(warp_mod, "TRANSFORM", "log")
    logged = OutputWarp(y)(y)[best]
    monkeypatch.setattr(warp_mod, "TRANSFORM", "copula")
    ranked = OutputWarp(y)(y)[best]
    assert np.ptp(tail) < 0.02
    assert np.ptp(logged) > 0.5
    assert np.ptp(ranked) > 2.0


def test_unknown_transform_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(warp_mod, "TRANSFORM", "sqrt")
    with pytest.raises(ValueError, match=r"TRANSFORM must be one of .*'copula'.*got 'sqrt'"):
        OutputWarp(np.arange(5.0))


@pytest.mark.parametrize("kind", ["tail", "log", "copula"])
def test_failed_trials_and_inf_go_through_the_transform(monkeypatch, kind):
    # a failed trial is fitted at FAILED_QUANTILE of the finite losses, then transformed
    from torchsearch.schedulers import bayes as bayes_mod

    monkeypatch.setattr(warp_mod, "TRANSFORM", kind)
    b = bayes_mod.Bayes(seed=0)
    y = np.concatenate([_decades(20), [math.inf, -math.inf]])
    w, ys = b._targets(y)
    assert np.all(np.isfinite(ys))
    assert ys[-2] == pytest.approx(float(w(np.array([np.quantile(y[:20], bayes_mod.FAILED_QUANTILE)]))[0]))
    assert ys[-1] == pytest.approx(float(ys[:20].min()))


def test_losses_near_1e300_are_standardised_without_overflow():
    # a diverged run reports losses near 1e300: y.std() overflows to inf, which used to leave the
    # model's targets unscaled (1e300s) and numpy warning about overflow at every suggestion
    import warnings

    y = np.concatenate([10.0 ** np.random.default_rng(1).uniform(0, 300, size=30), [1e300, 3e299]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow RuntimeWarning fails the test
        w = OutputWarp(y)
        z = w(y)
    assert np.all(np.isfinite(z))
    assert z.std() == pytest.approx(1.0, rel=1e-6)
    assert z[int(np.argmin(y))] == z.min()  # the best stays the best (ties allowed)
    assert w.pre is not None  # the losses span decades with a heavy tail: the log scale applies


def test_the_overflow_guard_leaves_ordinary_losses_bit_identical():
    from torchsearch.schedulers._gp.warp import _mean_sd

    y = np.random.default_rng(2).normal(size=50) * 1e3 + 7.0
    assert _mean_sd(y) == (float(y.mean()), float(y.std()))
