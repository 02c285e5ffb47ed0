"""handlers/reporter.py: an unmodified Ignite script joins a study through ask / Reporter / tell."""

from __future__ import annotations

import pytest

import torchsearch as ts
from tests.handlers.conftest import make_engines
from torchsearch.exceptions import TrialError
from torchsearch.handlers import Divergence, Patience, Reporter
from torchsearch.schedulers import Random
from torchsearch.schedulers.base import Decision

SPACE = {"lr": ts.Float(0.01, 0.5, log=True)}


class StopAtStep(Random):
    """Random search whose decision is 'stop' at a given step (stands in for a pruner)."""

    def __init__(self, step: int, **kwargs):
        super().__init__(**kwargs)
        self.step = step

    def on_report(self, number, step, value):
        if step >= self.step:
            return Decision.stop("pruned", f"pruned at step {step}")
        return super().on_report(number, step, value)


def study(scheduler=None, **kwargs):
    return ts.Study(space=SPACE, scheduler=scheduler or Random(seed=0), metric="accuracy", mode="max",
                    verbose=False, **kwargs)


def test_reports_every_evaluation_at_the_trainer_epoch_and_completes():
    s = study()
    trial = s.ask()
    trainer, evaluator, train = make_engines(lr=trial.params["lr"], n_train=256)
    Reporter(trial).attach(trainer, evaluator)
    trainer.run(train, max_epochs=3)
    record = s.tell(trial)
    assert record.state == "completed" and record.stop_code is None
    assert sorted(record.metrics) == ["accuracy", "loss"] and sorted(record.metrics["accuracy"]) == [1, 2, 3]
    assert record.metrics["accuracy"][3] == pytest.approx(evaluator.state.metrics["accuracy"])
    assert record.value == max(record.metrics["accuracy"].values())


def test_a_stop_decision_from_the_study_stops_the_trainer_with_its_reason():
    s = study(StopAtStep(2, seed=0))
    trial = s.ask()
    trainer, evaluator, train = make_engines(lr=trial.params["lr"], n_train=256)
    Reporter(trial).attach(trainer, evaluator)
    trainer.run(train, max_epochs=10)
    assert trainer.state.epoch == 2 and trainer.state.stop_reason == "pruned at step 2"
    record = s.tell(trial)
    assert (record.state, record.stop_code, record.stop_reason) == ("stopped", "pruned", "pruned at step 2")


def test_a_handler_stop_reaches_the_study_as_a_stopped_trial_whose_value_counts():
    s = study()
    trial = s.ask()
    trainer, evaluator, train = make_engines(lr=0.0, n_train=256)  # frozen: patience runs out
    Reporter(trial).attach(trainer, evaluator)
    Patience(2, metric="accuracy", mode="max").attach(trainer, evaluator)
    trainer.run(train, max_epochs=10)
    record = s.tell(trial)
    assert record.state == "stopped" and record.stop_code == "patience"
    assert record.stop_reason == trainer.state.stop_reason and record.stop_reason.startswith("patience: no improvement")
    assert sorted(record.metrics["accuracy"]) == [1, 2, 3]  # the last evaluation was reported too
    assert s.best_trial.number == record.number


def test_a_nan_loss_caught_by_divergence_makes_the_trial_failed():
    s = study()
    trial = s.ask()
    trainer, evaluator, train = make_engines(nan=True)
    Reporter(trial).attach(trainer, evaluator)
    Divergence().attach(trainer)
    trainer.run(train, max_epochs=3)
    record = s.tell(trial)
    assert record.state == "failed" and record.stop_code == "non_finite"
    assert record.error == "divergence: loss is nan (epoch 1, iteration 1)"


def test_tell_twice_and_report_after_tell_raise_and_change_nothing_stored():
    s = study()
    trial = s.ask()
    trainer, evaluator, train = make_engines(lr=0.1, n_train=256)
    Reporter(trial).attach(trainer, evaluator)
    trainer.run(train, max_epochs=2)
    first = s.tell(trial)
    with pytest.raises(TrialError, match=rf"trial {trial.number} is not running"):
        s.tell(trial)
    with pytest.raises(TrialError, match=r"report\(step=3\) is not allowed after tell\(\)"):
        trial.report({"accuracy": 1.0, "loss": 0.0}, step=3)
    with pytest.raises(TrialError, match="not allowed after tell"):  # a Reporter still attached: same error
        trainer.run(train, max_epochs=3)
    assert s.storage.trial(s._id, trial.number) == first


def test_only_scalar_metrics_are_reported_unless_named():
    s = study()
    trial = s.ask()
    trainer, evaluator, train = make_engines(n_train=128)
    import torch
    from ignite.engine import Events

    evaluator.add_event_handler(Events.COMPLETED, lambda e: e.state.metrics.update(cm=torch.eye(3)))
    Reporter(trial).attach(trainer, evaluator)
    trainer.run(train, max_epochs=1)
    assert sorted(s.tell(trial).metrics) == ["accuracy", "loss"]


def test_bad_arguments_name_the_value():
    with pytest.raises(TypeError, match=r"Reporter: trial must be a running trial from study.ask\(\).*got 3"):
        Reporter(3)
    s = study()
    with pytest.raises(ValueError, match=r"metric_names must be a list of metric names or None, got metric_names='acc'"):
        Reporter(s.ask(), metric_names="acc")
    with pytest.raises(TypeError, match=r"Reporter.attach: trainer must be an ignite Engine or a torchsearch Trainer"):
        Reporter(s.ask()).attach("trainer")
