"""PBT as a pure scheduler: exploit/explore choices, quantiles, pauses; no training here."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import torchsearch as ts
from torchsearch.schedulers import PBT
from torchsearch.space import Space

SPACE = Space({
    "lr": ts.Float(1e-4, 1.0, log=True),
    "drop": ts.Float(0.0, 0.5),
    "layers": ts.Int(0, 6),
    "bs": ts.PowerOfTwo(8, 128),
    "act": ts.Choice(["relu", "tanh", "elu"]),
})


def make(population=4, interval=1, mode="max", seed=0, **kw):
    s = PBT(population=population, interval=interval, seed=seed, **kw)
    s.setup(SPACE, mode=mode, seed=None)
    return s


def start(s, n):
    params = []
    for i in range(n):
        p = s.suggest()
        assert p is not None
        s.on_trial_start(i, p)
        params.append(p)
    return params


@pytest.mark.parametrize("kwargs, match", [
    ({"population": 1}, r"population must be an int >= 2, got population=1"),
    ({"interval": 0}, r"interval must be an int >= 1 \(evaluations\), got interval=0"),
    ({"quantile": 0.6}, r"quantile must be a number in \(0, 0.5\], got quantile=0.6"),
    ({"perturb": (0.8, -1.0)}, r"perturb must be a non-empty list of finite factors > 0"),
    ({"resample_probability": 1.5}, r"resample_probability must be in \[0, 1\], got resample_probability=1.5"),
    ({"hyperparams": "lr"}, r"hyperparams must be a list of parameter names, got hyperparams='lr'"),
])
def test_bad_arguments_name_the_parameter_and_what_is_allowed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PBT(**kwargs)


def test_unknown_hyperparams_are_rejected_at_setup():
    with pytest.raises(ValueError, match=r"hyperparams \['momentum'\] are not in the space"):
        make(hyperparams=["momentum"])


def test_suggests_exactly_population_members_then_none():
    s = make(population=3)
    start(s, 3)
    assert s.suggest() is None
    assert len(s) == 3


def test_explored_values_stay_in_the_space_for_every_kind_including_zero():
    s = make(resample_probability=0.25)
    corners = [
        {"lr": 1e-4, "drop": 0.0, "layers": 0, "bs": 8, "act": "relu"},
        {"lr": 1.0, "drop": 0.5, "layers": 6, "bs": 128, "act": "elu"},
        {"lr": 0.01, "drop": 0.25, "layers": 3, "bs": 32, "act": "tanh"},
    ]
    for base in corners:
        for _ in range(200):
            new, ops = s.explore(base)
            SPACE.validate(new)  # raises if anything left its bounds or kind
            assert isinstance(new["layers"], int) and isinstance(new["bs"], int) and isinstance(new["drop"], float)
            assert len(ops) == len(SPACE)


def test_a_zero_valued_float_leaves_zero_when_perturbed():
    s = make(resample_probability=0.0, perturb=(1.2,))
    new, ops = s.explore({"lr": 0.01, "drop": 0.0, "layers": 0, "bs": 8, "act": "relu"})
    assert new["drop"] == pytest.approx(0.1)  # (1.2 - 1) * (0.5 - 0.0)
    assert new["layers"] == 1                 # Int at zero: (1.2 - 1) * 6 = 1.2 -> 1
    assert "drop: 0 -> 0.1 (+0.1 from zero)" in ops


def test_operations_say_old_value_new_value_and_factor():
    s = make(resample_probability=0.0, perturb=(1.2,))
    new, ops = s.explore({"lr": 0.01, "drop": 0.2, "layers": 3, "bs": 32, "act": "relu"})
    assert new["lr"] == pytest.approx(0.012)
    assert ops[0] == "lr: 0.01 -> 0.012 (x1.2)"
    assert new["bs"] == 64  # 32 * 1.2 rounds back to 32 in exponent space: moved one power instead
    assert new["act"] == "tanh"  # the only neighbour of the first value
    assert re.fullmatch(r"act: 'relu' -> 'tanh' \(neighbour\)", ops[-1])


def test_hyperparams_limits_what_is_explored():
    s = make(hyperparams=["lr"], resample_probability=0.0)
    base = {"lr": 0.01, "drop": 0.2, "layers": 3, "bs": 32, "act": "relu"}
    new, ops = s.explore(base)
    assert {k: v for k, v in new.items() if k != "lr"} == {k: v for k, v in base.items() if k != "lr"}
    assert new["lr"] != base["lr"] and len(ops) == 1


def test_quantiles_pick_the_worst_and_best_quarter():
    s = make(population=8, interval=100)
    start(s, 8)
    values = [0.5, 0.9, 0.1, 0.7, 0.3, 0.8, 0.2, 0.6]  # mode="max"
    for i, v in enumerate(values):
        s.on_report(i, 1, v)
    bottom, top = s.quantiles()
    assert bottom == [2, 6]  # 0.1, 0.2
    assert top == [1, 5]     # 0.9, 0.8


def test_a_bottom_trial_exploits_a_top_trial_that_has_a_kept_state():
    s = make(population=4, interval=1, resample_probability=0.0)
    params = start(s, 4)
    first = s.on_report(0, 1, 0.9)
    # trial 0 reported alone: nothing to rank it against yet; its state is kept (a donor)
    assert first.action == "continue" and first.checkpoint
    for i, v in [(2, 0.6), (3, 0.8)]:
        s.on_report(i, 1, v)
    d = s.on_report(1, 1, 0.5)  # worst of the four at step 1; trial 0 is best and kept
    assert d.action == "exploit" and d.donor == 0
    assert d.operations[0] == "copy trial 0 (step 1)"
    for name in ("lr", "drop", "layers", "bs", "act"):
        assert any(op.startswith(f"{name}: ") for op in d.operations)
    assert d.params != params[0]
    SPACE.validate(d.params)


def test_a_trial_ahead_of_the_others_is_ranked_when_it_resumes():
    s = make(population=3, interval=1, resample_probability=0.0)
    start(s, 2)  # the third member waits for a slot
    assert s.on_report(0, 1, 0.2).action == "pause"  # alone at step 1: ranking deferred
    assert s.on_report(1, 1, 0.9).action == "pause"  # best at step 1, yields to the waiting member
    d = s.on_resume(0)  # now trial 1 has reached step 1 too: trial 0 is the worse one
    assert d is not None and d.action == "exploit" and d.donor == 1
    assert s.on_resume(1) is None  # trial 1 was ranked when it reported


def test_a_bottom_trial_pauses_with_its_exploit_while_members_wait():
    s = make(population=3, interval=1)
    start(s, 2)
    s.on_report(0, 1, 0.9)
    d = s.on_report(1, 1, 0.1)
    assert d.action == "pause" and d.donor == 0 and d.checkpoint and d.params is not None


def test_middle_trials_continue_and_are_kept_and_trials_are_ready_only_every_interval():
    s = make(population=4, interval=2)
    start(s, 4)
    for i, v in enumerate([0.9, 0.5, 0.6, 0.8]):
        assert s.on_report(i, 1, v).checkpoint is False  # first of two evaluations: not ready
    d = s.on_report(2, 2, 0.6)  # ready, neither bottom nor top
    assert d.action == "continue" and d.checkpoint


def test_ready_trials_pause_while_members_wait_for_a_slot_and_resume_on_request():
    s = make(population=3, interval=1)
    start(s, 2)  # the third member has not started: it waits
    d = s.on_report(0, 1, 0.5)
    assert d.action == "pause" and d.checkpoint
    s.on_trial_start(2, s.suggest())
    assert s.waiting() == 1  # trial 0 is paused
    s.on_resume(0)
    assert s.waiting() == 0
    assert s.on_report(0, 2, 0.7).action in ("continue", "exploit")


def test_finished_or_failed_members_are_neither_donors_nor_ranked():
    s = make(population=4, interval=1)
    start(s, 4)
    s.on_report(0, 1, 0.99)
    s.on_complete(0, None, "failed")
    for i, v in [(1, 0.5), (2, 0.6), (3, 0.7)]:
        s.on_report(i, 1, v)
    bottom, top = s.quantiles()
    assert 0 not in bottom + top
    assert top == [3]


def test_nan_values_are_not_ranked():
    s = make(population=4, interval=1)
    start(s, 4)
    s.on_report(0, 1, math.nan)
    for i, v in [(1, 0.5), (2, 0.6)]:
        s.on_report(i, 1, v)
    bottom, top = s.quantiles()
    assert bottom == [1] and top == [2]


def test_same_seed_same_decisions():
    def run(seed):
        s = make(population=4, interval=1, seed=seed)
        out = [SPACE.key(p) for p in start(s, 4)]
        rng = np.random.default_rng(0)
        for step in range(1, 6):
            for i in range(4):
                d = s.on_report(i, step, float(rng.random()))
                out.append((d.action, d.donor, d.operations))
        return out

    assert run(3) == run(3)
    assert run(3) != run(4)


@pytest.mark.parametrize("interval", [1, 2, 3, 5])
def test_quiet_reports_are_always_answered_continue_without_a_checkpoint(interval):
    # the promise worker processes rely on to send reports without waiting for the answer
    s = make(population=6, interval=interval)
    start(s, 6)
    rng = np.random.default_rng(interval)
    steps = dict.fromkeys(range(6), 0)
    quiet = dict.fromkeys(range(6), 0)
    for _ in range(300):
        n = int(rng.integers(6))
        steps[n] += 1
        d = s.on_report(n, steps[n], float(rng.random()))
        if quiet[n] > 0:
            assert d.action == "continue" and not d.checkpoint
            quiet[n] -= 1
        if d.action == "pause":
            s.on_resume(n)
        quiet[n] = s.quiet_reports(n)
        assert 0 <= quiet[n] <= interval - 1
    assert s.quiet_reports(99) == 0  # not a member: every report is answered


def test_schedulers_that_never_decide_let_every_report_pass():
    from torchsearch.schedulers import Grid, Random
    from torchsearch.schedulers.base import QUIET_ALWAYS

    assert Random(seed=0).quiet_reports(0) == QUIET_ALWAYS
    assert Grid().quiet_reports(3) == QUIET_ALWAYS
    assert make().quiet_reports(0) < QUIET_ALWAYS
