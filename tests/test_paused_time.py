"""A trial's duration is the time it ran: the time it waited paused (at an ASHA rung for a
promotion, in PBT's queue, between runs of a study) is kept apart in ``paused_s``."""

from __future__ import annotations

import sqlite3

import pytest

import torchsearch as ts
import torchsearch.storage as storage_mod
from torchsearch.pruners import ASHA
from torchsearch.schedulers import Random
from torchsearch.storage import Storage
from tests.models import TinyRegression


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _study(st: Storage) -> int:
    return st.get_or_create_study("s", metric="loss", mode="min", space={}, scheduler="Random()", seed=0)


def test_pauses_are_kept_apart_from_the_time_a_trial_ran(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(storage_mod.time, "time", clock)
    st = Storage(None)
    sid = _study(st)
    n = st.add_trial(sid, {"x": 1})  # started at 1000
    clock.now = 1010.0
    st.update_trial(sid, n, state="paused")  # ran 10 s, then waits at a rung
    clock.now = 1025.0
    t = st.trial(sid, n)
    assert t.paused_at == 1010.0 and t.duration is None and t.ran_for(clock.now) == pytest.approx(10.0)
    st.update_trial(sid, n, state="paused")  # paused again while paused (a recovery): the first stamp stays
    st.update_trial(sid, n, state="running")  # promoted after 15 s
    clock.now = 1030.0
    st.update_trial(sid, n, state="paused")  # ran 5 s more
    st.update_trial(sid, n, state="stopped", ended=1050.0)  # never promoted again: ended while paused
    t = st.trial(sid, n)
    assert t.paused_at is None and t.paused_s == pytest.approx(15.0 + 20.0)
    assert t.duration == pytest.approx(15.0)  # 1050 - 1000 - 35
    m = st.add_trial(sid, {"x": 2})
    st.update_trial(sid, m, state="completed", ended=clock.now + 3.0)  # never paused: wall time as before
    assert st.trial(sid, m).duration == pytest.approx(3.0) and st.trial(sid, m).paused_s == 0.0


def test_asha_promoted_trials_report_the_time_they_ran_not_the_time_they_waited():
    study = ts.tune(TinyRegression, {"lr": ts.Float(1e-3, 0.3, log=True)}, pruner=ASHA(), metric="mse", mode="min",
                    epochs=9, n_trials=9, seed=0, verbose=False, scheduler=Random(seed=0))
    trials = study.trials
    waited = [t for t in trials if t.paused_s > 0]
    assert waited, "some trial waited at a rung"
    for t in trials:
        assert t.paused_at is None  # every pause ended with the study
        assert t.duration == pytest.approx(max(0.0, t.ended - t.started - t.paused_s))
    assert sum(t.duration for t in trials) < sum(t.ended - t.started for t in trials)


def test_a_database_from_before_the_pause_columns_reads_wall_time_and_gains_them_when_written(tmp_path):
    folder = tmp_path / "runs"
    study = ts.optimize(lambda p: p["x"] ** 2, {"x": ts.Float(-1.0, 1.0)}, n_trials=2, seed=0, storage=str(folder),
                        verbose=False)
    study.storage.close()
    con = sqlite3.connect(folder / "study.db")
    con.executescript("ALTER TABLE trials DROP COLUMN paused_at; ALTER TABLE trials DROP COLUMN paused_s;")
    con.close()
    ro = Storage(str(folder), readonly=True)
    sid = ro.study_id(study.name)
    t = ro.trial(sid, 0)
    assert t.paused_s == 0.0 and t.duration == pytest.approx(t.ended - t.started)
    ro.close()
    Storage(str(folder)).close()  # a writer adds the columns
    con = sqlite3.connect(folder / "study.db")
    cols = {r[1] for r in con.execute("PRAGMA table_info(trials)")}
    con.close()
    assert {"paused_at", "paused_s"} <= cols


OPENER = """
import sys, time
from torchsearch.storage import Storage
folder, start = sys.argv[1], float(sys.argv[2])
while time.time() < start:  # every writer opens the old database at the same moment
    time.sleep(0.001)
Storage(folder).close()
"""


def test_writers_opening_an_old_database_at_once_all_add_the_columns_without_error(tmp_path):
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    folder = tmp_path / "runs"
    study = ts.optimize(lambda p: p["x"] ** 2, {"x": ts.Float(-1.0, 1.0)}, n_trials=2, seed=0, storage=str(folder),
                        verbose=False)
    values = [t.value for t in study.trials]
    study.storage.close()
    con = sqlite3.connect(folder / "study.db")
    con.executescript("ALTER TABLE trials DROP COLUMN paused_at; ALTER TABLE trials DROP COLUMN paused_s;")
    con.close()
    start = time.time() + 3.0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [subprocess.Popen([sys.executable, "-c", OPENER, str(folder), str(start)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    ro = Storage(str(folder), readonly=True)
    assert [t.value for t in ro.trials(ro.study_id(study.name))] == values  # nothing lost
    ro.close()
