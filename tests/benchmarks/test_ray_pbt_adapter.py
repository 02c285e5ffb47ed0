"""benchmarks/_ray_pbt.py: the state a Ray Tune trial holds between steps (TrialState) and the
Trainable's use of it, tested without starting Ray.

With ``reuse_actors=True`` Ray hands a finished or paused trial's actor to the next trial and
calls ``reset_config(new_config)``; it restores a checkpoint afterwards only if that trial has
one. A trial that never ran has none, so whatever ``reset_config`` leaves is what it trains from.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")  # the digits data

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from _pbt_bench import DigitsShort  # noqa: E402
from _ray_pbt import TrialState, make_trainable  # noqa: E402

# two members of the same width: the case where an in-place reset kept the previous trial's weights
FIRST = {"lr": 0.05, "momentum": 0.9, "dropout": 0.1, "width": 32, "activation": "relu", "seed": 0}
SECOND = {"lr": 0.01, "momentum": 0.5, "dropout": 0.2, "width": 32, "activation": "relu", "seed": 1}


def weights(state: TrialState) -> list:
    return [t.clone() for t in state.module.model.state_dict().values()]


def assert_fresh(state: TrialState, config: dict) -> None:
    """``state`` holds exactly what a new actor would build for ``config``."""
    fresh = TrialState(DigitsShort, config)
    assert all(torch.equal(a, b) for a, b in zip(weights(state), weights(fresh)))
    assert state.module.optimizer.state_dict()["state"] == {}, "momentum buffers of the previous trial kept"
    group = state.module.optimizer.param_groups[0]
    assert (group["lr"], group["momentum"]) == (config["lr"], config["momentum"])
    assert all(m.p == config["dropout"] for m in state.module.model.modules() if isinstance(m, torch.nn.Dropout))


def test_a_fresh_trial_on_a_reused_state_starts_from_its_own_initial_weights():
    state = TrialState(DigitsShort, FIRST)
    state.step()  # the first trial trains: weights move, the optimiser gets momentum buffers
    state.reset(SECOND)
    assert_fresh(state, SECOND)


def test_a_restore_after_reset_loads_the_donors_weights_and_keeps_the_trials_own_hyperparameters():
    donor = TrialState(DigitsShort, FIRST)
    donor.step()
    checkpoint = {k: v for k, v in donor.state().items()}
    state = TrialState(DigitsShort, {**FIRST, "seed": 5})
    state.step()
    explored = {**FIRST, "lr": 0.02, "dropout": 0.3}  # PBT's exploit: the donor's config, perturbed
    state.reset(explored)
    state.load(checkpoint)
    assert all(torch.equal(a, b) for a, b in zip(weights(state), weights(donor)))
    assert state.module.optimizer.state_dict()["state"], "the donor's momentum buffers were not loaded"
    group = state.module.optimizer.param_groups[0]
    assert group["lr"] == 0.02 and group["momentum"] == FIRST["momentum"]
    assert all(m.p == 0.3 for m in state.module.model.modules() if isinstance(m, torch.nn.Dropout))


def test_the_trainables_reset_config_gives_a_fresh_trial_its_own_initial_weights():
    pytest.importorskip("ray.tune", exc_type=ImportError)  # (plain ray, without the tune extra, raises ImportError)
    trainable = make_trainable(DigitsShort)
    actor = object.__new__(trainable)  # the methods alone: Trainable.__init__ would set up logging
    trainable.setup(actor, dict(FIRST))
    trainable.step(actor)
    assert trainable.reset_config(actor, dict(SECOND)) is True
    assert_fresh(actor.trial, SECOND)
