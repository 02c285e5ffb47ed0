"""TPE with a pruner (BOHB-like): it learns from the reports at the rungs, at the highest rung
enough trials reached, and pruned trials still teach it."""

from __future__ import annotations

import numpy as np

from torchsearch.schedulers.tpe import TPE
from torchsearch.space import Float, Space

SPACE = Space({"x": Float(0.0, 1.0)})


def history(tpe: TPE, n_low: int, n_high: int) -> None:
    """``n_low`` trials pruned at rung 1, where a small x looks best; ``n_high`` of them (x spread
    over [0, 1]) went on to rung 3, where a large x is best."""
    xs = np.linspace(0.0, 1.0, n_low)
    high = set(np.linspace(0, n_low - 1, n_high).round().astype(int).tolist())
    for n, x in enumerate(xs):
        tpe.on_trial_start(n, {"x": float(x)})
        tpe.on_report(n, 1, float(x))
        if n in high:
            tpe.on_report(n, 3, float(1 - x))
        tpe.on_complete(n, float(min(x, 1 - x)) if n in high else float(x), "stopped")


def suggestions(tpe: TPE, k: int = 20) -> np.ndarray:
    out = []
    for i in range(k):
        p = tpe.suggest()
        out.append(p["x"])
        tpe.on_trial_start(1000 + i, p)
        tpe.on_complete(1000 + i, None, "interrupted")  # not learned from
    return np.array(out)


def make(rungs: list[int] | None) -> TPE:
    tpe = TPE(n_startup=0, seed=0)
    tpe.setup(SPACE, mode="min", seed=0)
    if rungs is not None:
        tpe.set_rungs(rungs)
    return tpe


def test_with_rungs_tpe_models_the_highest_rung_that_enough_trials_reached():
    tpe = make([1, 3, 9])
    history(tpe, 30, 8)  # 8 >= d + 2 trials at rung 3: the model sits there
    assert np.median(suggestions(tpe)) > 0.6


def test_with_too_few_at_the_higher_rung_it_learns_from_the_pruned_trials_at_rung_1():
    tpe = make([1, 3, 9])
    history(tpe, 30, 2)  # 2 < d + 2 at rung 3: rung 1 it is, where a small x was best
    assert np.median(suggestions(tpe)) < 0.4


def test_rung_reports_are_ignored_without_a_pruner():
    tpe = make(None)
    history(tpe, 30, 8)  # finished values: min(x, 1 - x) for 8 trials, x for the rest
    assert tpe.quiet_reports(0) > 10**6  # it only listens
    assert np.median(suggestions(tpe)) < 0.4
