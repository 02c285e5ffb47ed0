"""schedulers/grid.py: every combination once, none repeated after a resume."""

from __future__ import annotations

import pytest

import torchsearch as ts
from torchsearch.schedulers import Grid
from torchsearch.space import Space

SPACE = Space({"lr": ts.Float(1e-3, 1e-1, log=True), "act": ts.Choice(["relu", "tanh"]), "n": ts.Int(1, 3)})


def test_grid_visits_every_combination_once_then_stops():
    g = Grid(points=3)
    g.setup(SPACE, mode="min")
    seen = []
    while (p := g.suggest()) is not None:
        seen.append(SPACE.key(p))
    assert len(seen) == len(set(seen)) == 3 * 2 * 3 == len(g)
    assert {SPACE.key({"lr": 1e-2, "act": "tanh", "n": 2})} <= set(seen)


def test_grid_skips_points_already_run():
    g = Grid(points=3)
    g.setup(SPACE, mode="min")
    done = {"lr": 1e-3, "act": "relu", "n": 1}
    g.on_trial_start(0, done)
    seen = []
    while (p := g.suggest()) is not None:
        seen.append(SPACE.key(p))
    assert SPACE.key(done) not in seen and len(seen) == 17


def test_grid_rejects_bad_points():
    with pytest.raises(ValueError, match=r"Grid: points must be an int >= 1 or a dict of them, got points=0"):
        Grid(points=0)
