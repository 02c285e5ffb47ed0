"""Processes: spawned workers per device slot; parallel, crash-tolerant, interruptible; PBT across them."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import pytest
import torch

import torchsearch as ts
from torchsearch.executors import Processes
from torchsearch.schedulers import PBT, Grid, Random
from tests.pbt_models import (CountingJob, DropoutRegression, EndlessJob, MisbehavingJob, OrphanPipeJob, PausingJob,
                               RendezvousJob, SlowJob, failing_worker)

X = {"x": ts.Choice([0, 1, 2, 3])}


@pytest.fixture(scope="module")
def pool():
    """Two CPU workers shared by the tests of this module (spawning costs seconds)."""
    with Processes("cpu", workers=2, threads=1) as ex:
        yield ex


@pytest.mark.parametrize("kwargs, match", [
    ({"devices": "tpu"}, r"unknown device 'tpu' in devices='tpu'; allowed: 'cpu', 'cuda'"),
    ({"devices": "cpu", "workers": 0}, r"workers must be an int >= 1 or None, got workers=0"),
    ({"devices": "cpu", "per_device": 0}, r"per_device must be an int >= 1, got per_device=0"),
    ({"devices": "cpu,cpu"}, r"names a device twice"),
    ({"devices": 3}, r"devices must be 'cpu', 'cuda'"),
])
def test_bad_arguments_name_the_parameter_and_what_is_allowed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Processes(**kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match=r"devices='cuda' asks for CUDA, but torch sees no CUDA device"):
        Processes("cuda")


def test_a_worker_that_cannot_start_interrupts_the_trials_sent_to_it_and_the_third_death_in_a_row_raises(
        monkeypatch, tmp_path):
    # (before: a bare BrokenPipeError from submit, and the trial left running)
    from torchsearch.executors import processes

    monkeypatch.setattr(processes, "worker_main", failing_worker)
    with pytest.raises(ts.TorchSearchError, match=r"worker 0 \(cpu\) exited with code 3 while starting, 3 times in "
                                                  r"a row \(its error is printed above\); no trial can run"):
        ts.Study(space=X, scheduler=Grid(), metric="value", mode="max", storage=str(tmp_path),
                 verbose=False).run(quick, executor=Processes("cpu", workers=1, threads=1))
    trials = ts.Study(space=X, scheduler=Grid(), metric="value", mode="max", storage=str(tmp_path),
                      verbose=False).trials
    # none left running, and none counts towards n_trials: they never began (issue 16)
    assert [t.state for t in trials] == ["interrupted"] * 3
    assert all("exited with code 3 while starting" in t.error for t in trials)


def test_cpu_slots_and_threads_are_divided():
    ex = Processes("cpu", workers=2, threads=1)
    assert ex.slots == ["cpu", "cpu"] and ex.threads == 1


def test_a_worker_that_dies_while_starting_is_a_clear_error_and_no_process_is_left(monkeypatch):
    from torchsearch.executors import processes

    monkeypatch.setattr(processes, "worker_main", failing_worker)
    ex = Processes("cpu", workers=2, threads=1)
    with pytest.raises(ts.TorchSearchError, match=r"worker 0 \(cpu\) exited with code 3 while starting"):
        with ex:
            pass
    assert ex._workers == [] and ex._selector is None


def test_two_cpu_workers_run_trials_at_the_same_time(tmp_path, pool):
    # each trial can only finish once both run (a rendezvous), and their recorded
    # [start, end] intervals, taken in the workers, overlap
    study = ts.Study(space=X, scheduler=Grid(), metric="value", mode="min", storage=str(tmp_path / "db"),
                     verbose=False)
    folder = tmp_path / "marks"
    folder.mkdir()
    study.run(RendezvousJob(str(folder), n=2), n_trials=2, executor=pool)
    trials = study.trials
    assert [t.state for t in trials] == ["completed", "completed"]
    (a, b) = [(t.metrics["start"][0], t.metrics["end"][0], t.metrics["pid"][0]) for t in trials]
    assert max(a[0], b[0]) < min(a[1], b[1])  # the intervals overlap
    assert a[2] != b[2] and os.getpid() not in (a[2], b[2])  # two worker processes, not this one


def test_a_killed_worker_fails_its_trial_is_replaced_and_the_study_finishes(pool):
    study = ts.Study(space=X, scheduler=Grid(), metric="value", mode="min", verbose=False)
    study.run(MisbehavingJob(), executor=pool)
    by_x = {t.params["x"]: t for t in study.trials}
    assert sorted(by_x) == [0, 1, 2, 3]
    assert by_x[1].state == "failed" and "was killed by SIGKILL" in by_x[1].error
    assert by_x[2].state == "failed" and by_x[2].error == "ValueError: bad luck on purpose"
    assert "bad luck on purpose" in by_x[2].traceback
    assert by_x[0].state == by_x[3].state == "completed"
    assert study.end_reason == "the scheduler has nothing more to suggest"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_killed_worker_is_seen_by_its_process_even_when_a_child_keeps_its_pipe_open(tmp_path, pool):
    # the pipe gives no EOF while the forked child lives: only the process sentinel tells
    pid_file = tmp_path / "child.pid"
    study = ts.Study(space=X, scheduler=Grid(), metric="value", mode="min", verbose=False)
    t0 = time.monotonic()
    try:
        study.run(OrphanPipeJob(str(pid_file)), executor=pool)
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert time.monotonic() - t0 < 30  # not the child's 60 s
    by_x = {t.params["x"]: t for t in study.trials}
    assert by_x[1].state == "failed" and "was killed by SIGKILL" in by_x[1].error
    assert [by_x[x].state for x in (0, 2, 3)] == ["completed"] * 3


def test_a_worker_that_dies_while_idle_is_replaced_before_it_gets_a_trial(pool):
    study = ts.Study(space=X, scheduler=Grid(), metric="value", mode="min", verbose=False)
    study.run(quick, n_trials=1, executor=pool)
    victim = pool._workers[1].process
    victim.kill()
    victim.join(timeout=5)
    again = ts.Study(space=X, scheduler=Grid(), metric="value", mode="min", verbose=False)
    again.run(quick, executor=pool)
    assert [t.state for t in again.trials] == ["completed"] * 4
    assert all(w.process.is_alive() for w in pool._workers) and pool._workers[1].process is not victim


def test_pausing_workers_get_their_next_trial_at_once_and_a_crash_then_loses_only_its_own(pool):
    # population 4 on 2 workers: every member pauses at each step for a waiting one; the next
    # trial is sent to a worker as soon as its trial is told to pause
    study = ts.Study(space=X, scheduler=PBT(population=4, interval=1, seed=0, hyperparams=["x"]), metric="value",
                     mode="max", verbose=False)
    study.run(PausingJob(), executor=pool)
    assert [t.state for t in study.trials] == ["completed"] * 4
    assert all(sorted(t.metrics["value"]) == [1, 2, 3] for t in study.trials)
    # trial 0's worker dies after its pause decision, when trial 2 was already sent to it
    crashed = ts.Study(space=X, scheduler=PBT(population=4, interval=1, seed=0, hyperparams=["x"]), metric="value",
                       mode="max", verbose=False)
    crashed.run(PausingJob(kill_on_pause=0), executor=pool)
    states = {t.number: t.state for t in crashed.trials}
    assert states == {0: "failed", 1: "completed", 2: "completed", 3: "completed"}
    assert "was killed by SIGKILL" in crashed.trials[0].error
    assert all(w.process.is_alive() and w.trial is None and w.next is None for w in pool._workers)
    # a job that reports on after its pause decision fails with why; the trial sent next still runs
    broken = ts.Study(space=X, scheduler=PBT(population=4, interval=1, seed=0, hyperparams=["x"]), metric="value",
                      mode="max", verbose=False)
    broken.run(PausingJob(ignore_pause=0), executor=pool)
    assert {t.number: t.state for t in broken.trials} == {0: "failed", 1: "completed", 2: "completed", 3: "completed"}
    assert "report(step=2) after a pause decision" in broken.trials[0].error


def test_reports_a_scheduler_lets_pass_are_not_waited_for_and_none_is_lost(tmp_path, pool):
    # Grid never decides anything: only the first and the final report wait for an answer
    folder = tmp_path / "answered"
    folder.mkdir()
    study = ts.Study(space=X, scheduler=Grid(), metric="value", mode="max", storage=str(tmp_path / "db"),
                     verbose=False)
    study.run(CountingJob(str(folder)), n_trials=2, executor=pool)
    for t in study.trials:
        assert t.state == "completed" and t.metrics["value"] == {s: float(s) for s in range(1, 41)}
        assert (folder / str(t.number)).read_text() == "1"  # the final report (quiet from the start)
    # under an epoch budget every report may end the trial: each one is answered
    budget = ts.Study(space=X, scheduler=Grid(), metric="value", mode="max", verbose=False)
    budget.run(CountingJob(str(folder)), n_trials=1, epoch_budget=1000, executor=pool)
    assert (folder / "0").read_text() == "40"


def test_a_stop_for_a_quiet_report_reaches_the_worker_at_its_next_report(pool):
    study = ts.Study(space=X, scheduler=Random(seed=0), metric="value", mode="max", verbose=False)
    t0 = time.monotonic()
    study.run(EndlessJob(), n_trials=2, time_budget=1.0, executor=pool)
    assert time.monotonic() - t0 < 10
    assert {(t.state, t.stop_code) for t in study.trials} == {("stopped", "study_time_budget")}


def test_a_bad_quiet_report_fails_its_trial_and_the_study_goes_on(tmp_path, pool):
    study = ts.Study(space=X, scheduler=Grid(), metric="value", mode="max", verbose=False)
    # a trial with a value first: before that, this programming error would stop the study
    # (fail fast: tests/test_failfast_study.py)
    study.run(CountingJob(str(tmp_path)), n_trials=1, executor=pool)
    study.run(CountingJob(str(tmp_path), bad_at=5), n_trials=3, executor=pool)
    assert study.trials[0].state == "completed"
    for t in study.trials[1:]:
        assert t.state == "failed" and "'value' is not among the reported metrics ['other']" in t.error
        assert sorted(t.metrics["value"]) == [1, 2, 3, 4]


def test_a_pbt_members_patience_keeps_counting_across_turns_on_workers(pool):
    # as tests/test_jobs.py's in-process test: each turn is a new Trainer in whichever worker
    from tests.pbt_models import FlatMetricRegression
    from tests.test_population import SPACE

    study = ts.tune(FlatMetricRegression, SPACE, scheduler=PBT(population=4, interval=1, seed=0), metric="mse",
                    mode="min", epochs=8, seed=0, verbose=False, executor=pool,
                    handlers=_flat_patience)
    for t in study.trials:
        assert (t.state, t.stop_code) == ("stopped", "patience")
        assert len(t.metrics["mse"]) == 3  # three evaluations of its own (a copy goes on from the donor's step)


def _flat_patience():
    from torchsearch.handlers import Patience

    return [Patience(2, metric="flat", mode="max")]


def quick(trial):
    trial.report({"value": float(trial.params["x"])}, step=0)


class InterruptAfterReports(Processes):
    """Raises KeyboardInterrupt in the coordinator (as Ctrl+C would) once trials are running."""

    def wait(self):
        self.pids = [w.process.pid for w in self._workers]
        for w, _, ended in self._ready(0):  # what is there already, without waiting
            self._serve(w, ended)
        raise KeyboardInterrupt


def test_ctrl_c_ends_the_workers_records_running_trials_interrupted_and_the_study_reruns_them(tmp_path):
    study = ts.Study(space=X, scheduler=Grid(), metric="value", mode="max", storage=str(tmp_path), verbose=False)
    ex = InterruptAfterReports("cpu", workers=2, threads=1)
    with pytest.raises(KeyboardInterrupt):
        study.run(SlowJob(), n_trials=4, executor=ex)
    for pid in ex.pids:  # no orphans: every worker has ended and was reaped
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert [t.state for t in study.trials] == ["interrupted", "interrupted"]
    assert all("interrupted (Ctrl+C)" in t.error for t in study.trials)
    assert study.n_finished() == 0 and study.end_reason.startswith("interrupted")
    again = ts.Study(space=X, scheduler=Grid(), metric="value", mode="max", storage=str(tmp_path), verbose=False)
    again.run(quick, n_trials=4)
    trials = again.trials
    assert [t.params for t in trials[2:4]] == [t.params for t in trials[:2]]  # rerun first
    assert again.n_finished() == 4 and len({again.space.key(t.params) for t in trials if t.state == "completed"}) == 4


def test_pbt_population_of_four_takes_turns_on_two_workers(tmp_path, pool):
    space = {"lr": ts.Float(1e-3, 0.3, log=True), "momentum": ts.Float(0.0, 0.95), "dropout": ts.Float(0.0, 0.5)}
    study = ts.tune(DropoutRegression, space, scheduler=PBT(population=4, interval=1, seed=0), metric="mse",
                    mode="min", epochs=8, seed=0, storage=str(tmp_path), executor=pool, verbose=False)
    # (whether a member finds a donor at its step depends on the workers' timing: a bottom member
    # whose donor's state is not held yet is ranked again when it resumes; before that, one run
    # in three under load had no exploit at all in 8 epochs, and CI failed on it)
    trials = study.trials
    assert [t.state for t in trials] == ["completed"] * 4
    rows = study.lineage()
    for t in trials:  # every epoch it trained, once (a copy goes on from the donor's step)
        skipped = {s for r in rows if r["trial"] == t.number for s in range(r["step"] + 1, r["donor_step"] + 1)}
        assert sorted(t.metrics["mse"]) == [s for s in range(1, 9) if s not in skipped]
    copies = [r for r in rows if r["donor"] is not None]
    assert copies, "some trial exploited another"
    for r in rows:  # a copy, or an explore in place where the ranked members tied (a member and the
        # donor whose history it copied can be the only two ranked at a step: no donor, no copy)
        if r["donor"] is None:
            assert not r["operations"][0].startswith("copy") and r["step"] == r["donor_step"], r
        else:
            assert r["operations"][0].startswith(f"copy trial {r['donor']} (step "), r
    with sqlite3.connect(tmp_path / "study.db") as con:  # pauses happened: trials were resumed
        assert con.execute("SELECT COUNT(*) FROM trials WHERE state = 'paused'").fetchone()[0] == 0
        # the coordinator groups its commits; at the end, another connection reads every report
        assert con.execute("SELECT COUNT(*) FROM reports WHERE name = 'mse'").fetchone()[0] == sum(
            len(t.metrics["mse"]) for t in trials)
        assert con.execute("SELECT COUNT(*) FROM lineage").fetchone()[0] == len(rows)
    assert study.load_module(DropoutRegression) is not None
    assert not list((tmp_path / "checkpoints").glob("*-state-*.pt"))  # durable states removed at the end
    resumes = study._coordinator.population.resumes  # members resumed on the worker that held their module
    assert resumes["held"] >= 1 and resumes["held"] + resumes["sent"] >= 8, resumes


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_workers_place_trials_on_their_own_device_slots():
    n = torch.cuda.device_count()
    ex = Processes("cuda", per_device=2)
    assert ex.slots == [f"cuda:{i % n}" for i in range(2 * n)]
    space = {"lr": ts.Float(1e-3, 0.3, log=True), "momentum": ts.Float(0.0, 0.95), "dropout": ts.Float(0.0, 0.5)}
    study = ts.tune(DropoutRegression, space, scheduler=PBT(population=2 * n + 2, interval=1, seed=0),
                    metric="mse", mode="min", epochs=4, seed=0, executor=ex, verbose=False)
    trials = study.trials
    assert all(t.state == "completed" for t in trials)
    devices = {int(v) for t in trials for v in t.metrics["device"].values()}
    assert devices == set(range(n))  # every GPU got trials
    pids = {int(v) for t in trials for v in t.metrics["pid"].values()}
    assert len(pids) == 2 * n  # one worker process per slot, two per GPU


@pytest.mark.cuda
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_two_gpus_get_distinct_trials_at_once():
    ex = Processes("cuda:0,cuda:1")
    space = {"lr": ts.Float(1e-3, 0.3, log=True), "momentum": ts.Float(0.0, 0.95), "dropout": ts.Float(0.0, 0.5)}
    study = ts.tune(DropoutRegression, space, scheduler=PBT(population=2, interval=1, seed=0), metric="mse",
                    mode="min", epochs=3, seed=0, executor=ex, verbose=False)
    by_trial = {t.number: {int(v) for v in t.metrics["device"].values()} for t in study.trials}
    assert by_trial[0] != by_trial[1] and len(by_trial[0]) == len(by_trial[1]) == 1


@pytest.mark.skipif(not os.path.exists("/proc/sys/net/core/wmem_max"), reason="reads Linux's socket buffer cap")
def test_worker_pipes_get_large_socket_buffers_up_to_the_kernel_cap(pool):
    # a PBT state then crosses in one write instead of ~200 KB pieces, each waiting for the reader
    import socket

    from torchsearch.executors._system import _BUFFER

    with open("/proc/sys/net/core/wmem_max") as f:
        cap = int(f.read())
    for w in pool._workers:
        sock = socket.socket(fileno=w.conn.fileno())
        try:
            got = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        finally:
            sock.detach()
        assert got >= min(_BUFFER, cap)  # (Linux reports twice what was granted)


def test_a_tied_population_explores_in_place_on_two_workers(tmp_path, pool):
    # every member reports the same "flat": nothing is copied, the bottom by lot perturbs its own
    # params on its worker, and each member still trains every epoch once, with the new params stored
    from tests.pbt_models import FlatMetricRegression
    from tests.test_population import SPACE

    study = ts.tune(FlatMetricRegression, SPACE, scheduler=PBT(population=4, interval=1, seed=0), metric="flat",
                    mode="max", epochs=5, seed=0, storage=str(tmp_path), executor=pool, verbose=False)
    rows = study.lineage()
    assert rows and all(r["donor"] is None and not r["operations"][0].startswith("copy") for r in rows)
    for t in study.trials:
        assert t.state == "completed" and sorted(t.metrics["flat"]) == [1, 2, 3, 4, 5]
        mine = [r for r in rows if r["trial"] == t.number]
        assert t.params == (mine[-1]["new_params"] if mine else study.schedule(t.number)[0]["params"])
