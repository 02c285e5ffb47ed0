"""ASHA: rungs, stop-at-report, pause and promotion, the study's end, rebuilding on resume."""

from __future__ import annotations

import pytest

from torchsearch.pruners import ASHA

from tests.pruners._ready import ready


def make(mode="max", **kw):
    return ready(ASHA, mode, **kw)


@pytest.mark.parametrize("kw, match", [
    ({"min_epochs": 0}, r"ASHA: min_epochs must be an int >= 1, got min_epochs=0"),
    ({"reduction": 1}, r"ASHA: reduction must be an int >= 2, got reduction=1"),
    ({"reduction": 2.5}, r"reduction=2.5"),
    ({"max_epochs": 1}, r"ASHA: max_epochs must be greater than min_epochs=1, got max_epochs=1"),
    ({"promote": "yes"}, r"ASHA: promote must be True or False, got promote='yes'"),
])
def test_bad_arguments_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        ASHA(**kw)


def test_setup_without_max_epochs_says_where_to_give_it():
    with pytest.raises(ValueError, match=r"ASHA needs max_epochs .*ASHA\(max_epochs=\.\.\.\) or tune\(epochs=\.\.\.\)"):
        ASHA().setup(mode="max")
    with pytest.raises(ValueError, match=r"max_epochs must be greater than min_epochs=3, got max_epochs=2"):
        ASHA(min_epochs=3).setup(mode="max", max_epochs=2)


def test_rungs_sit_at_min_epochs_times_powers_of_reduction_below_max_epochs():
    assert make().rungs() == [1, 3, 9]
    assert make(max_epochs=30).rungs() == [1, 3, 9, 27]
    assert make(min_epochs=2, reduction=2, max_epochs=20).rungs() == [2, 4, 8, 16]
    p = ASHA(max_epochs=81)
    p.setup(mode="min", max_epochs=9)  # the pruner's own max_epochs wins over the study's
    assert p.rungs() == [1, 3, 9, 27]


def test_stop_variant_stops_at_a_rung_outside_its_top_with_a_checkable_reason():
    p = make(promote=False)
    assert p.on_report(0, 1, 0.9).action == "continue"  # alone: the best of its rung
    d = p.on_report(1, 1, 0.5)
    assert d.action == "stop" and d.code == "pruned"
    assert d.reason == "ASHA: accuracy 0.5 at epoch 1 is below the top 1/3 of rung 1 (0.9; 2 trials)"
    assert p.on_report(2, 1, 0.95).action == "continue"
    assert p.on_report(0, 2, 0.1).action == "continue"  # not a rung: nobody is judged
    assert p.on_report(0, 3, 0.91).action == "continue"  # rung 3, alone
    assert p.on_report(2, 3, 0.92).action == "continue"  # the best of rung 3
    assert p.next_promotion() is None and p.paused() == []


def test_stop_variant_in_min_mode_says_above_the_best():
    p = make(mode="min", promote=False)
    p.on_report(0, 1, 0.2)
    d = p.on_report(1, 1, 0.3)
    assert d.reason == "ASHA: accuracy 0.3 at epoch 1 is above the best 1/3 of rung 1 (0.2; 2 trials)"


def test_stop_variant_judges_the_first_rung_a_report_reaches_past():
    p = make(promote=False)
    p.on_report(0, 2, 0.9)   # a trial evaluated every 2 epochs reaches rung 1 at epoch 2
    d = p.on_report(1, 4, 0.5)  # and rungs 1 and 3 at epoch 4
    assert d.action == "stop" and "rung 1" in d.reason


def test_promote_variant_pauses_at_a_rung_and_promotes_the_best_once_the_rung_has_reduction_trials():
    p = make()
    for n, v in [(0, 0.5), (1, 0.9)]:
        d = p.on_report(n, 1, v)
        assert d.action == "pause" and d.code == "rung" and d.checkpoint
        assert p.next_promotion() is None  # a top of 2 // 3 = 0 trials
    assert d.reason == "ASHA: accuracy 0.9 at epoch 1 reached rung 1; waits for promotion (top 1/3 of the rung)"
    assert p.on_report(2, 1, 0.7).action == "pause"
    assert sorted(p.paused()) == [0, 1, 2]
    assert p.next_promotion() == 1
    assert p.next_promotion() == 1  # a query: asking twice changes nothing
    p.on_resume(1)
    assert p.next_promotion() is None and sorted(p.paused()) == [0, 2]
    # a fourth trial, better than all: the top of 4 // 3 = 1 is itself, so it goes on at once
    assert p.on_report(3, 1, 0.95).action == "continue"
    assert sorted(p.paused()) == [0, 2]
    assert p.on_report(1, 2, 0.9).action == "continue"


def test_promotion_prefers_the_highest_rung_then_the_best_value():
    p = make(reduction=2)  # rungs 1, 2, 4, 8, 16
    assert p.on_report(0, 1, 0.5).action == "pause"
    assert p.on_report(1, 1, 0.6).action == "continue"  # top of 2 // 2 = 1: itself, promoted at once
    assert p.on_report(1, 2, 0.6).action == "pause"     # alone at rung 2
    assert p.on_report(2, 1, 0.55).action == "pause"    # top of 3: trial 1, promoted already
    assert p.on_report(3, 1, 0.4).action == "pause"     # top of 4: trials 1 and 2; 2 goes first
    assert p.next_promotion() == 2
    assert p.next_promotion(last=True) == 1  # rung 2 now promotes its best, and rung 2 comes first
    p.on_resume(2)
    assert p.next_promotion() is None
    for n, v in [(4, 0.3), (5, 0.2), (6, 0.1), (7, 0.05)]:
        p.on_report(n, 1, v)
    # rung 1: 8 trials, a top of 4 (1, 2, 0, 3); 1 and 2 promoted: 0 (0.5) before 3 (0.4)
    assert p.next_promotion() == 0
    p.on_resume(0)
    assert p.next_promotion() == 3


def test_last_lets_every_rung_promote_its_best_so_that_a_finite_study_reaches_max_epochs():
    p = make()
    p.on_report(0, 1, 0.5)
    p.on_report(1, 1, 0.6)
    assert p.next_promotion() is None
    assert p.next_promotion(last=True) == 1
    p.on_resume(1)
    assert p.next_promotion(last=True) is None  # rung 1's quota for 2 trials, last: 1, spent


def test_unpromoted_trials_end_pruned_with_a_reason():
    p = make()
    for n, v in enumerate([0.5, 0.9, 0.7, 0.6]):
        p.on_report(n, 1, v)
    d = p.unpromoted(0)
    assert d.action == "stop" and d.code == "pruned"
    assert d.reason == "ASHA: accuracy 0.5 at rung 1 is below the top 1/3 of the rung (0.9; 4 trials): never promoted"
    assert p.unpromoted(1).reason == "ASHA: accuracy 0.9 at rung 1; the study ended before its promotion"


def test_a_trial_that_completes_or_is_interrupted_leaves_the_pause_queue():
    p = make()
    for n, v in enumerate([0.5, 0.9, 0.7]):
        p.on_report(n, 1, v)
    p.on_complete(1, 0.9, "stopped")
    assert sorted(p.paused()) == [0, 2]
    p.on_complete(2, None, "interrupted")  # forgotten: its rerun records again
    assert p.paused() == [0]
    # the rung now holds trials 0 and 1; its top (last: 1 trial) is trial 1, which ended: no promotion
    assert p.next_promotion(last=True) is None
    p.on_report(3, 1, 0.6)
    p.on_report(4, 1, 0.65)  # 4 trials: a top of 1 (trial 1); last: still 1
    assert p.next_promotion(last=True) is None
    for n in (5, 6):
        p.on_report(n, 1, 0.1)
    assert p.next_promotion() == 4  # 6 trials: a top of 2, trials 1 and 4


def test_quiet_reports_count_the_reports_before_the_next_rung():
    p = make()
    p.on_trial_start(0, {})
    assert p.quiet_reports(0) == 0  # no report yet: the stride is unknown
    p.on_report(0, 1, 0.5)  # pauses (alone)
    p.on_resume(0)
    p.on_report(0, 2, 0.5)
    assert p.quiet_reports(0) == 0  # epoch 3 is a rung
    p.on_report(0, 3, 0.5)
    p.on_resume(0)
    assert p.quiet_reports(0) == 5  # epochs 4..8
    p.on_report(0, 4, 0.5)
    p.on_report(0, 6, 0.5)  # evaluated every 2 epochs from now on
    assert p.quiet_reports(0) == 1  # epoch 8 (then 10, past rung 9)
    p.on_report(0, 9, 0.5)
    p.on_resume(0)
    assert p.quiet_reports(0) > 1000  # no rung left


def test_rungs_rebuilt_from_stored_reports_match_the_live_pruner():
    live = make()
    history = {0: {1: 0.5}, 1: {1: 0.9, 2: 0.91, 3: 0.92}, 2: {1: 0.7}, 3: {1: 0.8}, 4: {1: 0.95, 2: 0.9}}
    states = {0: "paused", 1: "paused", 2: "stopped", 3: "paused", 4: "interrupted"}
    live.on_report(0, 1, 0.5)
    live.on_report(1, 1, 0.9)
    live.on_report(2, 1, 0.7)
    live.on_resume(live.next_promotion())  # trial 1
    live.on_report(1, 2, 0.91)
    live.on_report(1, 3, 0.92)
    live.on_complete(2, 0.7, "stopped")
    live.on_report(3, 1, 0.8)
    rebuilt = make()
    for n, values in history.items():
        rebuilt.on_trial_start(n, {})
        rebuilt.on_restore(n, values, states[n])
    assert sorted(rebuilt.paused()) == sorted(live.paused()) == [0, 1, 3]
    assert rebuilt.next_promotion() == live.next_promotion()
    assert rebuilt.next_promotion(last=True) == live.next_promotion(last=True) == 1
    assert rebuilt.unpromoted(0).reason == live.unpromoted(0).reason


def test_a_value_tying_the_tops_last_place_is_not_promoted_and_its_reason_says_so():
    # rung 1 of 6 trials: a top of 2 (last: 2); trials 1 and 4 both report 0.9, trial 2 0.95.
    # Ranked: 2, 1, 4 (equal values: the earlier trial first), so the top is {2, 1}: trial 4 ties the
    # cutoff but is not promoted, and its reason must not say it was about to be.
    p = make()
    for n, v in enumerate([0.5, 0.9, 0.95, 0.6, 0.9, 0.4]):
        p.on_report(n, 1, v)
    # (trial 2 went on at its own report: it was the rung's top then)
    assert p.next_promotion() == 1
    p.on_resume(1)
    assert p.next_promotion(last=True) is None  # trial 4 never qualifies
    assert p.unpromoted(4).reason == ("ASHA: accuracy 0.9 at rung 1 ties the last place of the top 1/3 of the rung "
                                      "(6 trials), held by an earlier trial (equal values: the earlier trial first): "
                                      "never promoted")
    assert p.unpromoted(3).reason.endswith("is below the top 1/3 of the rung (0.9; 6 trials): never promoted")


def test_a_pruner_prints_as_its_arguments():
    assert repr(ASHA(min_epochs=3, max_epochs=27)) == "ASHA(min_epochs=3, reduction=3, max_epochs=27, promote=True)"
    assert repr(ASHA(cutoff="quantile")).endswith(", cutoff='quantile')")
