"""Bayes with a pruner learns from the rungs (``schedulers._levels``): by default the epoch is a
GP input (a row per trial and rung, EI at full fidelity); ``Bayes(rung_model="level")`` fits the GP
at the highest rung that enough trials reached, each trial at its report there (BOHB-like). Either
way pruned trials teach it too."""

from __future__ import annotations

import math

import numpy as np
import pytest

from torchsearch.schedulers import Bayes
from torchsearch.schedulers._levels import levelled, training_set
from torchsearch.space import Float, Space

SPACE = Space({"x": Float(0.0, 1.0)})


def history(b: Bayes) -> None:
    """Trials 0-9 (x in [0, 0.4]) were pruned at rung 1 with the best losses seen at rung 1
    (0.05); trials 10-17 (x in [0.6, 1]) went on to rung 3, where a larger x is better
    (0.3 + 0.2 (1 - x)), after 0.5 at rung 1. Finished values are the best report (mode min)."""
    for n, x in enumerate(np.linspace(0.0, 0.4, 10)):
        b.on_trial_start(n, {"x": float(x)})
        b.on_report(n, 1, 0.05)
        b.on_complete(n, 0.05, "stopped")
    for n, x in enumerate(np.linspace(0.6, 1.0, 8), start=10):
        b.on_trial_start(n, {"x": float(x)})
        b.on_report(n, 1, 0.5)
        b.on_report(n, 2, 0.45)
        b.on_report(n, 3, 0.3 + 0.2 * (1 - x))
        b.on_complete(n, 0.3 + 0.2 * (1 - x), "stopped")


def make(rungs: list[int] | None, model: str = "level") -> Bayes:
    b = Bayes(n_startup=2, rung_model=model, seed=0)
    b.setup(SPACE, mode="min", seed=0)
    if rungs is not None:
        b.set_rungs(rungs)
    history(b)
    return b


def test_with_rungs_the_gp_sits_at_rung_3_and_ranks_the_pruned_trials_below_the_ones_that_went_on():
    b = make([1, 3, 9])
    mean, _, _ = b.surrogate().predict([{"x": 0.2}, {"x": 1.0}])
    assert mean[0] > mean[1]  # the region pruned at rung 1 is modelled as worse than x = 1 at rung 3
    assert b.surrogate().next_params["x"] > 0.5
    assert b.quiet_reports(0) > 10**6  # it only listens: workers need not wait for an answer


def test_without_a_pruner_the_gp_fits_the_finished_values_as_before():
    b = make(None)
    mean, _, _ = b.surrogate().predict([{"x": 0.2}, {"x": 1.0}])
    assert mean[0] < mean[1]  # the pruned trials' finished values (0.05) look best
    assert b._reports == {}  # reports are not even kept


def test_training_set_holds_each_trial_at_the_level_and_the_pruned_ones_at_the_worst_loss_there():
    losses = {0: 0.05, 1: 0.05, 2: 0.4, 3: 0.3}
    reports = {0: {1: 0.05}, 1: {1: 0.05}, 2: {1: 0.5, 3: 0.4}, 3: {1: 0.6, 3: 0.3}, 4: {1: 0.7, 3: 0.2}}
    numbers, y = training_set([1, 3, 9], losses, reports, need=3)  # 4 runs and reached rung 3 too
    assert numbers == [2, 3, 4, 0, 1]
    np.testing.assert_allclose(y, [0.4, 0.3, 0.2, 0.4, 0.4])
    numbers, y = training_set([1, 3, 9], losses, reports, need=3, pruned="omit")
    assert numbers == [2, 3, 4]
    numbers, y = training_set([1, 3, 9], losses, reports, need=4)  # 3 at rung 3 < 4: rung 1
    assert numbers == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(y, [0.05, 0.05, 0.5, 0.6, 0.7])
    numbers, y = training_set(None, losses, reports, need=3)  # no pruner: finished trials as they ended
    assert numbers == [0, 1, 2, 3]
    np.testing.assert_allclose(y, [0.05, 0.05, 0.4, 0.3])


def test_a_level_past_the_last_rung_uses_the_final_loss_and_a_trial_without_reports_counts_as_full():
    final = np.array([0.2, 0.1, math.nan, 0.3])
    reports = {0: {1: 0.5, 3: 0.4, 9: 0.3, 27: 0.2}, 1: {1: 0.4, 3: 0.1}}  # 3: no reports (a warm start)
    lv = levelled([1, 3, 9], final, reports, need=2)
    assert lv.level == math.inf
    np.testing.assert_allclose(lv.y, [0.2, math.nan, math.nan, 0.3])
    assert lv.below.tolist() == [1]


@pytest.mark.parametrize("state", ["failed", "interrupted"])
def test_a_failed_or_interrupted_trials_reports_are_dropped(state):
    b = Bayes(n_startup=2, seed=0)
    b.setup(SPACE, mode="min", seed=0)
    b.set_rungs([1, 3])
    b.on_trial_start(0, {"x": 0.5})
    b.on_report(0, 1, 0.3)
    b.on_complete(0, None, state)
    assert 0 not in b._reports


def test_through_tune_the_gp_is_fitted_to_the_pruned_trials_rung_reports():
    import torchsearch as ts
    from torchsearch.pruners import ASHA
    from tests.models import TinyRegression

    level = Bayes(n_startup=3, rung_model="level", seed=0)
    study = ts.tune(TinyRegression, {"lr": ts.Float(1e-3, 0.3, log=True)}, scheduler=level,
                    pruner=ASHA(promote=False), metric="mse", mode="min", epochs=9, n_trials=8, seed=0,
                    verbose=False)
    b = study.scheduler
    assert b.rungs == [1, 3]
    numbers, y = b._training()
    pruned = [t for t in study.trials if t.stop_code == "pruned"]
    assert pruned
    at = {n: v for n, v in zip(numbers, y)}
    reached = {t.number: max(t.metrics["mse"]) for t in study.trials}
    # the model's level: past the last rung (final values), else rung 3, else rung 1 (3 = d + 2 trials needed)
    level = next(m for m in (9, 3, 1) if sum(r >= m for r in reached.values()) >= 3 or m == 1)

    def value_at(t):
        return t.value if level == 9 else t.metrics["mse"][level]

    at_level = [t for t in study.trials if reached[t.number] >= level]
    assert any(t in pruned for t in at_level) or level > 1
    worst = max(value_at(t) for t in at_level)
    for t in study.trials:
        if reached[t.number] >= level:  # reached the level: its value there, not its final value
            assert at[t.number] == pytest.approx(value_at(t))
        else:  # pruned below it: at the worst loss seen at the level
            assert at[t.number] == pytest.approx(worst)
    assert len(at) == len(study.trials)


def test_with_rungs_the_search_starts_from_the_best_trials_at_the_level_not_from_the_finished_count(monkeypatch):
    """Ten trials paused at rung 1 (none finished but one): the local search's anchors and the
    revert target are the best of the rows the GP was fitted on (trial 5 here), not the first
    ``len(finished)`` rows of the posterior."""
    import torchsearch.schedulers.bayes as bayes_mod

    seen = {}
    real = bayes_mod.maximize

    def spy(*args, **kwargs):
        seen["anchors"] = kwargs["anchors"]
        seen["revert_to"] = kwargs["revert_to"]
        return real(*args, **kwargs)

    monkeypatch.setattr(bayes_mod, "maximize", spy)
    b = Bayes(n_startup=2, rung_model="level", seed=0)
    b.setup(SPACE, mode="min", seed=0)
    b.set_rungs([1, 3, 9])
    xs = np.linspace(0.05, 0.95, 10)
    for n, x in enumerate(xs):
        b.on_trial_start(n, {"x": float(x)})
        b.on_report(n, 1, 0.1 if n == 5 else 0.5 + 0.01 * n)  # trial 5 is the best at rung 1; all pause there
    b.on_trial_start(10, {"x": 0.5})
    b.on_report(10, 1, 0.9)
    b.on_complete(10, 0.9, "stopped")  # the only finished trial
    b.suggest()
    assert len(seen["anchors"]) == 5
    assert seen["anchors"][0][0] == pytest.approx(xs[5])
    assert seen["revert_to"][0] == pytest.approx(xs[5])


# -- the default: the epoch as a GP input --------------------------------------------------------
def crossing(b: Bayes, n_full: int = 6) -> None:
    """Curves that cross: before epoch 3 a small x looks best (loss 0.6 + 0.2 x), from epoch 3 a
    large x is (0.5 - 0.4 x step / 9). Trials 0-9 stop at epoch 1; ``n_full`` trials with x
    spread over [0, 1] train 9 epochs (their value: the best report)."""
    def loss(x: float, step: int) -> float:
        return 0.6 + 0.2 * x if step < 3 else 0.5 - 0.4 * x * step / 9

    for n, x in enumerate(np.linspace(0.0, 1.0, 10)):
        b.on_trial_start(n, {"x": float(x)})
        b.on_report(n, 1, loss(x, 1))
        b.on_complete(n, loss(x, 1), "stopped")
    for n, x in enumerate(np.linspace(0.05, 0.95, n_full), start=10):
        b.on_trial_start(n, {"x": float(x)})
        for step in range(1, 10):
            b.on_report(n, step, loss(x, step))
        b.on_complete(n, min(loss(x, s) for s in range(1, 10)), "completed")


def test_the_default_is_the_epoch_as_an_input_read_at_full_fidelity():
    b = Bayes(n_startup=2, seed=0)
    b.setup(SPACE, mode="min", seed=0)
    b.set_rungs([1, 3])
    crossing(b)
    assert b.rung_model == "input"
    numbers, y = b._training()
    assert numbers.count(10) == 3  # trial 10: rung 1, rung 3 and its last step (9)
    assert len(numbers) == 10 + 3 * 6
    sur = b.surrogate()
    mean, _, _ = sur.predict([{"x": 0.1}, {"x": 0.9}])
    assert mean[1] < mean[0]  # at full fidelity a large x is best, though a small x leads at epoch 1
    assert sur.next_params["x"] > 0.5


@pytest.mark.parametrize("rung_model", ["input", "level"])
def test_the_rung_model_argument_chooses_the_model_that_is_fitted(rung_model):
    """``Bayes(rung_model=...)`` picks the model: the epoch as an input (rows per trial and rung,
    the posterior read at full fidelity) or one GP at a rung (a row per trial); both suggest."""
    from torchsearch.schedulers._levels import FullFidelity

    b = Bayes(n_startup=2, rung_model=rung_model, seed=0)
    b.setup(SPACE, mode="min", seed=0)
    b.set_rungs([1, 3])
    crossing(b)
    numbers, _ = b._training()
    post = b._fit(np.random.default_rng(0))[0]
    if rung_model == "input":
        assert isinstance(post, FullFidelity) and len(numbers) == 10 + 3 * 6
    else:
        assert not isinstance(post, FullFidelity) and len(numbers) == 16
    assert 0.0 <= b.suggest()["x"] <= 1.0


def test_the_level_model_on_the_same_reports_sits_at_the_last_step():
    b = Bayes(n_startup=2, rung_model="level", seed=0)
    b.setup(SPACE, mode="min", seed=0)
    b.set_rungs([1, 3])
    crossing(b)
    numbers, _ = b._training()
    assert sorted(set(numbers)) == list(range(16)) and len(numbers) == 16  # one row per trial


def test_with_the_epoch_as_input_a_study_with_a_pruner_runs_and_learns_from_every_rung():
    import torchsearch as ts
    from torchsearch.pruners import ASHA
    from torchsearch.schedulers._levels import fidelity_set
    from tests.models import TinyRegression

    study = ts.tune(TinyRegression, {"lr": ts.Float(1e-3, 0.3, log=True)}, scheduler=Bayes(n_startup=3, seed=0),
                    pruner=ASHA(), metric="mse", mode="min", epochs=9, n_trials=8, seed=0, verbose=False)
    b = study.scheduler
    assert b.rung_model == "input" and len(study.trials) == 8
    numbers, y = b._training()
    want, s, want_y = fidelity_set(b.rungs, b._loss, b._reports)
    assert numbers == want and np.allclose(y, want_y)
    assert set(numbers) == {t.number for t in study.trials}  # every trial, pruned ones included
    assert (s > 0).any() and (s == 0).any()  # rows at several fidelities
