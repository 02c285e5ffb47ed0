"""_levels.fidelity_set: the epoch as a model input (rows per trial and rung, log-scaled steps)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from torchsearch.schedulers._levels import fidelity_set


def test_one_row_per_rung_reached_with_the_best_loss_so_far_and_the_finished_trials_last_step():
    reports = {0: {s: 1.0 / s for s in range(1, 28)},   # trained in full
               1: {1: 0.9, 2: 0.5, 3: 0.7},             # running, past rung 3 (its best so far: 0.5)
               2: {1: 0.6}}                              # pruned at rung 1
    numbers, s, y = fidelity_set([1, 3, 9], {0: 1.0 / 27, 2: 0.6}, reports)
    assert numbers == [0, 0, 0, 0, 1, 1, 2]
    # top: the furthest step reported (27), past the last rung
    assert s == pytest.approx([0, math.log(3) / math.log(27), math.log(9) / math.log(27), 1, 0, 1 / 3, 0])
    assert y == pytest.approx([1, 1 / 3, 1 / 9, 1 / 27, 0.9, 0.5, 0.6])


def test_before_any_trial_passes_the_last_rung_the_top_is_one_more_reduction():
    numbers, s, y = fidelity_set([1, 3, 9], {}, {0: {1: 0.5, 2: 0.4, 3: 0.3}})
    assert numbers == [0, 0] and s == pytest.approx([0, math.log(3) / math.log(27)])
    assert y == pytest.approx([0.5, 0.3])


def test_a_finished_trial_without_reports_sits_at_full_fidelity():
    numbers, s, y = fidelity_set([1, 3], {5: 0.25}, {})
    assert numbers == [5] and s.tolist() == [1.0] and y.tolist() == [0.25]


def test_a_report_past_a_rung_counts_for_it_as_the_pruner_records_it():
    # reports every 2 steps: rung 3 takes the report at step 4 (the first at or past it)
    numbers, s, y = fidelity_set([1, 3, 9], {}, {0: {2: 0.8, 4: 0.6, 6: 0.5}})
    assert numbers == [0, 0]  # rung 1 (step 2) and rung 3 (step 4)
    assert s == pytest.approx([math.log(2) / math.log(27), math.log(4) / math.log(27)])
    assert y == pytest.approx([0.8, 0.6])
    assert np.all((s >= 0) & (s <= 1))
