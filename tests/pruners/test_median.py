"""Median: the median stopping rule on the trial's best value so far."""

from __future__ import annotations

import pytest

from torchsearch.pruners import Median

from tests.pruners._ready import ready


def make(mode="max", **kw):
    return ready(Median, mode, max_epochs=None, **kw)


@pytest.mark.parametrize("kw, match", [
    ({"warmup": -1}, r"Median: warmup must be an int >= 0, got warmup=-1"),
    ({"min_trials": 0}, r"Median: min_trials must be an int >= 1, got min_trials=0"),
    ({"min_trials": 2.0}, r"min_trials=2.0"),
])
def test_bad_arguments_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        Median(**kw)


def test_no_trial_is_judged_before_min_trials_others_reported_at_the_step():
    p = make(min_trials=3)
    for n, v in enumerate([0.9, 0.8, 0.7]):
        assert p.on_report(n, 1, v).action == "continue"
    d = p.on_report(3, 1, 0.1)  # three others at epoch 1, median 0.8
    assert d.action == "stop" and d.code == "pruned"
    assert d.reason == "Median: accuracy 0.1 (its best by epoch 1) is below the median 0.8 of 3 other trials at epoch 1"
    assert p.on_report(4, 2, 0.1).action == "continue"  # nobody else at epoch 2 yet


def test_the_trial_is_judged_on_its_best_value_so_far():
    p = make(min_trials=2)
    p.on_report(0, 1, 0.9)
    p.on_report(0, 2, 0.5)
    p.on_report(1, 2, 0.6)
    p.on_report(2, 1, 0.95)
    p.on_report(3, 2, 0.7)
    # trial 2 reports 0.4 at epoch 2: others there are 0.5, 0.6, 0.7 (median 0.6); its best is 0.95
    assert p.on_report(2, 2, 0.4).action == "continue"


def test_min_mode_says_above_and_ties_with_the_median_go_on():
    p = make(mode="min", min_trials=2)
    p.on_report(0, 1, 1.0)
    p.on_report(1, 1, 2.0)
    assert p.on_report(2, 1, 1.5).action == "continue"  # the median of 1.0 and 2.0
    d = p.on_report(3, 1, 3.0)
    assert d.reason == "Median: accuracy 3 (its best by epoch 1) is above the median 1.5 of 3 other trials at epoch 1"


def test_warmup_epochs_are_never_judged_and_quiet():
    p = make(warmup=3, min_trials=1)
    p.on_report(0, 1, 0.9)
    p.on_report(0, 2, 0.9)
    assert p.on_report(1, 1, 0.1).action == "continue"
    assert p.quiet_reports(1) == 0  # one report: its stride is unknown
    assert p.on_report(1, 2, 0.1).action == "continue"
    assert p.quiet_reports(1) == 1  # epoch 3 is still warmup
    p.on_report(0, 4, 0.9)
    assert p.on_report(1, 4, 0.1).action == "stop"
    assert p.quiet_reports(0) == 0


def test_finished_trials_count_and_interrupted_ones_are_forgotten():
    p = make(min_trials=2)
    p.on_report(0, 1, 0.9)
    p.on_complete(0, 0.9, "completed")
    p.on_report(1, 1, 0.8)
    p.on_complete(1, None, "interrupted")
    assert p.on_report(2, 1, 0.1).action == "continue"  # only trial 0 counts
    p.on_report(3, 1, 0.7)
    assert p.on_report(2, 1, 0.1).action == "stop"
    assert p.on_report(0, 2, 0.0).action == "continue"  # an ended trial is never judged


def test_rebuilt_from_stored_reports_it_decides_as_before():
    live, rebuilt = make(min_trials=2), make(min_trials=2)
    history = {0: {1: 0.9, 2: 0.92}, 1: {1: 0.8}, 2: {1: 0.3}}
    for n, values in history.items():
        for s, v in values.items():
            live.on_report(n, s, v)
        rebuilt.on_restore(n, values, "paused" if n == 2 else "stopped")
    for p in (live, rebuilt):
        assert p.on_report(2, 2, 0.35).action == "continue"  # trial 0 alone at epoch 2
        assert p.on_report(3, 1, 0.5).action == "stop"        # median of 0.9, 0.8, 0.3


def test_the_median_of_the_others_matches_a_plain_median_on_random_reports():
    import random
    import statistics

    rnd = random.Random(0)
    p = make(mode="min", min_trials=1)
    at_step: dict[int, float] = {}
    for n in range(60):
        v = rnd.choice([rnd.random(), 0.5])  # ties included
        others = list(at_step.values())
        d = p.on_report(n, 1, v)
        at_step[n] = v
        if others:
            assert (d.action == "stop") == (v > statistics.median(others)), (n, v)
