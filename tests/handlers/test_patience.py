"""handlers/patience.py: Patience stops after exactly `patience` non-improving evaluations."""

from __future__ import annotations

import math

import pytest
from ignite.engine import Events
from ignite.handlers import EarlyStopping

from tests.handlers.conftest import make_engines, scripted
from torchsearch.handlers import Patience, stop_record


def run_scripted(scores, max_epochs=None, **kwargs):
    """Train a real model for up to len(scores) epochs; Patience watches the scripted scores."""
    trainer, evaluator, train = make_engines(n_train=128)
    score, holder = scripted(scores)
    holder["trainer"] = trainer
    handler = Patience(score_function=score, **kwargs).attach(trainer, evaluator)
    trainer.run(train, max_epochs=max_epochs or len(scores))
    return trainer, handler


def test_patience_is_an_ignite_early_stopping():
    assert isinstance(Patience(3, metric="accuracy", mode="max"), EarlyStopping)


def test_frozen_model_stops_after_exactly_patience_evaluations_with_a_reason():
    trainer, evaluator, train = make_engines(lr=0.0)  # lr=0: validation accuracy never moves
    p = Patience(3, metric="accuracy", mode="max").attach(trainer, evaluator)
    trainer.run(train, max_epochs=20)
    assert trainer.state.epoch == 4  # 1 first score + 3 without improvement
    code, reason = stop_record(trainer)
    assert code == "patience" and trainer.state.stop_code == "patience"
    assert reason.startswith("patience: no improvement in 3 evaluations (best accuracy ")
    assert reason.endswith(" at epoch 1)") and p.counter == 3


def test_an_improvement_resets_the_count():
    # improvements at epochs 1, 2, 4; then 3 without: stop at epoch 7, not at 5
    trainer, p = run_scripted([0.1, 0.2, 0.2, 0.3, 0.3, 0.25, 0.3, 0.9, 0.9], patience=3, mode="max")
    assert trainer.state.epoch == 7 and p.best_value == 0.3 and p.best_epoch == 4
    assert trainer.state.stop_reason == "patience: no improvement in 3 evaluations (best 0.3 at epoch 4)"


def test_warmup_delays_the_stop_until_after_warmup_evaluations():
    scores = [0.5] * 12
    trainer, _ = run_scripted(scores, patience=2, mode="max")
    assert trainer.state.epoch == 3
    trainer, p = run_scripted(scores, patience=2, mode="max", warmup=6)
    assert trainer.state.epoch == 7 and p.n_evaluations == 7  # not before the 6 warmup evaluations
    assert "in 6 evaluations" in trainer.state.stop_reason


def test_absolute_min_delta_ignores_small_improvements_and_names_the_delta():
    scores = [1.0, 0.95, 0.92, 0.905, 0.5]  # mode min: each step improves by < 0.1 of the best at epoch 1
    trainer, p = run_scripted(scores, patience=3, mode="min", min_delta=0.1)
    assert trainer.state.epoch == 4
    assert trainer.state.stop_reason == "patience: no improvement > 0.1 in 3 evaluations (best 0.905 at epoch 4)"


def test_small_steps_that_add_up_past_min_delta_count_as_an_improvement():
    # the bar is the last improvement, not the last score: 0.14 beats 0.0 + 0.1 at epoch 3
    trainer, _ = run_scripted([0.0, 0.07, 0.14, 0.14, 0.14, 0.14, 0.14], patience=3, mode="max", min_delta=0.1)
    assert trainer.state.epoch == 6


def test_relative_min_delta_is_measured_against_the_magnitude_of_a_negative_best():
    # mode max on negative scores: -0.95 beats -1.0 by 5% of |best|; -0.94 and -0.935 do not beat -0.95 by 2%
    # (Ignite's best * (1 + delta) = -0.969 would count them as improvements)
    trainer, _ = run_scripted([-1.0, -0.95, -0.94, -0.935, -0.5], patience=2, mode="max", min_delta=0.02,
                              min_delta_mode="rel")
    assert trainer.state.epoch == 4
    assert "no improvement > 0.02 x |best|" in trainer.state.stop_reason


def test_nan_score_counts_as_no_improvement():
    trainer, p = run_scripted([0.5, math.nan, math.nan, 0.9], patience=2, mode="max")
    assert trainer.state.epoch == 3 and p.best_score == 0.5


def test_without_trainer_or_attach_it_refuses_to_run():
    trainer, evaluator, train = make_engines(n_train=128)
    evaluator.add_event_handler(Events.COMPLETED, Patience(1, metric="accuracy", mode="max"))
    with pytest.raises(RuntimeError, match="no trainer to stop"):
        trainer.run(train, max_epochs=2)


def test_trainer_given_at_construction_works_like_ignite():
    trainer, evaluator, train = make_engines(lr=0.0, n_train=128)
    evaluator.add_event_handler(Events.COMPLETED, Patience(1, metric="accuracy", mode="max", trainer=trainer))
    trainer.run(train, max_epochs=5)
    assert trainer.state.epoch == 2 and trainer.state.stop_code == "patience"


def test_state_dict_round_trip_keeps_the_count_and_the_best():
    trainer, p = run_scripted([0.3, 0.5, 0.4, 0.4], patience=5, mode="max")
    state = p.state_dict()
    q = Patience(5, metric="accuracy", mode="max")
    q.load_state_dict(state)
    assert (q.counter, q.best_score, q.best_value, q.best_epoch, q.n_evaluations) == (2, 0.5, 0.5, 2, 4)


def test_attaching_to_another_trainer_starts_fresh():
    p = Patience(2, metric="accuracy", mode="max")
    for _ in range(2):
        trainer, evaluator, train = make_engines(lr=0.0, n_train=128)
        p.attach(trainer, evaluator)
        trainer.run(train, max_epochs=10)
        assert trainer.state.epoch == 3  # the second trial did not inherit the first one's count


def test_a_missing_metric_is_named_with_the_available_ones():
    trainer, evaluator, train = make_engines(n_train=128)
    Patience(2, metric="acc", mode="max").attach(trainer, evaluator)
    with pytest.raises(ValueError, match=r"metric 'acc' is not in engine.state.metrics \(it has \['accuracy', 'loss'\]\)"):
        trainer.run(train, max_epochs=1)


@pytest.mark.parametrize("kwargs, match", [
    (dict(patience=0, metric="a", mode="max"), r"Patience: patience must be an int >= 1, got patience=0"),
    (dict(patience=2.5, metric="a", mode="max"), r"patience must be an int >= 1, got patience=2.5"),
    (dict(patience=2, metric="a", mode="maximum"), r"mode must be 'min' or 'max', got mode='maximum'"),
    (dict(patience=2, metric="a", mode="max", min_delta=-0.1), r"min_delta must be a finite number >= 0, got min_delta=-0.1"),
    (dict(patience=2, metric="a", mode="max", min_delta_mode="pct"), r"min_delta_mode must be 'abs' or 'rel', got min_delta_mode='pct'"),
    (dict(patience=2, metric="a", mode="max", warmup=-1), r"warmup must be an int >= 0, got warmup=-1"),
    (dict(patience=2, mode="max"), r"give exactly one of metric= or score_function=, got metric=None"),
    (dict(patience=2, metric="", mode="max"), r"metric must be a non-empty string .*got metric=''"),
])
def test_bad_arguments_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Patience(**kwargs)


def test_an_unattached_patience_pickles_for_worker_processes():
    import pickle

    p = pickle.loads(pickle.dumps(Patience(3, metric="accuracy", mode="max", min_delta=0.01)))
    assert (p.patience, p.metric, p.mode, p.threshold, p.trainer) == (3, "accuracy", "max", 0.01, None)


@pytest.mark.parametrize("how", ["metric", "score_function"])
def test_an_evaluator_attached_alone_raises_at_its_second_run_instead_of_never_stopping(how):
    # the Ignite habit without trainer=: the evaluator is taken for the trainer, and counting afresh at each of
    # its one-epoch runs, the handler could never stop training
    trainer, evaluator, train = make_engines(lr=0.0, n_train=128)
    kwargs = dict(metric="accuracy") if how == "metric" else dict(score_function=lambda e: 0.5)
    Patience(1, mode="max", **kwargs).attach(evaluator)
    with pytest.raises(RuntimeError, match=r"Patience: attached to one engine alone .* now starts a second run of one "
                                           r"epoch from scratch, as an evaluator does.* Give the trainer: "
                                           r"attach\(trainer, evaluator\), or Patience\(\.\.\., trainer=trainer\)"):
        trainer.run(train, max_epochs=5)
    assert trainer.state.epoch == 2  # the first evaluation passed; the second one raised


def test_the_trainer_attached_alone_still_watches_its_own_metrics_every_epoch():
    from ignite.engine import Engine

    trainer = Engine(lambda e, b: None)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda e: e.state.metrics.update(accuracy=0.5))
    p = Patience(2, metric="accuracy", mode="max").attach(trainer)
    trainer.run([0], max_epochs=1)  # a run of one epoch, continued, then runs started again: all fine
    trainer.run([0], max_epochs=2)
    assert stop_record(trainer) is None and p.counter == 0
    trainer.run([0], max_epochs=10)
    assert trainer.state.epoch == 5 and stop_record(trainer)[0] == "patience"
    trainer.run([0], max_epochs=10)  # the stopped run continued: counts afresh from epoch 6
    assert trainer.state.epoch == 8 and stop_record(trainer)[0] == "patience"
