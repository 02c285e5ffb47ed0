"""schedulers/random.py: seeded, resumable sequences; Sobol covers the cube evenly."""

from __future__ import annotations

import numpy as np

import torchsearch as ts
from torchsearch.schedulers import Random
from torchsearch.space import Space

SPACE = Space({"x": ts.Float(0.0, 1.0), "y": ts.Float(0.0, 1.0)})


def take(s, n):
    s.setup(SPACE, mode="min")
    out = []
    for i in range(n):
        p = s.suggest()
        s.on_trial_start(i, p)
        out.append(p)
    return out


def test_resumed_random_continues_the_sequence_instead_of_repeating_it():
    full = take(Random(seed=3), 6)
    resumed = Random(seed=3)
    resumed.setup(SPACE, mode="min")
    for i, p in enumerate(full[:4]):  # replayed from storage
        resumed.on_trial_start(i, p)
    assert [resumed.suggest(), resumed.suggest()] == full[4:]


def test_sobol_resume_continues_the_sequence():
    full = take(Random(sobol=True, seed=3), 6)
    resumed = Random(sobol=True, seed=3)
    resumed.setup(SPACE, mode="min")
    for i, p in enumerate(full[:4]):
        resumed.on_trial_start(i, p)
    assert resumed.suggest() == full[4]


def test_sobol_points_cover_the_square_more_evenly_than_random():
    def worst_gap(points):  # the largest empty cell of a 4x4 grid count
        cells = np.zeros((4, 4))
        for p in points:
            cells[min(int(p["x"] * 4), 3), min(int(p["y"] * 4), 3)] += 1
        return cells.min()

    sob = take(Random(sobol=True, seed=0), 16)
    assert worst_gap(sob) == 1  # a scrambled Sobol net puts exactly one point in every cell


def test_a_scheduler_prints_as_its_arguments():
    assert repr(Random(sobol=True, seed=3)) == "Random(sobol=True, seed=3)"
