"""Fault injection with real processes: a coordinator SIGKILLed (with a hung trial or not), Ctrl+C
once and twice, two coordinators on one study. After each, nothing finished is lost or counted
twice: the same command finishes the study, and trials are counted by state and by params.

Each scenario runs ``tests/faults/coordinator.py`` as its own process and watches it from here.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter

import pytest

import torchsearch as ts
from torchsearch.schedulers import Random
from tests.faults._procs import alive, descendants, kill, launch, rows, run, setups, states, wait_for

SLOW = {"lr": ts.Float(0.01, 0.1, log=True), "mode": ts.Choice(["slow"])}


def _finished_keys(folder):
    """``Counter`` of params over the finished (completed/stopped/failed) trials."""
    got = rows(folder, "SELECT params FROM trials WHERE state IN ('completed', 'stopped', 'failed')")
    return Counter(json.dumps(json.loads(p), sort_keys=True) for (p,) in got)


def _params(folder, state):
    return [json.dumps(json.loads(p), sort_keys=True)
            for (p,) in rows(folder, "SELECT params FROM trials WHERE state = ? ORDER BY number", (state,))]


def _end_reason(folder):
    got = rows(folder, "SELECT end_reason FROM studies")
    return got[0][0] if got else None


def _gone(pids):
    return lambda: not any(alive(p) for p in pids)


def test_a_sigkilled_coordinator_takes_its_hung_worker_and_the_resource_tracker_with_it(tmp_path):
    # one trial trains slowly, the other hangs in C holding the GIL (no thread of its worker runs)
    proc = launch(tmp_path, "hang", "--epochs", "500")
    try:
        wait_for(lambda: sorted(line.split()[1] for line in setups(tmp_path)) == ["gil", "slow"], "both trials")
        below = descendants(proc.pid)
        assert any("resource_tracker" in cmd for cmd in below.values()), below  # (spawn starts one)
        assert len([c for c in below.values() if "multiprocessing" in c]) >= 3, below
    finally:
        kill(proc)
        proc.wait()
    wait_for(_gone(below), f"the processes the coordinator left: {below}", limit=30)
    assert states(tmp_path) == ["running", "running"]  # as the dead coordinator left them
    # the next coordinator takes the dead one's lease over, and only then marks its trials interrupted
    study = ts.Study(space={"lr": ts.Choice([0.05]), "mode": ts.Choice(["slow", "gil"])}, metric="mse", mode="min",
                     storage=str(tmp_path / "s"), name="Faulty", verbose=False)
    assert [t.state for t in study.trials] == ["interrupted", "interrupted"]
    assert all("ended before it finished" in t.error for t in study.trials)


def test_two_coordinators_the_second_refuses_and_after_a_sigkill_the_next_reruns_only_the_interrupted(tmp_path):
    proc = launch(tmp_path, "slow", "--epochs", "5", "--workers", "1", "--n-trials", "5")
    try:
        wait_for(lambda: "completed" in states(tmp_path) and "running" in states(tmp_path),
                 "a finished trial and a running one")
        with pytest.raises(ts.TorchSearchError, match=rf"is being run by another coordinator \(host .+, pid "
                                                      rf"{proc.pid}, since .+\); one coordinator per study"):
            ts.Study(space=SLOW, scheduler=Random(seed=0), metric="mse", mode="min", storage=str(tmp_path / "s"),
                     name="Faulty", verbose=False)
        before = states(tmp_path)
        assert "interrupted" not in before  # the refused coordinator touched nothing
        below = descendants(proc.pid)
    finally:
        kill(proc)
        proc.wait()
    wait_for(_gone(below), f"the processes the coordinator left: {below}", limit=30)
    done_before = _finished_keys(tmp_path)
    running_before = _params(tmp_path, "running")
    n = len(states(tmp_path))  # trials when the coordinator died
    assert done_before and running_before
    assert run(tmp_path, "slow", "--epochs", "5", "--workers", "1", "--n-trials", "5") == "n_trials=5 reached"
    after = states(tmp_path)
    assert after.count("interrupted") == len(running_before)  # marked by the coordinator that took over
    finished = _finished_keys(tmp_path)
    assert sum(finished.values()) == 5 and max(finished.values()) == 1  # nothing counted twice
    assert all(finished[k] == 1 for k in done_before)  # nothing finished lost (nor run again)
    assert all(finished[k] == 1 for k in running_before)  # the interrupted ones ran again, once
    later = [json.dumps(json.loads(p), sort_keys=True)
             for (p,) in rows(tmp_path, "SELECT params FROM trials WHERE number >= ? ORDER BY number", (n,))]
    assert later[:len(running_before)] == running_before  # the interrupted ones first
    assert rows(tmp_path, "SELECT COUNT(*) FROM trials")[0][0] == n + (5 - len(done_before))


def test_a_sigkilled_worker_fails_only_its_trial_and_the_study_finishes_with_nothing_counted_twice(tmp_path):
    proc = launch(tmp_path, "slow", "--epochs", "5", "--workers", "1", "--n-trials", "4")
    try:
        wait_for(lambda: setups(tmp_path) and "running" in states(tmp_path), "a running trial")
        victim = int(setups(tmp_path)[-1].split()[0])  # the worker of the trial started last (5 slow epochs to go)
        assert victim in descendants(proc.pid)
        os.kill(victim, signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            kill(proc)
    assert proc.returncode == 0 and out.strip() == "n_trials=4 reached", err
    got = states(tmp_path)
    assert sorted(got) == ["completed"] * 3 + ["failed"]
    (error,) = [r[0] for r in rows(tmp_path, "SELECT error FROM trials WHERE state = 'failed'")]
    assert f"(pid {victim}, cpu) was killed by SIGKILL" in error
    finished = _finished_keys(tmp_path)
    assert sum(finished.values()) == 4 and max(finished.values()) == 1


def test_ctrl_c_records_running_trials_interrupted_and_the_same_command_reruns_them_first(tmp_path):
    proc = launch(tmp_path, "slow", "--epochs", "5", "--workers", "1", "--n-trials", "4")
    wait_for(lambda: "completed" in states(tmp_path) and "running" in states(tmp_path),
             "a finished trial and a running one")
    below = descendants(proc.pid)
    kill(proc, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    wait_for(_gone(below), f"the workers: {below}", limit=30)
    got = states(tmp_path)
    assert "running" not in got and "stopped" not in got and "interrupted" in got, got
    assert _end_reason(tmp_path).startswith("interrupted (Ctrl+C)")
    done_before, interrupted = _finished_keys(tmp_path), _params(tmp_path, "interrupted")
    n = len(got)
    assert run(tmp_path, "slow", "--epochs", "5", "--workers", "1", "--n-trials", "4") == "n_trials=4 reached"
    rerun = [json.dumps(json.loads(p), sort_keys=True)
             for (p,) in rows(tmp_path, "SELECT params FROM trials WHERE number >= ? ORDER BY number", (n,))]
    assert rerun[:len(interrupted)] == interrupted  # run again first
    finished = _finished_keys(tmp_path)
    assert sum(finished.values()) == 4 and max(finished.values()) == 1
    assert all(finished[k] == 1 for k in done_before)


@pytest.mark.parametrize("whole_group", [False, True], ids=["coordinator", "process-group"])
def test_sigterm_is_handled_as_ctrl_c_and_the_same_command_finishes_with_nothing_lost(tmp_path, whole_group):
    # SIGTERM: kill PID, or a job scheduler / container stopping the whole process group (workers too)
    proc = launch(tmp_path, "slow", "--epochs", "5", "--workers", "2", "--n-trials", "5", group=whole_group)
    try:
        wait_for(lambda: "completed" in states(tmp_path) and "running" in states(tmp_path),
                 "a finished trial and a running one")
        below = descendants(proc.pid)
        if whole_group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            kill(proc, signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            kill(proc)
    assert proc.returncode != 0 and "Terminated: SIGTERM" in err, err[-2000:]
    wait_for(_gone(below), f"the workers: {below}", limit=30)
    got = states(tmp_path)
    assert "running" not in got and "failed" not in got and "interrupted" in got, got
    assert _end_reason(tmp_path).startswith("interrupted (SIGTERM)")
    done_before = _finished_keys(tmp_path)
    assert run(tmp_path, "slow", "--epochs", "5", "--workers", "2", "--n-trials", "5") == "n_trials=5 reached"
    finished = _finished_keys(tmp_path)
    assert sum(finished.values()) == 5 and max(finished.values()) == 1
    assert all(finished[k] == 1 for k in done_before)
    assert "failed" not in states(tmp_path)


def test_ctrl_c_twice_exits_at_once_leaves_no_process_and_the_study_still_finishes(tmp_path):
    proc = launch(tmp_path, "slow", "--epochs", "5", "--workers", "1", "--n-trials", "3")
    wait_for(lambda: "running" in states(tmp_path) and setups(tmp_path), "a running trial")
    below = descendants(proc.pid)
    kill(proc, signal.SIGINT)
    kill(proc, signal.SIGINT)  # the second one arrives while the first is being handled
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    wait_for(_gone(below), f"the workers: {below}", limit=30)
    assert run(tmp_path, "slow", "--epochs", "5", "--workers", "1", "--n-trials", "3") == "n_trials=3 reached"
    finished = _finished_keys(tmp_path)
    assert sum(finished.values()) == 3 and max(finished.values()) == 1
    assert "running" not in states(tmp_path)


def test_ctrl_c_leaves_pbt_members_paused_with_their_states_and_they_resume_to_the_end(tmp_path):
    proc = launch(tmp_path, "pbt", "--epochs", "6")
    wait_for(lambda: rows(tmp_path, "SELECT COUNT(*) FROM reports WHERE name = 'mse'")[:1] >= [(8,)],
             "members past their first steps")
    kill(proc, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    got = states(tmp_path)
    # a member with a kept state stays paused with it on disk; one whose first state had not yet
    # reached the coordinator when Ctrl+C came has nothing to resume from: it is recorded
    # interrupted and runs again from the start (a race of the signal, seen about once in five runs)
    assert len(got) == 4 and set(got) <= {"paused", "completed", "interrupted"} and "paused" in got, got
    paused = [i for i, s in enumerate(got) if s == "paused"]
    for number in paused:  # each with its kept state on disk
        assert (tmp_path / "s" / "checkpoints" / f"SlowMember-state-{number}.pt").exists()
    assert _end_reason(tmp_path).startswith("interrupted (Ctrl+C)")
    run(tmp_path, "pbt", "--epochs", "6")
    after = states(tmp_path)
    assert [after[i] for i in paused] == ["completed"] * len(paused)  # the same members resumed
    assert after.count("completed") == 4 and set(after) <= {"completed", "interrupted"}, after
    finished = [i for i, s in enumerate(after) if s == "completed"]
    last = rows(tmp_path, "SELECT t.number, MAX(r.step) FROM reports r JOIN trials t ON t.id = r.trial_id "
                          "WHERE r.name = 'mse' GROUP BY t.number")
    assert sorted((n, m) for n, m in last if n in finished) == [(n, 6) for n in finished]
