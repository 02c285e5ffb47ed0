"""study.py / tuning.py: studies store every trial, resume, survive failures."""

from __future__ import annotations

import logging
import math

import pytest
import torch

import torchsearch as ts
from tests.models import TinyRegression
from torchsearch.schedulers import Grid, Random
from torchsearch.exceptions import TrialError
from torchsearch.storage import Storage

SPACE = {"lr": ts.Float(1e-3, 0.3, log=True), "width": ts.PowerOfTwo(4, 16)}


def test_grid_study_on_a_real_model_stores_every_trial_and_report(tmp_path):
    study = ts.tune(TinyRegression, SPACE, scheduler=Grid(points={"lr": 2}), metric="mse", mode="min", epochs=3,
                    storage=tmp_path / "runs", verbose=False)
    trials = study.trials
    assert len(trials) == 2 * 3 and study.end_reason == "the scheduler has nothing more to suggest"
    assert {ts.space.Space(SPACE).key(t.params) for t in trials} == {
        ts.space.Space(SPACE).key(p) for p in ts.Space(SPACE).grid({"lr": 2})}
    for t in trials:
        assert t.state == "completed" and sorted(t.metrics) == ["mse", "n"]
        assert sorted(t.metrics["mse"]) == [1, 2, 3]
        assert t.value == min(t.metrics["mse"].values()) and t.best_step in (1, 2, 3)
        assert t.started <= t.ended
    assert (tmp_path / "runs" / "study.db").exists() and (tmp_path / "runs" / "checkpoints").is_dir()
    best = study.best_trial
    assert best.value == min(t.value for t in trials)


def test_best_trial_weights_load_back_into_the_module(tmp_path):
    study = ts.tune(TinyRegression, SPACE, scheduler=Random(seed=0), metric="mse", mode="min", epochs=2,
                    n_trials=3, storage=tmp_path, verbose=False)
    module = study.load_module(TinyRegression)
    assert module.hp == study.best_trial.params
    x, y = [torch.cat(t) for t in zip(*module.val_loader)]
    with torch.no_grad():
        mse = torch.nn.functional.mse_loss(module.model(x), y).item()
    assert mse == pytest.approx(study.best_trial.last("mse"), rel=1e-5)
    ckpts = list((tmp_path / "checkpoints").glob("*.pt"))
    assert [c.stem for c in ckpts] == [f"TinyRegression-trial-{study.best_trial.number}"]  # only the best kept


def test_same_seed_gives_same_study():
    runs = [ts.tune(TinyRegression, SPACE, scheduler=Random(), metric="mse", mode="min", epochs=2, n_trials=3,
                    seed=11, verbose=False) for _ in range(2)]
    a, b = ([(t.params, t.value) for t in s.trials] for s in runs)
    assert a == b


def test_reopening_a_study_continues_it(tmp_path):
    kw = dict(scheduler=Random(seed=1), metric="mse", mode="min", epochs=1, storage=tmp_path, verbose=False)
    first = ts.tune(TinyRegression, SPACE, n_trials=3, **kw)
    params = [t.params for t in first.trials]
    again = ts.tune(TinyRegression, SPACE, n_trials=5, **{**kw, "scheduler": Random(seed=1)})
    trials = again.trials
    assert len(trials) == 5 and [t.params for t in trials[:3]] == params
    assert len({again.space.key(t.params) for t in trials}) == 5  # the sequence continues, no repeats
    # the same command once more runs nothing: n_trials is the study's total
    third = ts.tune(TinyRegression, SPACE, n_trials=5, **{**kw, "scheduler": Random(seed=1)})
    assert len(third.trials) == 5


def test_a_study_continued_with_another_scheduler_records_the_one_its_latest_run_used(tmp_path):
    kw = dict(metric="mse", mode="min", epochs=1, storage=tmp_path, verbose=False)
    ts.tune(TinyRegression, SPACE, scheduler=Random(seed=1), n_trials=2, **kw)
    ts.tune(TinyRegression, SPACE, scheduler=Random(sobol=True, seed=2), n_trials=3, **kw)
    (row,) = Storage(tmp_path).list_studies()
    assert row["scheduler"] == "Random(sobol=True, seed=2)"
    assert ts.load_study(tmp_path).trials[-1].number == 2  # (and the study went on)


def test_grid_points_done_are_not_repeated_after_a_resume(tmp_path):
    kw = dict(metric="mse", mode="min", epochs=1, storage=tmp_path, verbose=False)
    ts.tune(TinyRegression, SPACE, scheduler=Grid(points={"lr": 2}), n_trials=2, **kw)
    study = ts.tune(TinyRegression, SPACE, scheduler=Grid(points={"lr": 2}), **kw)
    keys = [study.space.key(t.params) for t in study.trials]
    assert len(keys) == 6 == len(set(keys))


def test_trial_running_when_the_process_died_is_recorded_and_run_again(tmp_path):
    study = ts.Study(space=SPACE, scheduler=Random(seed=2), metric="mse", mode="min", storage=tmp_path,
                     name="crash", verbose=False)
    orphan = study.ask()  # the process "dies" here: never told
    study.storage.close()
    again = ts.tune(TinyRegression, SPACE, scheduler=Random(seed=2), metric="mse", mode="min", epochs=1,
                    n_trials=2, storage=tmp_path, study_name="crash", verbose=False)
    trials = again.trials
    assert trials[0].state == "interrupted" and "ended before it finished" in trials[0].error
    assert trials[1].params == orphan.params and trials[1].state == "completed"  # run again first
    assert [t.state for t in trials].count("completed") == 2


def test_failing_and_nan_trials_are_recorded_and_the_study_goes_on():
    space = {"lr": ts.Float(1e-3, 0.1, log=True), "fail": ts.Choice([False, True]), "nan": ts.Choice([False, True])}
    study = ts.tune(TinyRegression, space, scheduler=Grid(points=1), metric="mse", mode="min", epochs=2,
                    verbose=False)
    by = {(t.params["fail"], t.params["nan"]): t for t in study.trials}
    assert len(by) == 4
    assert by[(True, False)].state == "failed" and "setup failed on purpose" in by[(True, False)].error
    assert "RuntimeError" in by[(True, False)].traceback
    nan = by[(False, True)]
    assert nan.state == "failed" and "training loss became nan" in nan.error and nan.value is None
    assert study.best_trial.params == {"lr": pytest.approx(0.01), "fail": False, "nan": False}


def test_a_failed_trial_is_not_reported_twice_by_ignites_engine_log(caplog):
    space = {"lr": ts.Float(1e-3, 0.1, log=True), "nan": ts.Choice([True])}
    with caplog.at_level(logging.WARNING):
        study = ts.tune(TinyRegression, space, scheduler=Grid(points=1), metric="mse", mode="min", epochs=2,
                        verbose=False)
    assert study.trials[0].state == "failed" and "training loss became nan" in study.trials[0].error
    assert not [r for r in caplog.records if "terminating due to exception" in r.getMessage()]


def test_best_trial_never_returns_nan_from_optimize():
    values = iter([math.nan, 3.0, math.inf, 1.0, 2.0])
    study = ts.optimize(lambda p: next(values), {"x": ts.Float(0, 1)}, scheduler=Random(seed=0), n_trials=5)
    states = [t.state for t in study.trials]
    assert states == ["failed", "completed", "failed", "completed", "completed"]
    assert study.trials[0].error == "TrialFailed: objective returned nan"
    assert study.best_trial.value == 1.0 and study.best_trial.number == 3


def test_optimize_finds_a_minimum_and_maximum():
    study = ts.optimize(lambda p: (p["x"] - 2) ** 2, {"x": ts.Float(-5, 5)}, scheduler=Random(seed=0), n_trials=60)
    assert abs(study.best_trial.params["x"] - 2) < 0.5
    study = ts.optimize(lambda p: -((p["x"] - 2) ** 2), {"x": ts.Float(-5, 5)}, scheduler=Random(seed=0),
                        n_trials=60, mode="max")
    assert abs(study.best_trial.params["x"] - 2) < 0.5


def test_no_finished_trial_means_no_best_trial():
    study = ts.Study(space=SPACE, metric="mse", verbose=False)
    with pytest.raises(ts.TorchSearchError, match="has no completed trial with a finite 'mse' yet"):
        study.best_trial


def test_study_arguments_are_checked():
    with pytest.raises(ValueError, match="mode must be 'min' or 'max', got mode='minimize'"):
        ts.Study(space=SPACE, mode="minimize")
    with pytest.raises(ValueError, match="n_trials must be an int >= 1 or None, got n_trials=0"):
        ts.optimize(lambda p: 0.0, SPACE, n_trials=0)
    with pytest.raises(ValueError, match=r"Random\(sobol=False, seed=None\) never runs out of suggestions"):
        ts.optimize(lambda p: 0.0, SPACE)
    with pytest.raises(ValueError, match="epochs must be an int >= 1, got epochs=0"):
        ts.tune(TinyRegression, SPACE, metric="mse", mode="min", epochs=0, n_trials=1)
    with pytest.raises(TypeError, match="module_cls must be a TrialModule subclass"):
        ts.tune(object, SPACE, metric="mse", mode="min", epochs=1, n_trials=1)


def test_reopening_with_a_different_space_is_refused_and_loses_nothing(tmp_path):
    ts.optimize(lambda p: p["x"], {"x": ts.Float(0, 1)}, n_trials=2, storage=tmp_path, study_name="s")
    with pytest.raises(ts.StorageError, match=r"study 's' .* was created with space"):
        ts.optimize(lambda p: p["x"], {"x": ts.Float(0, 2)}, n_trials=2, storage=tmp_path, study_name="s")
    study = ts.optimize(lambda p: p["x"], {"x": ts.Float(0, 1)}, n_trials=2, storage=tmp_path, study_name="s")
    assert len(study.trials) == 2


def test_unknown_metric_stops_the_study_with_a_clear_error():
    # a programming error at the first trial fails fast (issue 16; tests/test_failfast_study.py)
    with pytest.raises(TrialError, match=r"the study metric 'accuracy' is not among the reported metrics \['mse', 'n'\]"):
        ts.tune(TinyRegression, SPACE, metric="accuracy", mode="max", epochs=1, n_trials=1, verbose=False)


def test_progress_lines_and_quiet(capsys):
    ts.tune(TinyRegression, SPACE, scheduler=Random(seed=0), metric="mse", mode="min", epochs=1, n_trials=2)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "trial 1 completed: mse=" in err[1] and "| 2 done |" in err[1]
    ts.tune(TinyRegression, SPACE, metric="mse", mode="min", epochs=1, n_trials=2, verbose=False)
    assert capsys.readouterr().err == ""


def test_grouped_commits_are_read_here_at_once_elsewhere_when_due_and_none_is_lost_at_the_end(tmp_path):
    # the Processes coordinator groups its writes: this process reads them at once, a reader in
    # another connection (the dashboard, the CLI) only once they are committed
    from torchsearch.storage import Storage

    writer = Storage(tmp_path)
    sid = writer.get_or_create_study("s", metric="m", mode="max", space={}, scheduler="r", seed=0)
    number = writer.add_trial(sid, {"x": 1})
    writer.group_commits(60.0)
    writer.add_report(sid, number, 1, {"m": 0.5})
    writer.update_trial(sid, number, value=0.5, best_step=1)
    reader = Storage(tmp_path, readonly=True)
    assert writer.trial(sid, number).metrics == {"m": {1: 0.5}}
    assert reader.trial(sid, number).metrics == {}  # not committed yet
    left = writer.commit_due()
    assert left is not None and 0 < left <= 60.0
    writer.group_commits(0.0)  # commits what is pending, then commits each group when next asked
    assert reader.trial(sid, number).metrics == {"m": {1: 0.5}} and reader.trial(sid, number).value == 0.5
    writer.add_report(sid, number, 2, {"m": 0.7})
    assert writer.commit_due() is None  # due at once: committed
    assert reader.trial(sid, number).metrics == {"m": {1: 0.5, 2: 0.7}}
    writer.group_commits(None)
    with pytest.raises(ValueError, match=r"max_delay must be seconds >= 0 or None, got -1"):
        writer.group_commits(-1)


def test_ask_tell_study_records_its_end_when_the_scheduler_is_exhausted(tmp_path):
    study = ts.Study(space={"x": ts.Choice([1, 2])}, scheduler=Grid(), metric="v", mode="min",
                     storage=str(tmp_path), verbose=False)
    first = study.ask()
    second = study.ask()
    with pytest.raises(ts.exceptions.TrialError, match="nothing more to suggest"):
        study.ask()
    assert study.end_reason is None  # two trials still run: the study goes on
    for t in (first, second):
        t.report({"v": float(t.params["x"])}, step=1)
        study.tell(t)
    with pytest.raises(ts.exceptions.TrialError, match="nothing more to suggest"):
        study.ask()
    assert study.end_reason == "the scheduler has nothing more to suggest"
    row = study.storage.get_study(study._id)
    assert row["ended"] is not None and row["end_reason"] == study.end_reason


# -- arguments refused at once (issue 13, item 8): before any storage is created or trial runs --

def _tune(tmp_path, **kw):
    args = dict(metric="mse", mode="min", epochs=1, n_trials=2, storage=tmp_path / "runs", verbose=False)
    return ts.tune(TinyRegression, SPACE, **{**args, **kw})


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"seed": -1}, r"tune: seed must be an int in \[0, 2\*\*63 - 1\] or None, got seed=-1"),
    ({"seed": "x"}, r"tune: seed must be an int in \[0, 2\*\*63 - 1\] or None, got seed='x'"),
    ({"seed": True}, r"tune: seed must be an int .* got seed=True"),
    ({"seed": 2**64}, r"tune: seed must be an int .* got seed=18446744073709551616"),
    ({"time_budget": math.nan}, r"tune: time_budget must be a finite number of seconds > 0 or None \(no limit\), "
                                r"got time_budget=nan"),
    ({"time_budget": math.inf}, r"tune: time_budget must be a finite number .* got time_budget=inf"),
    ({"time_budget": -5}, r"tune: time_budget must be a finite number .* got time_budget=-5"),
    ({"time_budget": True}, r"tune: time_budget must be a finite number .* got time_budget=True"),
    ({"epoch_budget": 0}, r"tune: epoch_budget must be an int >= 1 or None, got epoch_budget=0"),
    ({"epoch_budget": 2.5}, r"tune: epoch_budget must be an int >= 1 or None, got epoch_budget=2.5"),
    ({"n_trials": -1}, r"tune: n_trials must be an int >= 1 or None, got n_trials=-1"),
    ({"device": "gpu"}, r"tune: unknown device, device='gpu'; allowed: 'cpu', 'cuda', 'cuda:N'"),
    ({"device": 0}, r"tune: device must be 'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device, got device=0"),
])
def test_tune_refuses_bad_seed_budget_and_device_at_once_naming_the_argument(tmp_path, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        _tune(tmp_path, **kwargs)
    assert not (tmp_path / "runs").exists()  # refused before the study was created


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"seed": -1}, r"optimize: seed must be an int in \[0, 2\*\*63 - 1\] or None, got seed=-1"),
    ({"seed": "x"}, r"optimize: seed must be an int .* got seed='x'"),
    ({"time_budget": math.nan}, r"optimize: time_budget must be a finite number of seconds > 0 .* got time_budget=nan"),
    ({"time_budget": 0}, r"optimize: time_budget must be a finite number .* got time_budget=0"),
    ({"n_trials": 1.5}, r"optimize: n_trials must be an int >= 1 or None, got n_trials=1.5"),
])
def test_optimize_refuses_bad_seed_and_budget_at_once(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ts.optimize(lambda p: 0.0, SPACE, **{"n_trials": 2, "storage": tmp_path / "runs", **kwargs})
    assert not (tmp_path / "runs").exists()


def test_study_and_run_refuse_bad_seed_and_nan_budget():
    with pytest.raises(ValueError, match=r"Study: seed must be an int in \[0, 2\*\*63 - 1\] or None, got seed=-1"):
        ts.Study(space=SPACE, seed=-1)
    with pytest.raises(ValueError, match=r"Study: seed must be an int .* got seed='x'"):
        ts.Study(space=SPACE, seed="x")
    import numpy as np

    study = ts.Study(space=SPACE, seed=np.int64(3), verbose=False)  # a numpy integer is an integer
    assert study.seed == 3 and type(study.seed) is int
    with pytest.raises(ValueError, match=r"run: time_budget must be a finite number .* got time_budget=nan"):
        study.run(lambda t: None, time_budget=math.nan)
    assert study.trials == []


def _no_cuda_build(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: False)


def _one_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_cuda_device_on_a_cpu_only_torch_is_refused_naming_the_argument_and_the_fix(tmp_path, monkeypatch):
    _no_cuda_build(monkeypatch)
    with pytest.raises(ValueError, match=r"tune: device='cuda' asks for CUDA, but torch sees no CUDA device: this torch "
                                         r"\(.*\) was built without CUDA: install a CUDA build of torch .*"
                                         r"pytorch.org/get-started/locally.*or use device='cpu'"):
        _tune(tmp_path, device="cuda")
    with pytest.raises(ValueError, match=r"Processes: devices='cuda' asks for CUDA, but torch sees no CUDA device: "
                                         r"this torch .* was built without CUDA"):
        _tune(tmp_path, devices="cuda")
    assert not (tmp_path / "runs").exists()


def test_cuda_without_a_visible_gpu_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(ValueError, match=r"tune: device='cuda:0' asks for CUDA, but torch sees no CUDA device: torch "
                                         r".* has CUDA but finds no GPU .*CUDA_VISIBLE_DEVICES=''"):
        _tune(tmp_path, device="cuda:0")


def test_a_gpu_index_past_the_visible_ones_is_refused(tmp_path, monkeypatch):
    _one_gpu(monkeypatch)
    with pytest.raises(ValueError, match=r"tune: device='cuda:7': device 'cuda:7' does not exist; torch sees 1 CUDA "
                                         r"device\(s\): cuda:0"):
        _tune(tmp_path, device="cuda:7")
    with pytest.raises(ValueError, match=r"Processes: devices='cuda:0,cuda:7': device 'cuda:7' does not exist; "
                                         r"torch sees 1 CUDA device\(s\): cuda:0"):
        _tune(tmp_path, devices="cuda:0,cuda:7")
    assert not (tmp_path / "runs").exists()


def test_device_is_checked_only_where_trials_train_in_this_process(tmp_path, monkeypatch):
    # an executor that trains elsewhere (a cluster's GPUs) may be given a device this machine lacks
    _no_cuda_build(monkeypatch)

    class Elsewhere:
        def open(self, study):
            raise RuntimeError("the executor was reached")

    with pytest.raises(RuntimeError, match="the executor was reached"):
        _tune(tmp_path, device="cuda", executor=Elsewhere())
    from torchsearch.executors.inprocess import InProcess

    with pytest.raises(ValueError, match=r"tune: device='cuda' asks for CUDA"):
        _tune(tmp_path, device="cuda", executor=InProcess())


class _Clock:
    """A fake monotonic clock that trials move forward."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_in_this_process_a_gap_longer_than_trial_timeout_fails_the_trial_at_its_next_report():
    clock = _Clock()

    def job(trial):
        trial.report({"value": 1.0}, step=1)
        clock.now += 5.0 if trial.params["x"] == 1 else 0.5  # trial x=1 "hangs" for 5 s between reports
        trial.report({"value": 2.0}, step=2)

    study = ts.Study(space={"x": ts.Choice([0, 1])}, scheduler=Grid(), clock=clock, verbose=False)
    study.run(job, trial_timeout=2)
    by = {t.params["x"]: t for t in study.trials}
    assert by[0].state == "completed"
    assert by[1].state == "failed" and by[1].error == "TrialFailed: no report for 2 s (trial_timeout)"
    assert sorted(by[1].metrics["value"]) == [1]


class _StallingRegression(TinyRegression):
    """Its third training step takes 10 s of the test's fake clock."""

    clock: _Clock | None = None

    def training_step(self, batch):
        self.steps = getattr(self, "steps", 0) + 1
        if self.steps == 3 and self.hp["lr"] > 0.05:
            type(self).clock.now += 10.0
        return super().training_step(batch)


def test_in_this_process_tune_checks_trial_timeout_at_every_iteration_not_only_at_reports():
    clock = _StallingRegression.clock = _Clock()
    study = ts.tune(_StallingRegression, {"lr": ts.Choice([0.01, 0.1])}, scheduler=Grid(), metric="mse", mode="min",
                    epochs=3, trial_timeout=5, clock=clock, verbose=False)
    by = {t.params["lr"]: t for t in study.trials}
    assert by[0.01].state == "completed"
    assert by[0.1].state == "failed" and "no report for 5 s (trial_timeout)" in by[0.1].error
    assert by[0.1].metrics == {}  # failed in its first epoch, at the iteration after the stall


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "5", True])
def test_trial_timeout_must_be_positive_seconds(bad):
    study = ts.Study(space={"x": ts.Choice([0])}, verbose=False)
    with pytest.raises(ValueError, match=r"trial_timeout must be a number of seconds > 0 or None, got trial_timeout="):
        study.run(lambda t: None, n_trials=1, trial_timeout=bad)


def test_ctrl_c_in_this_process_records_the_trial_interrupted_not_counted_and_the_same_study_reruns_it(tmp_path):
    calls = []

    def job(trial):
        calls.append(trial.params["x"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        trial.report({"value": float(trial.params["x"])}, step=0)

    study = ts.Study(space={"x": ts.Choice([0, 1, 2])}, scheduler=Grid(), storage=tmp_path, verbose=False)
    with pytest.raises(KeyboardInterrupt):
        study.run(job)
    assert [t.state for t in study.trials] == ["completed", "interrupted"]
    assert study.n_finished() == 1 and study.end_reason.startswith("interrupted (Ctrl+C)")
    assert study.storage.lease(study._id) is None  # given back
    study.run(job)  # the same study object: the interrupted trial first
    assert [(t.params["x"], t.state) for t in study.trials] == [(0, "completed"), (1, "interrupted"),
                                                                 (1, "completed"), (2, "completed")]
    assert study.n_finished() == 3


def test_printing_a_study_shows_its_name_store_count_and_best(tmp_path):
    path = str(tmp_path / "s.db")
    study = ts.Study(space={"x": ts.Float(-5.0, 5.0)}, storage=path, name="quad", metric="loss", mode="min")
    assert repr(study) == f"Study('quad', loss min, {path!r}: 0 finished, best none yet)"
    done = ts.optimize(lambda p: (p["x"] - 1.0) ** 2, {"x": ts.Float(-5.0, 5.0)}, n_trials=4, seed=0,
                       storage=path, name="quad2")
    best = done.best_trial
    assert str(done) == f"Study('quad2', value min, {path!r}: 4 finished, best {best.value:.6g} (trial {best.number}))"
    done.storage.close()
    assert repr(done).startswith("Study('quad2', value min, ") and "unreadable" in repr(done)  # never raises
