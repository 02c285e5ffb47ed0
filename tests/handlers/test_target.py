"""handlers/target.py: Target stops when the metric is good enough."""

from __future__ import annotations

import pytest
from ignite.engine import Events

from tests.handlers.conftest import make_engines
from torchsearch.handlers import Target


def test_target_stops_at_the_first_evaluation_that_reaches_it():
    trainer, evaluator, train = make_engines(lr=0.2, batch_size=32)
    history = []
    evaluator.add_event_handler(Events.COMPLETED, lambda e: history.append(e.state.metrics["accuracy"]))
    Target("accuracy", 0.9, mode="max").attach(trainer, evaluator)
    trainer.run(train, max_epochs=30)
    assert history[-1] >= 0.9 and all(a < 0.9 for a in history[:-1])
    assert trainer.state.epoch == len(history) < 30
    assert trainer.state.stop_code == "target"
    assert trainer.state.stop_reason == f"target: accuracy {history[-1]:.4g} >= 0.9 at epoch {trainer.state.epoch}"


def test_min_mode_target_on_a_loss():
    trainer, evaluator, train = make_engines(lr=0.2, batch_size=32)
    Target("loss", 1.0, mode="min").attach(trainer, evaluator)
    trainer.run(train, max_epochs=30)
    assert evaluator.state.metrics["loss"] <= 1.0 and trainer.state.stop_code == "target"


def test_unreached_target_lets_the_run_finish():
    trainer, evaluator, train = make_engines(lr=0.0, n_train=128)
    Target("accuracy", 0.99, mode="max").attach(trainer, evaluator)
    trainer.run(train, max_epochs=3)
    assert trainer.state.epoch == 3 and trainer.state.stop_code is None


@pytest.mark.parametrize("args, kwargs, match", [
    (("accuracy", float("nan")), dict(mode="max"), r"Target: value must be a finite number, got value=nan"),
    (("accuracy", 0.9), dict(mode="up"), r"Target: mode must be 'min' or 'max', got mode='up'"),
    ((3, 0.9), dict(mode="max"), r"Target: metric must be a non-empty string .*got metric=3"),
])
def test_bad_arguments_name_the_value(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Target(*args, **kwargs)
