"""A hung trial does not hang the study: ``trial_timeout`` and the time budget end it from the
coordinator (its worker killed and replaced), and the study goes on. Real worker processes; one
trial blocks in ``time.sleep`` (its worker's heartbeat goes on, its progress stops), another in C
holding the GIL (no heartbeat at all)."""

from __future__ import annotations

import pytest

import torchsearch as ts
from torchsearch.executors import Processes
from torchsearch.schedulers import Grid
from tests.faults.models import Faulty


@pytest.fixture(scope="module")
def pool():
    """Two ready workers (their start-up, seconds on a busy machine, is not part of any budget here)."""
    with Processes("cpu", workers=2, threads=1) as ex:
        yield ex


def _space(*modes):
    return {"lr": ts.Choice([0.05]), "mode": ts.Choice(list(modes))}


def test_a_hung_trial_is_failed_after_trial_timeout_its_worker_replaced_and_the_study_goes_on(pool):
    before = {w.process.pid for w in pool._workers}
    study = ts.tune(Faulty, _space("ok", "sleep", "gil"), scheduler=Grid(), metric="mse", mode="min", epochs=2,
                    executor=pool, trial_timeout=15, verbose=False)
    # (15 s: the "ok" trial's setup and first steps in a fresh worker - the model, Ignite's engine, the
    # first backward and optimizer step - took over 8 s at load 12 on 2 cores, and it failed)
    by = {t.params["mode"]: t for t in study.trials}
    assert by["ok"].state == "completed" and sorted(by["ok"].metrics["mse"]) == [1, 2], by["ok"].error
    for mode in ("sleep", "gil"):
        assert by[mode].state == "failed", by[mode]
        assert by[mode].error.startswith("no report for 15 s (trial_timeout); its worker process (pid ")
    assert study.end_reason == "the scheduler has nothing more to suggest"
    after = {w.process.pid for w in pool._workers}
    assert len(before - after) == 2 and all(w.trial is None for w in pool._workers)  # both hung workers replaced


def test_a_hung_trial_is_ended_a_short_grace_after_the_study_time_budget(pool):
    study = ts.tune(Faulty, _space("gil"), scheduler=Grid(), metric="mse", mode="min", epochs=2, executor=pool,
                    time_budget=3, verbose=False)
    (t,) = study.trials
    assert t.state == "failed"
    assert t.error.startswith("still running 2 s after the study time budget of 3s ran out")
    assert study.end_reason == "time budget of 3s exhausted"


def test_a_trial_whose_worker_has_not_begun_it_when_the_time_budget_runs_out_is_interrupted_not_failed(monkeypatch):
    # a time budget shorter than the worker's start-up is not a hang: the trial never began, so it is
    # interrupted (it runs again first next time, and teaches no scheduler that its params fail)
    from tests.faults.slow_import import SlowToImport

    monkeypatch.setenv("TS_SLOW_IMPORT", "30")
    with Processes("cpu", workers=1, threads=1) as ex:
        study = ts.tune(SlowToImport, {"lr": ts.Choice([0.05])}, scheduler=Grid(), metric="mse", mode="min",
                        epochs=2, executor=ex, time_budget=1, verbose=False)
    (t,) = study.trials
    assert t.state == "interrupted", (t.state, t.error)
    assert "ran out before the trial began" in (t.error or t.stop_reason or ""), t
    assert study.end_reason == "time budget of 1s exhausted"
