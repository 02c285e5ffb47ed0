"""A member resumed from a durable copy older than its lineage (the coordinator was killed): which
rows the copy has been through, and the schedule after the row that records the way back."""

from __future__ import annotations

import torchsearch as ts
from torchsearch._lineage import rewind

SPACE = {"lr": ts.Float(1e-3, 0.3, log=True)}


def _row(trial, step, donor, donor_step, old, new):
    return {"trial": trial, "step": step, "donor": donor, "donor_step": donor_step, "old_params": old,
            "new_params": new}


def test_a_copy_has_been_through_the_rows_that_landed_at_its_step_or_before_and_no_later_one():
    a, b, c, d = ({"lr": x} for x in (0.01, 0.02, 0.03, 0.04))
    rows = [_row(0, 1, 1, 2, a, b),      # copied trial 1 at step 2
            _row(0, 4, None, 4, b, c),   # explored at step 4 (weights unchanged)
            _row(0, 5, 2, 6, c, d)]      # copied trial 2 at step 6
    assert rewind(rows, 1, d) == (a, rows)               # before its first exploit: its first params
    assert rewind(rows, 3, d) == (b, rows[1:])
    assert rewind(rows, 4, d) == (c, rows[2:])           # an explore at the copy's own step is kept
    assert rewind(rows, 6, d) == (d, [])
    assert rewind([], 3, a) == (a, [])


def test_a_way_back_row_outranks_the_lost_rows_before_it_even_when_they_landed_earlier():
    a, b, c = ({"lr": x} for x in (0.01, 0.02, 0.03))
    rows = [_row(0, 5, None, 5, a, b),   # lost: explored at 5
            _row(0, 5, 0, 3, b, a)]      # back to its own copy at step 3
    assert rewind(rows, 6, b) == (a, [])  # a later copy at 6 has been through the way back, not the explore
    assert rewind(rows, 3, b) == (a, [])


def _study(n):
    study = ts.Study(space=SPACE, metric="mse", mode="min", verbose=False)
    params = [{"lr": 0.01 * (i + 1)} for i in range(n)]
    for p in params:
        study.storage.add_trial(study._id, p)
    return study, params


def test_schedule_after_a_way_back_follows_the_members_own_copy_and_a_copier_keeps_the_lost_rows():
    study, p = _study(3)
    sid, x, y = study._id, {"lr": 0.1}, {"lr": 0.2}
    study.storage.add_lineage(sid, 0, 2, 1, p[0], x, [], donor_step=2)  # trial 0 copies trial 1 at 2
    study.storage.add_lineage(sid, 0, 4, 2, x, y, [], donor_step=4)     # then trial 2 at 4 (lost below)
    study.storage.add_lineage(sid, 1, 5, 0, p[1], y, [], donor_step=5)  # trial 1 copies trial 0 at 5
    # the coordinator dies; trial 0's durable copy is from step 3: it goes back to it
    study.storage.add_lineage(sid, 0, 5, 0, y, x, ["copy trial 0 (step 3)"], donor_step=3)
    assert [(s["trial"], s["start"], s["end"], s["params"]) for s in study.schedule(0)] == [
        (1, 0, 2, p[1]), (0, 2, 3, x), (0, 3, None, x)]
    # trial 1 took trial 0's weights at 5, which had been through the copy of trial 2 at 4
    assert [(s["trial"], s["start"], s["end"]) for s in study.schedule(1)] == [(2, 0, 4), (0, 4, 5), (1, 5, None)]
    study.storage.add_lineage(sid, 0, 4, None, x, y, [], donor_step=4)  # trial 0 explores again at 4
    assert [(s["trial"], s["start"], s["end"], s["params"]) for s in study.schedule(0)] == [
        (1, 0, 2, p[1]), (0, 2, 3, x), (0, 3, 4, x), (0, 4, None, y)]
