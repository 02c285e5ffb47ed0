"""Hyperband: brackets of ASHA, weighted as Hyperband starts its trials, asynchronous."""

from __future__ import annotations

from collections import Counter

import pytest

from torchsearch.pruners import Hyperband
from torchsearch.pruners.hyperband import bracket_sequence

from tests.pruners._ready import ready


def make(mode="max", **kw):
    return ready(Hyperband, mode, **kw)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"Hyperband: reduction must be an int >= 2, got reduction=0"):
        Hyperband(reduction=0)
    with pytest.raises(ValueError, match=r"Hyperband: max_epochs must be greater than min_epochs=4, got max_epochs=4"):
        Hyperband(min_epochs=4).setup(mode="min", max_epochs=4)


def test_brackets_start_at_min_epochs_times_powers_and_the_last_trains_in_full():
    p = make()
    assert [p._ladders[b].rungs for b in range(4)] == [[1, 3, 9], [3, 9], [9], []]
    assert p.weights == [27, 12, 6, 4]  # ceil(4 / (s + 1) * 3**s), s = 3, 2, 1, 0
    assert p.rungs() == [1, 3, 9]


def test_trials_are_spread_over_brackets_in_proportion_and_interleaved():
    p = make()
    counts = Counter(p.bracket(n) for n in range(49 * 4))
    assert counts == {0: 27 * 4, 1: 12 * 4, 2: 6 * 4, 3: 4 * 4}
    first = [p.bracket(n) for n in range(10)]
    assert len(set(first)) >= 3  # not a block of bracket 0 first
    assert bracket_sequence([1, 1]) == [0, 1]


def test_each_bracket_prunes_on_its_own_rungs_with_its_name_in_the_reason():
    p = make(promote=False)
    zeros = [n for n in range(60) if p.bracket(n) == 0][:2]
    ones = [n for n in range(60) if p.bracket(n) == 1][:2]
    full = [n for n in range(60) if p.bracket(n) == 3][0]
    p.on_report(zeros[0], 1, 0.9)
    d = p.on_report(zeros[1], 1, 0.5)
    assert d.reason == ("Hyperband bracket 0 (from epoch 1): accuracy 0.5 at epoch 1 is below the top 1/3 "
                        "of rung 1 (0.9; 2 trials)")
    assert p.on_report(ones[0], 1, 0.1).action == "continue"  # bracket 1 has no rung at epoch 1
    p.on_report(ones[0], 3, 0.9)
    assert p.on_report(ones[1], 3, 0.2).action == "stop"
    for step in range(1, 27):
        assert p.on_report(full, step, 0.0).action == "continue"  # the last bracket never prunes
    assert p.rungs(ones[0]) == [3, 9] and p.rungs(full) == []


def test_promotion_takes_the_highest_rung_across_brackets():
    p = make()
    zeros = [n for n in range(100) if p.bracket(n) == 0]
    twos = [n for n in range(100) if p.bracket(n) == 2]
    assert p.on_report(zeros[0], 1, 0.9).action == "pause"
    assert p.on_report(zeros[1], 1, 0.8).action == "pause"
    assert p.on_report(twos[0], 9, 0.1).action == "pause"  # bracket 2's first rung, alone
    assert p.on_report(zeros[2], 1, 0.7).action == "pause"
    assert p.next_promotion() == zeros[0]
    assert p.next_promotion(last=True) == twos[0]  # rung 9 before rung 1
