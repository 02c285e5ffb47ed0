"""ASHA's cutoff rules: "top" (the paper's best n // reduction) and "quantile" (Ray Tune's
ASHAScheduler: at least the 1 - 1/reduction quantile of the other trials at the rung)."""

from __future__ import annotations

import numpy as np
import pytest

from torchsearch.pruners import ASHA, Hyperband
from torchsearch.pruners._hook import from_config
from torchsearch.pruners._rungs import Ladder

from tests.pruners._ready import ready


def make(mode="max", **kw):
    return ready(ASHA, mode, **kw)


def test_a_cutoff_rule_not_known_is_named():
    with pytest.raises(ValueError, match=r"ASHA: cutoff must be one of 'top', 'quantile', got cutoff='median'"):
        ASHA(cutoff="median")
    with pytest.raises(ValueError, match=r"Hyperband: cutoff must be one of 'top', 'quantile', got cutoff=None"):
        Hyperband(cutoff=None)


def test_quantile_rule_keeps_a_trial_at_the_interpolated_quantile_of_the_others():
    p = make(promote=False, cutoff="quantile")
    assert p.on_report(0, 1, 0.5).action == "continue"   # alone: nothing to compare with
    assert p.on_report(1, 1, 0.9).action == "continue"   # 0.9 >= 0.5
    d = p.on_report(2, 1, 0.7)                           # others 0.5, 0.9: quantile 0.5 + 2/3 * 0.4 = 0.7667
    assert d.action == "stop" and d.code == "pruned"
    assert d.reason == "ASHA: accuracy 0.7 at epoch 1 is below the 0.67 quantile of the other 2 trials at rung 1 (0.7667)"
    assert p.on_report(3, 1, 0.6).action == "stop"       # others .5 .7 .9: 0.7667 again
    assert p.on_report(4, 1, 0.8).action == "continue"   # others .5 .6 .7 .9: exactly 0.7


def test_the_same_reports_under_the_papers_rule_keep_only_the_best_of_five():
    p = make(promote=False)
    actions = [p.on_report(n, 1, v).action for n, v in enumerate([0.5, 0.9, 0.7, 0.6, 0.8])]
    assert actions == ["continue", "continue", "stop", "stop", "stop"]  # 0.8: not the best 5 // 3 = 1


def test_quantile_rule_in_min_mode_says_above():
    p = make(mode="min", promote=False, cutoff="quantile")
    p.on_report(0, 1, 0.2)
    d = p.on_report(1, 1, 0.3)
    assert d.action == "stop"
    assert d.reason == "ASHA: accuracy 0.3 at epoch 1 is above the 0.33 quantile of the other 1 trials at rung 1 (0.2)"


def test_quantile_rule_promotes_every_paused_trial_that_passes_it():
    p = make(cutoff="quantile")
    decisions = [p.on_report(n, 1, v).action for n, v in enumerate([0.5, 0.9, 0.7, 0.6, 0.8])]
    # trials 0, 1 and 4 pass when they report, so each is its own promotion and goes on at once
    assert decisions == ["continue", "continue", "pause", "pause", "continue"]
    assert p.next_promotion() is None  # 0.7 and 0.6 are below the others' 0.8
    assert p.on_report(5, 1, 0.1).action == "pause"
    assert p.next_promotion() is None
    # trial 2 passes once enough weak trials have joined the rung: others .1 .2 .5 .6 .8 .9 -> 0.6667
    assert p.on_report(6, 1, 0.2).action == "pause"
    assert p.next_promotion() == 2
    p.on_resume(2)
    assert p.next_promotion() is None


def test_paper_rule_promotes_its_top_only():
    p = make()
    for n, v in enumerate([0.5, 0.9, 0.7, 0.6, 0.8]):
        p.on_report(n, 1, v)
    promoted = []
    while (n := p.next_promotion()) is not None:
        promoted.append(n)
        p.on_resume(n)
    assert promoted == [1]  # the best 5 // 3 = 1


def test_quantile_rule_is_ray_tunes_asha_decision_for_decision():
    async_hyperband = pytest.importorskip("ray.tune.schedulers.async_hyperband", exc_type=ImportError)  # (ray without [tune] raises ImportError)
    rng = np.random.default_rng(3)
    for trial in range(3):
        bracket = async_hyperband._Bracket(1, 27, 3, 0)
        ours = make(promote=False, cutoff="quantile")
        ours_top = make(promote=False)
        ray_stops = ours_stops = top_differs = 0
        live = set(range(60))
        for epoch in range(1, 27):
            for n in sorted(live):
                v = float(rng.normal(0.5 + 0.01 * n * (-1) ** trial, 0.1))
                ray = bracket.on_result(type("T", (), {"trial_id": n})(), epoch, v)
                mine = ours.on_report(n, epoch, v).action
                assert (ray == "STOP") == (mine == "stop"), (n, epoch, v)
                top_differs += (ours_top.on_report(n, epoch, v).action == "stop") != (mine == "stop")
                if mine == "stop":
                    live.discard(n)
                    ours_stops += 1
        assert ours_stops > 10
        assert top_differs > 0  # the paper's rule decides differently on the same reports


def test_ladder_quantile_matches_numpy_linear_interpolation():
    rng = np.random.default_rng(0)
    lad = Ladder([1], 3, cutoff="quantile")
    values = rng.normal(size=40)
    for n, v in enumerate(values):
        lad.record(0, n, float(v))
    for n in (0, 7, 39):
        others = np.delete(values, n)
        assert lad.cutoff(0, number=n) == pytest.approx(np.percentile(others, 100 / 3))


def test_the_rule_is_stored_and_rebuilt_and_the_default_is_not_written():
    p = make(cutoff="quantile")
    assert p.arguments()["cutoff"] == "quantile"
    assert "cutoff='quantile'" in p.describe()
    rebuilt = from_config(p.config())
    assert isinstance(rebuilt, ASHA) and rebuilt.cutoff == "quantile"
    assert "cutoff" not in make().arguments()  # a study stored before the option reads as "top"
    assert from_config({"kind": "ASHA", "args": {"max_epochs": 27}}).cutoff == "top"
    hb = Hyperband(max_epochs=27, cutoff="quantile")
    hb.setup(mode="max")
    assert all(lad.rule == "quantile" for lad in hb._ladders)
