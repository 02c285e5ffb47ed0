"""handlers/patience.py: Patience keeps Ignite's EarlyStopping promises (names, defaults, attach, reset).

Pytorch-ignite's own test suite runs against Patience too (tests/ignite_compat/run.py, in .ci/run);
these tests pin what that suite does not reach: the two attach forms side by side, a run started
again, a resumed state, and torchsearch's names next to Ignite's.
"""

from __future__ import annotations

import math
import warnings

import pytest
from ignite.engine import Engine, Events

from torchsearch.handlers import Patience, stop_record


def engines(scores):
    """A real trainer whose every epoch runs a real evaluator once; ``score(engine)`` gives
    ``scores[trainer epoch - 1]``."""
    trainer = Engine(lambda e, b: None)
    evaluator = Engine(lambda e, b: None)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda e: evaluator.run([0]))

    def score(engine):
        return scores[trainer.state.epoch - 1]

    return trainer, evaluator, score


def test_ignites_positional_form_takes_ignites_defaults():
    trainer, evaluator, score = engines([0.0] * 10)
    p = Patience(2, score, trainer)
    assert (p.trainer, p.mode, p.threshold, p.cumulative, p.threshold_mode) == (trainer, "max", 0.0, False, "abs")
    evaluator.add_event_handler(Events.COMPLETED, p)
    trainer.run([0], max_epochs=10)
    assert trainer.state.epoch == 3 and stop_record(trainer)[0] == "patience"


@pytest.mark.parametrize("kwargs, stop_epoch", [
    (dict(threshold=0.4), 3),                    # Ignite's default: each step must beat the best score by 0.4
    (dict(threshold=0.4, cumulative=False), 3),
    (dict(threshold=0.4, cumulative=True), None),  # 0.6 beats the last improvement (0.0) by more than 0.4
    (dict(min_delta=0.4), None),                 # torchsearch's name keeps torchsearch's cumulative bar
    (dict(min_delta=0.4, cumulative=False), 3),
])
def test_cumulative_decides_whether_small_steps_add_up(kwargs, stop_epoch):
    trainer, evaluator, score = engines([0.0, 0.3, 0.6, 0.9, 1.2])
    Patience(2, score, trainer, **kwargs).attach(evaluator)
    trainer.run([0], max_epochs=5)
    assert trainer.state.epoch == (stop_epoch or 5)
    assert (stop_record(trainer) is None) == (stop_epoch is None)


def test_ignite_names_and_torchsearch_names_are_one_setting_and_reading_them_warns_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = Patience(3, metric="loss", mode="min", threshold=0.1, threshold_mode="rel")
        assert (p.min_delta, p.min_delta_mode, p.threshold, p.threshold_mode) == (0.1, "rel", 0.1, "rel")
        q = Patience(3, metric="loss", mode="min", min_delta=0.2, min_delta_mode="abs")
        assert (q.threshold, q.threshold_mode, q.cumulative) == (0.2, "abs", True)
        q.min_delta = 0.3
        assert q.threshold == 0.3


def test_ignites_old_name_cumulative_delta_still_works_with_ignites_deprecation_warning():
    with pytest.warns(DeprecationWarning, match=r"cumulative_delta= is Ignite's old name of cumulative=; use cumulative="):
        p = Patience(3, metric="loss", mode="min", threshold=0.1, cumulative_delta=True)
    assert p.cumulative is True


@pytest.mark.parametrize("kwargs, match", [
    (dict(threshold=0.1, min_delta=0.2), r"threshold= and min_delta= name the same setting; give one, "
                                         r"got threshold=0.1 and min_delta=0.2"),
    (dict(threshold_mode="abs", min_delta_mode="rel"), r"threshold_mode= and min_delta_mode= name the same setting"),
    (dict(cumulative=False, cumulative_delta=True), r"cumulative= and cumulative_delta= name the same setting"),
])
def test_two_names_for_one_setting_are_refused_naming_both(kwargs, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ValueError, match=match):
            Patience(3, lambda e: 0.0, **kwargs)


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((3,), dict(metric="accuracy"), TypeError, r"mode= is required with metric='accuracy': 'max' if a higher"),
    ((3, "accuracy"), {}, TypeError, r"score_function must be callable\(engine\) -> float, got 'accuracy'; "
                                     r"to watch engine.state.metrics\['accuracy'\] give metric='accuracy'"),
    ((3, lambda e: 0.0, "trainer"), {}, TypeError, r"trainer must be an ignite Engine or None, got 'trainer'"),
    ((3, lambda e: 0.0), dict(threshold=-0.1), ValueError, r"threshold must be a finite number >= 0, got threshold=-0.1"),
    ((3, lambda e: 0.0), dict(threshold_mode="pct"), ValueError,
     r"threshold_mode must be 'abs' or 'rel', got threshold_mode='pct'"),
    ((3, lambda e: 0.0), dict(cumulative="yes"), TypeError, r"cumulative must be True or False, got cumulative='yes'"),
])
def test_bad_ignite_style_arguments_name_the_value(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        Patience(*args, **kwargs)


def test_a_second_run_of_the_same_trainer_counts_afresh():
    trainer, evaluator, score = engines([0.5] * 3)
    p = Patience(5, score, mode="max").attach(trainer, evaluator)
    trainer.run([0], max_epochs=3)
    assert p.counter == 2 and stop_record(trainer) is None
    trainer.run([0], max_epochs=3)  # a new run: without the reset the count would reach 5 at its third epoch
    assert trainer.state.epoch == 3 and p.counter == 2 and p.n_evaluations == 3
    assert stop_record(trainer) is None


def test_a_second_run_counts_afresh_when_attached_ignites_way_too():
    trainer, evaluator, score = engines([0.5] * 3)
    p = Patience(3, score, trainer)
    p.attach(evaluator)  # resets when the trainer starts a run, not when each evaluation does
    assert trainer.has_event_handler(p.reset, Events.STARTED)
    assert not evaluator.has_event_handler(p.reset, Events.STARTED)
    trainer.run([0], max_epochs=3)
    trainer.run([0], max_epochs=3)
    assert p.counter == 2 and stop_record(trainer) is None


def test_a_state_loaded_before_the_run_is_resumed_not_reset():
    trainer, evaluator, score = engines([0.5] * 10)
    first = Patience(4, score, mode="max").attach(trainer, evaluator)
    trainer.run([0], max_epochs=3)
    state = first.state_dict()
    assert state["counter"] == 2

    trainer2, evaluator2, score2 = engines([0.5] * 10)  # a resumed run: new engines, the state loaded
    second = Patience(4, score2, mode="max").attach(trainer2, evaluator2)
    second.load_state_dict(state)
    trainer2.run([0], max_epochs=10)
    assert trainer2.state.epoch == 2 and second.counter == 4 and second.n_evaluations == 5

    trainer3, evaluator3, score3 = engines([0.5] * 10)  # a new handler may take the state before attach
    third = Patience(4, score3, mode="max")
    third.load_state_dict(state)
    third.attach(trainer3, evaluator3)
    trainer3.run([0], max_epochs=10)
    assert trainer3.state.epoch == 2

    trainer3.run([0], max_epochs=10)  # ... and only that run resumes: the next one (epochs 3 to 7) starts afresh
    assert trainer3.state.epoch == 7 and third.n_evaluations == 5


def test_a_state_loaded_for_one_trainer_is_not_carried_to_the_next():
    # one handler serving several trials: a state loaded for a trial that then never ran
    # (it had already trained all its epochs) must not leak into the next trial
    trainer, evaluator, _ = engines([0.5] * 10)
    p = Patience(4, lambda engine: 0.5, mode="max").attach(trainer, evaluator)
    p.load_state_dict({"counter": 3, "best_score": 0.5, "threshold_mode": "abs"})
    other, other_evaluator, _ = engines([0.5] * 10)
    p.attach(other, other_evaluator)
    other.run([0], max_epochs=10)
    assert other.state.epoch == 5 and p.n_evaluations == 5


def test_reset_called_directly_forgets_a_loaded_state():
    p = Patience(4, lambda e: 0.0)
    p.load_state_dict({"counter": 3, "best_score": 1.0, "threshold_mode": "abs", "n_evaluations": 4, "best_value": 1.0,
                       "best_epoch": 1})
    p.reset()
    assert (p.counter, p.best_score, p.n_evaluations, p.best_value) == (0, None, 0, None)


def test_attach_to_the_evaluator_stops_the_trainer_given_to_the_constructor():
    trainer, evaluator, score = engines([0.5] * 10)
    p = Patience(2, score, trainer)
    p.attach(evaluator)
    trainer.run([0], max_epochs=10)
    assert p.trainer is trainer and trainer.state.epoch == 3 and stop_record(trainer)[0] == "patience"


def test_attach_never_moves_the_constructors_trainer_to_another():
    trainer, evaluator, score = engines([0.5] * 10)
    other, other_evaluator, _ = engines([0.5] * 10)
    p = Patience(2, score, trainer)
    with pytest.raises(ValueError, match=r"stops the trainer given to its constructor .* and is never moved"):
        p.attach(other, other_evaluator)
    assert p.trainer is trainer
    p.attach(trainer, evaluator)  # torchsearch's form with the same trainer is fine
    trainer.run([0], max_epochs=10)
    assert trainer.state.epoch == 3


def test_ignites_keyword_attach_puts_the_check_and_the_reset_where_asked():
    trainer, evaluator, score = engines([0.5] * 10)
    p = Patience(2, score, trainer)
    p.attach(engine=evaluator, event=Events.EPOCH_COMPLETED, reset_engine=trainer, reset_event=Events.EPOCH_STARTED)
    assert evaluator.has_event_handler(p, Events.EPOCH_COMPLETED)
    assert trainer.has_event_handler(p.reset, Events.EPOCH_STARTED)
    trainer.run([0], max_epochs=6)  # reset at every trainer epoch: the count never passes 1
    assert trainer.state.epoch == 6 and stop_record(trainer) is None


def test_ignites_attach_on_the_trainer_itself_runs_at_its_completion():
    trainer, evaluator, score = engines([0.5] * 10)
    p = Patience(5, score, trainer)
    p.attach(trainer)
    assert trainer.has_event_handler(p, Events.COMPLETED) and trainer.has_event_handler(p.reset, Events.STARTED)


def test_ignites_attach_without_a_constructor_trainer_says_what_is_missing():
    _, evaluator, score = engines([0.5])
    with pytest.raises(ValueError, match=r"Ignite's form: it stops the trainer given to Patience\(\.\.\., trainer=\.\.\.\)"):
        Patience(2, score).attach(evaluator, Events.COMPLETED)
    with pytest.raises(TypeError, match=r"give Ignite's .* or torchsearch's .* not a mix"):
        Patience(2, score).attach(engine=evaluator, evaluator=evaluator)


def test_torchsearch_attach_with_its_event_third_still_works():
    trainer, evaluator, score = engines([0.5] * 10)
    p = Patience(2, score, mode="max").attach(trainer, evaluator, Events.COMPLETED)
    assert evaluator.has_event_handler(p, Events.COMPLETED) and p.trainer is trainer
    trainer.run([0], max_epochs=10)
    assert trainer.state.epoch == 3


def test_a_nan_score_is_never_the_best_even_without_cumulative():
    trainer, evaluator, score = engines([0.5, math.nan, 0.6, 0.55, 0.58])
    p = Patience(2, score, trainer, threshold=0.01).attach(evaluator)
    trainer.run([0], max_epochs=5)
    # 0.6 improves on 0.5; the NaN and 0.55 do not; the bar followed the best (0.6), not the NaN
    assert trainer.state.epoch == 5 and p.best_score == 0.6 and p.counter == 2
