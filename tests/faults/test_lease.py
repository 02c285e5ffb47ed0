"""One coordinator per study: the lease row, its liveness rules, its migration, and what readers show."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

import torchsearch as ts
from torchsearch import _lease
from torchsearch._schema import SCHEMA_SQL, SCHEMA_VERSION
from torchsearch.cli import main as cli
from torchsearch.schedulers import Random
from tests.faults._procs import ROOT, alive, wait_for

SPACE = {"x": ts.Float(0.0, 1.0)}

HOLDER = """
import sys, time
import torchsearch as ts
study = ts.Study(space={"x": ts.Float(0.0, 1.0)}, storage=sys.argv[1], name="held", verbose=False)
study.ask()
print("holding", flush=True)
time.sleep(600)
"""


def _status(folder):
    out = io.StringIO()
    assert cli(["studies", str(folder), "--format", "json"], out=out) == 0
    return {r["name"]: r["status"] for r in json.loads(out.getvalue())}


def test_a_live_coordinator_is_refused_by_name_and_its_death_frees_the_study(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert _status(tmp_path) == {"held": "running"}
        with pytest.raises(ts.TorchSearchError, match=rf"study 'held' in .* is being run by another coordinator "
                                                      rf"\(host {_lease.HOST}, pid {holder.pid}, since .*UTC"):
            ts.Study(space=SPACE, storage=str(tmp_path), name="held", verbose=False)
        with sqlite3.connect(tmp_path / "study.db") as con:  # its running trial was left alone
            assert con.execute("SELECT state FROM trials").fetchall() == [("running",)]
    finally:
        holder.kill()
        holder.wait()
    wait_for(lambda: not alive(holder.pid), "the holder's end")
    assert _status(tmp_path) == {"held": "interrupted"}  # its coordinator is gone: not shown running
    study = ts.Study(space=SPACE, storage=str(tmp_path), name="held", verbose=False)  # takes over
    assert [t.state for t in study.trials] == ["interrupted"]
    lease = study.storage.lease(study._id)
    assert (lease["host"], lease["pid"]) == (_lease.HOST, os.getpid())


def test_another_hosts_lease_is_live_until_its_heartbeat_is_older_than_stale_after():
    row = {"host": "elsewhere", "pid": 1, "pid_started": None, "heartbeat": 1000.0}
    assert _lease.is_live(row, now=1000.0 + _lease.STALE_AFTER - 1)
    assert not _lease.is_live(row, now=1000.0 + _lease.STALE_AFTER + 1)


def test_a_lease_of_another_host_refuses_until_stale_then_is_taken_over(tmp_path):
    study = ts.Study(space=SPACE, scheduler=Random(seed=0), storage=str(tmp_path), verbose=False)
    study.ask()
    sid = study._id
    study._lease.release()
    study.storage.take_lease(sid, "theirs", host="elsewhere", pid=4242, pid_started=None, live=_lease.is_live)
    with pytest.raises(ts.TorchSearchError, match=r"another coordinator \(host elsewhere, pid 4242"):
        ts.Study(space=SPACE, scheduler=Random(seed=0), storage=str(tmp_path), verbose=False)
    study.storage._q("UPDATE leases SET heartbeat = ? WHERE study_id = ?", (time.time() - _lease.STALE_AFTER - 5, sid))
    again = ts.Study(space=SPACE, scheduler=Random(seed=0), storage=str(tmp_path), verbose=False)
    assert [t.state for t in again.trials] == ["interrupted"]
    assert again.storage.lease(sid)["host"] == _lease.HOST


def test_a_reused_pid_does_not_keep_a_dead_owners_lease():
    me = {"host": _lease.HOST, "pid": os.getpid(), "pid_started": _lease.pid_started(os.getpid()), "heartbeat": 0.0}
    assert _lease.is_live(me)
    if me["pid_started"] is not None:  # (Linux: the pid's start time tells processes apart)
        assert not _lease.is_live({**me, "pid_started": "1"})


def test_an_old_database_without_the_lease_table_opens_and_gets_it(tmp_path):
    old = SCHEMA_SQL[:SCHEMA_SQL.index("CREATE TABLE IF NOT EXISTS leases")] + \
        SCHEMA_SQL[SCHEMA_SQL.index("CREATE INDEX IF NOT EXISTS trials_by_study"):]
    with sqlite3.connect(tmp_path / "study.db") as con:
        con.executescript(old.replace("    donor_step INTEGER,\n", ""))
        con.execute("INSERT INTO schema_version (version) VALUES (1)")
    study = ts.optimize(lambda p: p["x"], SPACE, n_trials=2, storage=str(tmp_path), study_name="old")
    assert len(study.trials) == 2
    with sqlite3.connect(tmp_path / "study.db") as con:
        assert con.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert con.execute("SELECT COUNT(*) FROM leases").fetchone() == (0,)  # given back at the end
    assert _status(tmp_path) == {"old": "finished"}


def test_the_lease_is_given_back_when_run_ends_and_taken_again_by_the_next_run(tmp_path):
    study = ts.optimize(lambda p: p["x"], SPACE, n_trials=1, storage=str(tmp_path), study_name="s")
    assert study.storage.lease(study._id) is None
    study.run(ts._jobs.ObjectiveJob(lambda p: p["x"], "value"), n_trials=2)
    assert study.storage.lease(study._id) is None and study.n_finished() == 2
