"""Model-based schedulers learn from failed trials: a region where trials fail (a learning rate
that makes the loss NaN) is not suggested again and again.

Before: Bayes left failed trials out of its fit, so with one finished trial its EI kept pointing
at the failing edge (1 of 30 trials finished on the first objective below); TPE left them out of
its bad group, so l(x) / g(x) was largest where they failed (8 of 30)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import torchsearch as ts
from torchsearch.schedulers import TPE, Bayes
from torchsearch.space import Space

from benchmarks.failed_trials import diverges_at_high_lr, fails_above_half


def told(cls, trials, **kw):
    """A scheduler on ``x`` in [0, 1], told each ``(x, value, state)`` as a finished trial."""
    s = cls(seed=0, **kw)
    s.setup(Space({"x": ts.Float(0, 1)}), mode="min")
    for i, (x, value, state) in enumerate(trials):
        s.on_trial_start(i, {"x": x})
        s.on_complete(i, value, state)
    return s


@pytest.mark.parametrize("cls", [Bayes, TPE])
@pytest.mark.parametrize("objective, space", [
    (fails_above_half, {"x": ts.Float(0, 1)}),
    (diverges_at_high_lr, {"lr": ts.Float(1e-4, 1.0, log=True), "m": ts.Float(0, 1)}),
])
def test_most_trials_leave_the_region_where_trials_fail(cls, objective, space):
    study = ts.optimize(objective, space, scheduler=cls(seed=0), n_trials=30, seed=0)
    states = [t.state for t in study.trials]
    # a random search finishes about half of them on the first objective, 2/3 on the second
    assert states.count("completed") >= 20, states
    assert states.count("completed") + states.count("failed") == 30


@pytest.mark.parametrize("cls", [Bayes, TPE])
def test_a_failed_region_is_avoided_once_the_model_has_started(cls):
    s = told(cls, [(0.2, 0.2, "completed"), (0.3, 0.3, "completed"),
                   *((x, math.nan, "failed") for x in (0.75, 0.85, 0.95, 0.65))], n_startup=2)
    picks = []
    for i in range(6, 12):
        p = s.suggest()
        picks.append(p["x"])
        s.on_trial_start(i, p)
        s.on_complete(i, p["x"], "completed")
    assert max(picks) < 0.65, picks


def test_an_interrupted_trial_is_not_taken_for_a_failed_one():
    # the interrupted trial is run again by the study: no evidence about x = 0.9
    b = told(Bayes, [(0.2, 0.2, "completed"), (0.9, None, "interrupted"), (0.7, math.nan, "failed")],
             n_startup=1)
    assert b._training()[0] == [0, 2]
    # the failed trial is fitted (as a bad loss), and is no observation of a value
    assert [obs[0]["x"] for obs in b.surrogate().observations] == [0.2]


def test_only_failed_trials_keep_the_start_up_going():
    b = told(Bayes, [(0.9, math.nan, "failed"), (0.8, math.nan, "failed")], n_startup=1)
    with pytest.raises(ValueError, match="needs at least one finished trial with a finite value"):
        b.surrogate()
    assert b.suggest() is not None


def test_a_failed_trial_is_fitted_at_the_90th_percentile_of_the_finite_losses():
    b = Bayes(warp=False, seed=0)
    b.setup(Space({"x": ts.Float(0, 1)}), mode="min")
    y = np.array([*range(11), math.inf, -math.inf], dtype=float)  # 0 .. 10, a failed trial, -inf
    _, ys = b._targets(y)
    assert ys[11] == ys[9]  # the 90th percentile of 0 .. 10 is 9: below the worst, 10
    assert ys[12] == ys[0]  # -inf at the best finite loss
