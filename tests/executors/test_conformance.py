"""One executor conformance suite: the same studies on InProcess, Processes and Ray give the same
kind of record (reports, stops, budgets, failures, seeds, PBT pauses/resumes/exploits, and on
Ray the kept states through its object store; resume after an interruption). Ray runs on the
session's two-node loopback cluster (conftest.py) and is skipped, with the reason, where Ray is
not installed."""

from __future__ import annotations

import pytest

import torchsearch as ts
from torchsearch.executors import InProcess, Processes
from torchsearch.schedulers import PBT, Grid, Random
from tests.executors.test_ray import needs_ray
from tests.pbt_models import DropoutRegression

X = {"x": ts.Choice([0, 1, 2, 3])}
SPACE = {"lr": ts.Float(1e-3, 0.3, log=True), "momentum": ts.Float(0.0, 0.95), "dropout": ts.Float(0.0, 0.5)}


@pytest.fixture(scope="module")
def processes_pool():
    with Processes("cpu", workers=2, threads=1) as ex:
        yield ex


@pytest.fixture(scope="module")
def ray_pool(cluster):
    from torchsearch.executors import Ray

    with Ray() as ex:
        yield ex


@pytest.fixture(params=["inprocess", "processes", pytest.param("ray", marks=[needs_ray, pytest.mark.ray_cluster])])
def executor(request):
    if request.param == "inprocess":
        return InProcess()
    return request.getfixturevalue(f"{request.param}_pool")


class Reports:
    """Reports value = x * step for ``steps`` steps; x == ``fail``: raises at step 2."""

    def __init__(self, steps: int = 5, fail: int | None = None) -> None:
        self.steps, self.fail = steps, fail

    def __call__(self, trial):
        from types import SimpleNamespace

        x = trial.params["x"]
        for step in range(1, self.steps + 1):
            if x == self.fail and step == 2:
                raise ValueError(f"trial with x={x} fails at step 2")
            d = trial.report({"value": float(x * step)}, step=step, final=step == self.steps)
            if d.action == "stop":
                return SimpleNamespace(stop_code=d.code, stop_reason=d.reason)
        return None


def study(**kw):
    return ts.Study(space=X, scheduler=Grid(), metric="value", mode="max", verbose=False, **kw)


def test_every_report_is_stored_and_each_trial_completes(executor):
    s = study()
    s.run(Reports(), executor=executor)
    assert sorted(t.params["x"] for t in s.trials) == [0, 1, 2, 3]
    for t in s.trials:
        assert t.state == "completed"
        assert t.metrics["value"] == {step: float(t.params["x"] * step) for step in range(1, 6)}
        assert t.value == float(t.params["x"] * 5)
    assert s.best_trial.params["x"] == 3


def test_a_failing_trial_is_recorded_with_its_error_and_the_study_goes_on(executor):
    s = study()
    s.run(Reports(fail=2), executor=executor)
    by_x = {t.params["x"]: t for t in s.trials}
    assert by_x[2].state == "failed" and by_x[2].error == "ValueError: trial with x=2 fails at step 2"
    assert "fails at step 2" in by_x[2].traceback
    assert [by_x[x].state for x in (0, 1, 3)] == ["completed"] * 3


def test_an_epoch_budget_stops_the_running_trials_with_its_code(executor):
    s = study()
    s.run(Reports(steps=5), epoch_budget=7, executor=executor)
    stopped = [t for t in s.trials if t.state == "stopped"]
    assert stopped and all(t.stop_code == "study_epoch_budget" for t in stopped)
    assert all(t.state in ("completed", "stopped") for t in s.trials)
    assert s.end_reason == "epoch budget of 7 epochs exhausted"


_REFERENCE: dict[str, dict] = {}


def _trained(executor):
    s = ts.tune(DropoutRegression, SPACE, scheduler=Random(seed=3), metric="mse", mode="min", epochs=2,
                n_trials=2, seed=7, executor=executor, verbose=False)
    return {t.number: (t.params, t.metrics["mse"]) for t in s.trials}


def test_a_seeded_study_trains_the_same_whatever_executor_runs_it(executor):
    if "inprocess" not in _REFERENCE:
        _REFERENCE["inprocess"] = _trained(InProcess())
    got, want = _trained(executor), _REFERENCE["inprocess"]
    assert got.keys() == want.keys()
    for n in want:
        assert got[n][0] == want[n][0]  # the same suggestions
        assert got[n][1] == pytest.approx(want[n][1], rel=1e-5)  # the same training (seeded per trial)


def test_pbt_pauses_resumes_and_exploits_and_each_epoch_is_trained_once(tmp_path, executor):
    store = getattr(executor, "_store", None)  # Ray: kept states sent to actors go through its object store
    puts = None if store is None else store.puts
    s = ts.tune(DropoutRegression, SPACE, scheduler=PBT(population=4, interval=1, quantile=0.5, seed=0), metric="mse",
                mode="min", epochs=8, seed=0, storage=str(tmp_path), executor=executor, verbose=False)
    trials = s.trials
    assert [t.state for t in trials] == ["completed"] * 4
    rows = s.lineage()
    assert rows, "some trial exploited another"  # (quantile=0.5: with 0.25, one member in four, some runs had none)
    for t in trials:  # every epoch it trained, once (a copy goes on from the donor's step)
        skipped = {st for r in rows if r["trial"] == t.number for st in range(r["step"] + 1, r["donor_step"] + 1)}
        assert sorted(t.metrics["mse"]) == [st for st in range(1, 9) if st not in skipped]
    resumes = s._coordinator.population.resumes
    assert resumes["held"] + resumes["sent"] >= 4  # members paused and resumed (4 of them on at most 2 slots)
    if store is not None:  # every state sent to an actor (a resume elsewhere, a donor's) was put there, once:
        # an exploit always sends one (the donor's state, or the merged state it resumes from)
        assert 0 < store.puts - puts <= resumes["sent"] + len(rows)
    assert s.load_module(DropoutRegression) is not None


def test_an_interrupted_study_resumes_on_the_same_storage_and_counts_nothing_twice(tmp_path, executor, monkeypatch):
    calls = []
    submit = executor.submit

    def interrupt_at_the_second(trial, job):
        calls.append(trial.number)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as Ctrl+C in the coordinator would
        submit(trial, job)

    monkeypatch.setattr(executor, "submit", interrupt_at_the_second)
    first = study(storage=str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        first.run(Reports(steps=40), n_trials=4, executor=executor)
    monkeypatch.undo()
    states = [t.state for t in first.trials]
    assert "interrupted" in states and set(states) <= {"completed", "interrupted"}
    again = study(storage=str(tmp_path))
    again.run(Reports(steps=40), n_trials=4, executor=executor)
    done = [t for t in again.trials if t.state == "completed"]
    assert again.n_finished() == 4 and sorted(t.params["x"] for t in done) == [0, 1, 2, 3]
    interrupted = [t.params for t in again.trials if t.state == "interrupted"]
    rerun = [t.params for t in again.trials[len(states):len(states) + len(interrupted)]]
    assert rerun == interrupted  # the interrupted trials run again first
