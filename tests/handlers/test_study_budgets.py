"""Study-level budgets and handlers inside tune(): stopped trials keep their reason and value."""

from __future__ import annotations

import pytest
from ignite.engine import Events

import torchsearch as ts
from tests.handlers.conftest import FakeClock
from tests.models import TinyRegression  # 192 training samples, batch 32: 6 iterations per epoch
from torchsearch.handlers import Divergence, Patience, TimeBudget
from torchsearch.storage import Storage

SPACE = {"lr": ts.Float(0.01, 0.1, log=True)}


def ticking(clock: FakeClock, seconds: float = 1.0):
    """A handler that makes each training iteration 'take' ``seconds`` on ``clock``."""
    return (Events.ITERATION_COMPLETED, lambda engine: clock.advance(seconds))


def tune(**kwargs):
    kwargs = {"metric": "mse", "mode": "min", "epochs": 5, "n_trials": 10, "seed": 0, "verbose": False, **kwargs}
    return ts.tune(TinyRegression, SPACE, **kwargs)


def test_study_time_budget_ends_the_study_and_marks_the_running_trial_stopped(tmp_path):
    clock = FakeClock()
    study = tune(time_budget=20, clock=clock, handlers=[ticking(clock)], storage=tmp_path)
    (trial,) = study.trials  # 30 iterations needed, 20 seconds given: no second trial starts
    assert trial.state == "stopped" and trial.stop_code == "study_time_budget"
    assert trial.stop_reason == "study time budget exhausted"
    assert sorted(trial.metrics["mse"]) == [1, 2, 3]  # stopped at iteration 20, in epoch 4
    assert study.best_trial.number == trial.number and trial.value == min(trial.metrics["mse"].values())
    assert study.end_reason == "time budget of 20s exhausted"
    assert Storage(tmp_path, readonly=True).list_studies()[0]["end_reason"] == "time budget of 20s exhausted"


def test_epoch_budget_stops_the_running_trial_and_launches_no_more():
    study = tune(epochs=3, epoch_budget=5)
    first, second = study.trials
    assert first.state == "completed" and sorted(first.metrics["mse"]) == [1, 2, 3]
    assert second.state == "stopped" and sorted(second.metrics["mse"]) == [1, 2]
    assert second.stop_code == "study_epoch_budget"
    assert second.stop_reason == "study epoch budget of 5 epochs exhausted (5 trained)"
    assert study.end_reason == "epoch budget of 5 epochs exhausted"


def test_epoch_budget_counts_the_epochs_of_earlier_runs_of_a_resumed_study(tmp_path):
    tune(epochs=3, n_trials=1, storage=tmp_path)
    study = tune(epochs=3, epoch_budget=4, storage=tmp_path)
    assert [t.state for t in study.trials] == ["completed", "stopped"]
    assert sorted(study.trials[1].metrics["mse"]) == [1]


def test_one_patience_handler_serves_every_trial_and_each_stop_is_stored():
    # min_delta is huge: no evaluation after the first counts as an improvement
    study = tune(n_trials=2, handlers=[Patience(1, metric="mse", mode="min", min_delta=1e9)])
    for t in study.trials:
        assert t.state == "stopped" and t.stop_code == "patience" and sorted(t.metrics["mse"]) == [1, 2]
        assert t.stop_reason.startswith("patience: no improvement > 1e+09 in 1 evaluation (best mse ")
        assert t.has_value()


def test_time_budget_per_trial_from_a_handler_factory():
    clock = FakeClock()
    study = tune(n_trials=2, handlers=lambda: [ticking(clock), TimeBudget(8, clock=clock)])
    for t in study.trials:
        assert t.state == "stopped" and t.stop_code == "time_budget"
        assert t.stop_reason == "time budget: 8.00s used of 8s (epoch 2, iteration 8)"


def test_a_blow_up_is_stopped_but_a_nan_loss_is_failed_inside_tune():
    study = tune(n_trials=1, handlers=[Divergence(ceiling=1e-9)])
    (t,) = study.trials
    assert t.state == "stopped" and t.stop_code == "divergence"
    assert t.stop_reason.endswith("> ceiling 1e-09 (epoch 1, iteration 1)")

    nan_space = {"lr": ts.Float(0.01, 0.1), "nan": ts.Choice([True])}
    study = ts.tune(TinyRegression, nan_space, metric="mse", mode="min", epochs=2, n_trials=1, verbose=False,
                    handlers=[Divergence()])
    (t,) = study.trials
    assert t.state == "failed" and "training loss became nan" in t.error


def test_bad_epoch_budget_names_the_value():
    with pytest.raises(ValueError, match=r"epoch_budget must be an int >= 1 or None, got epoch_budget=0"):
        tune(epoch_budget=0)
