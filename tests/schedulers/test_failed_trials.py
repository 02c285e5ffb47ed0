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


def fails_above_half(p):
    return math.nan if p["x"] > 0.5 else p["x"]


def diverges_at_high_lr(p):
    if p["lr"] > 0.1:
        return math.nan
    return (math.log10(p["lr"]) + 1.5) ** 2 + (p["m"] - 0.5) ** 2


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
    space = Space({"x": ts.Float(0, 1)})
    s = cls(n_startup=2, seed=0)
    s.setup(space, mode="min")
    s.on_trial_start(0, {"x": 0.2})
    s.on_complete(0, 0.2, "completed")
    s.on_trial_start(1, {"x": 0.3})
    s.on_complete(1, 0.3, "completed")
    for i, x in enumerate((0.75, 0.85, 0.95, 0.65), start=2):
        s.on_trial_start(i, {"x": x})
        s.on_complete(i, math.nan, "failed")
    picks = []
    for i in range(6, 12):
        p = s.suggest()
        picks.append(p["x"])
        s.on_trial_start(i, p)
        s.on_complete(i, p["x"], "completed")
    assert max(picks) < 0.65, picks


def test_an_interrupted_trial_is_not_taken_for_a_failed_one():
    space = Space({"x": ts.Float(0, 1)})
    b = Bayes(n_startup=1, seed=0)
    b.setup(space, mode="min")
    b.on_trial_start(0, {"x": 0.2})
    b.on_complete(0, 0.2, "completed")
    b.on_trial_start(1, {"x": 0.9})
    b.on_complete(1, None, "interrupted")  # the study runs it again: no evidence about x = 0.9
    b.on_trial_start(2, {"x": 0.7})
    b.on_complete(2, math.nan, "failed")
    assert b._training()[0] == [0, 2]
    # the failed trial is fitted as the worst loss, and is no observation of a value
    assert [obs[0]["x"] for obs in b.surrogate().observations] == [0.2]


def test_only_failed_trials_keep_the_start_up_going():
    space = Space({"x": ts.Float(0, 1)})
    b = Bayes(n_startup=1, seed=0)
    b.setup(space, mode="min")
    for i, x in enumerate((0.9, 0.8)):
        b.on_trial_start(i, {"x": x})
        b.on_complete(i, math.nan, "failed")
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
