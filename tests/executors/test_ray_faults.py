"""Ray faults on the session's two-node local cluster (conftest.py, loopback only): a node removed
mid-study and one that joins (the cluster keeps two nodes), retries, Ctrl+C and a killed
coordinator. Each test starts its own executor (the actors take the cluster's CPUs, so no pool
is shared here)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import torchsearch as ts
from torchsearch.executors.ray import Ray
from torchsearch.schedulers import Grid
from tests.executors.conftest import NODE
from tests.executors.test_ray import X, Steps, needs_ray, quick
from tests.pbt_models import MisbehavingJob, RendezvousJob


@needs_ray
def test_with_max_retries_a_trial_whose_actor_died_runs_again_before_it_fails(cluster):
    study = ts.Study(space=X, scheduler=Grid(), metric="value", mode="min", verbose=False)
    study.run(MisbehavingJob(), executor=Ray(max_retries=1))
    runs = [t for t in study.trials if t.params["x"] == 1]
    assert [t.state for t in runs] == ["interrupted", "failed"]
    assert "run again (retry 1 of 1)" in runs[0].error and "died" in runs[1].error
    assert sorted(t.params["x"] for t in study.trials if t.state == "completed") == [0, 3]
    assert study.n_finished() == 4  # the rerun is not counted twice


class RemoveNodeWhenBothBusy(Ray):
    """Removes the worker node while both actors run a trial, then adds a fresh node."""

    def __init__(self, cluster, **kw):
        super().__init__(**kw)
        self.cluster, self.lost, self.joined = cluster, None, None

    def wait(self):
        busy = [w for w in self._workers if w.trial is not None and w.conn is not None]
        if self.lost is None and len(busy) == 2:
            head = self.cluster.head_node.node_id
            victim = next(w for w in busy if w.where["node_id"] != head)
            node = next(n for n in self.cluster.worker_nodes if n.node_id == victim.where["node_id"])
            self.lost = victim.trial.number
            self.cluster.remove_node(node, allow_graceful=False)
            self.joined = self.cluster.add_node(**NODE)  # (the replacement actor waits for room until it is up)
        super().wait()


@needs_ray
def test_a_removed_node_fails_only_its_trial_the_study_goes_on_and_a_node_that_joins_is_used(tmp_path, cluster):
    ex = RemoveNodeWhenBothBusy(cluster)
    study = ts.Study(space=X, scheduler=Grid(), metric="value", mode="min", verbose=False)
    with ex:
        study.run(Steps(steps=15), executor=ex)
        by_number = {t.number: t for t in study.trials}
        assert ex.lost is not None
        lost = by_number[ex.lost]
        assert lost.state == "failed" and "died" in lost.error and f"while running trial {ex.lost}" in lost.error
        assert sorted(t.state for t in study.trials) == ["completed"] * 3 + ["failed"]
        # the slot's replacement actor starts on the node that joined: two trials run at once again
        folder = tmp_path / "marks"
        folder.mkdir()
        again = ts.Study(space=X, scheduler=Grid(), metric="value", mode="min", verbose=False)
        again.run(RendezvousJob(str(folder), n=2), n_trials=2, executor=ex)
        assert [t.state for t in again.trials] == ["completed", "completed"]
        assert ex.joined.node_id in {w.where["node_id"] for w in ex._workers if w.where}


class InterruptWhenBothBusy(Ray):
    """Raises KeyboardInterrupt in the coordinator (as Ctrl+C would) once both actors run a trial."""

    def wait(self):
        super().wait() if sum(w.trial is not None for w in self._workers) < 2 else None
        if sum(w.trial is not None for w in self._workers) == 2:
            self.pids = [w.where["pid"] for w in self._workers if w.trial is not None]
            raise KeyboardInterrupt


@needs_ray
def test_ctrl_c_kills_the_busy_actors_records_their_trials_interrupted_and_the_study_reruns_them(tmp_path, cluster):
    study = ts.Study(space=X, scheduler=Grid(), metric="value", mode="max", storage=str(tmp_path), verbose=False)
    ex = InterruptWhenBothBusy()
    with pytest.raises(KeyboardInterrupt):
        study.run(Steps(steps=200), n_trials=4, executor=ex)
    assert sorted(t.state for t in study.trials) == ["interrupted", "interrupted"]
    assert all("interrupted (Ctrl+C)" in t.error for t in study.trials)
    for pid in ex.pids:  # the actors' processes are gone
        _gone(pid)
    again = ts.Study(space=X, scheduler=Grid(), metric="value", mode="max", storage=str(tmp_path), verbose=False)
    again.run(quick, n_trials=4)
    assert again.n_finished() == 4
    assert [t.params for t in again.trials[2:4]] == [t.params for t in again.trials[:2]]  # rerun first


def _gone(pid: int, within: float = 30.0) -> None:
    limit = time.monotonic() + within
    while time.monotonic() < limit:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    raise AssertionError(f"process {pid} still runs {within:g} s after its coordinator ended")


@needs_ray
def test_the_actors_die_with_a_killed_coordinator(tmp_path, cluster):
    folder = tmp_path / "pids"
    folder.mkdir()
    script = tmp_path / "coordinator.py"
    script.write_text(textwrap.dedent(f"""
        import ray, torchsearch as ts
        from torchsearch.executors import Ray
        from torchsearch.schedulers import Grid
        from tests.executors.test_ray import Steps, X
        ray.init(address={cluster.address!r})
        study = ts.Study(space=X, scheduler=Grid(), metric="value", mode="max", verbose=False)
        study.run(Steps({str(folder)!r}, steps=10_000), executor=Ray())
    """))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        limit = time.monotonic() + 90
        while len(list(folder.iterdir())) < 2 and proc.poll() is None and time.monotonic() < limit:
            time.sleep(0.2)
        assert len(list(folder.iterdir())) == 2, "the trials did not start"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    for f in folder.iterdir():
        _gone(int(f.read_text()))
