"""handlers/time_budget.py: TimeBudget with a fake clock (no sleeping, no timing)."""

from __future__ import annotations

import pytest
from ignite.engine import Events

from tests.handlers.conftest import FakeClock, make_engines
from torchsearch.handlers import TimeBudget


def engines_ticking(clock: FakeClock, seconds_per_iteration: float = 1.0):
    """Real engines where each training iteration 'takes' ``seconds_per_iteration`` on ``clock``."""
    trainer, evaluator, train = make_engines(batch_size=64)  # 23 iterations per epoch
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: clock.advance(seconds_per_iteration))
    return trainer, train


def test_stops_at_the_first_iteration_past_the_budget(clock):
    trainer, train = engines_ticking(clock)
    TimeBudget(30.5, clock=clock).attach(trainer)
    trainer.run(train, max_epochs=10)
    assert trainer.state.iteration == 31 and trainer.state.epoch == 2
    assert trainer.state.stop_code == "time_budget"
    assert trainer.state.stop_reason == "time budget: 31.00s used of 30.5s (epoch 2, iteration 31)"


def test_the_clock_starts_when_the_run_starts_not_when_built(clock):
    budget = TimeBudget(10, clock=clock)
    clock.advance(1000.0)  # building the model, loading data...
    trainer, train = engines_ticking(clock)
    budget.attach(trainer)
    trainer.run(train, max_epochs=1)
    assert trainer.state.iteration == 10


def test_elapsed_time_survives_a_state_dict_round_trip(clock):
    trainer, train = engines_ticking(clock)
    first = TimeBudget(40, clock=clock).attach(trainer)
    trainer.run(train, max_epochs=1)  # 23 s of the 40 s budget, then the run ends
    state = first.state_dict()
    assert state["elapsed"] == 23.0 and first.remaining == 17.0
    clock.advance(500.0)  # the process was down: time between runs does not count

    trainer, train = engines_ticking(clock)  # a resumed run in a new process
    second = TimeBudget(40, clock=clock)
    second.load_state_dict(state)
    second.attach(trainer)
    trainer.run(train, max_epochs=5)
    assert trainer.state.iteration == 17  # 23 + 17 = 40: not a fresh budget
    assert second.elapsed == 40.0


def test_a_spent_budget_stops_a_resumed_run_before_its_first_iteration(clock):
    trainer, train = engines_ticking(clock)
    budget = TimeBudget(5, clock=clock)
    budget.load_state_dict({"elapsed": 6.0})
    budget.attach(trainer)
    trainer.run(train, max_epochs=1)
    assert trainer.state.iteration == 0 and trainer.state.stop_code == "time_budget"


def test_default_clock_is_monotonic_and_the_budget_is_not_spent_by_a_short_run():
    trainer, evaluator, train = make_engines(n_train=64)
    budget = TimeBudget(3600).attach(trainer)
    trainer.run(train, max_epochs=1)
    assert trainer.state.stop_code is None and 0 <= budget.elapsed < 3600


@pytest.mark.parametrize("seconds, match", [
    (0, r"TimeBudget: seconds must be a finite number > 0, got seconds=0"),
    (-5, r"seconds must be a finite number > 0, got seconds=-5"),
    ("10", r"seconds must be a finite number > 0, got seconds='10'"),
])
def test_bad_arguments_name_the_value(seconds, match):
    with pytest.raises(ValueError, match=match):
        TimeBudget(seconds)


def test_bad_clock_and_bad_state_are_named():
    with pytest.raises(TypeError, match=r"clock must be callable\(\) -> seconds, got clock=5"):
        TimeBudget(1, clock=5)
    with pytest.raises(ValueError, match=r"elapsed must be a finite number >= 0, got elapsed=-1"):
        TimeBudget(1).load_state_dict({"elapsed": -1})


def test_added_without_attach_it_says_to_attach_rather_than_measure_from_a_wrong_start(clock):
    trainer, train = engines_ticking(clock)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, TimeBudget(10, clock=clock))
    with pytest.raises(RuntimeError, match=r"use TimeBudget\(\.\.\.\)\.attach\(trainer\)"):
        trainer.run(train, max_epochs=1)
