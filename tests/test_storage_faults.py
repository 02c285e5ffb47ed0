"""Storage under faults provoked for real (issue 13, items 5 and 7): empty and foreign files
where ``study.db`` should be, newer schemas, path problems, checkpoint writes that fail on a
full or read-only disk, and checkpoint files that are not ours.

Read-only and full disks are small tmpfs mounts (skipped where mounting is not permitted);
permission errors run in a process of an unprivileged user when the tests run as root (root
ignores file modes), or with ``chmod`` otherwise.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
import warnings
from pathlib import Path

import pytest
import torch

import torchsearch as ts
from tests.models import TinyRegression
from torchsearch.storage import SCHEMA_VERSION, Storage

SPACE = {"lr": ts.Float(1e-3, 0.3, log=True), "width": ts.PowerOfTwo(4, 16)}
ROOT = Path(__file__).resolve().parents[1]


def _tune(folder, **kw):
    args = dict(metric="mse", mode="min", epochs=1, n_trials=3, storage=folder, verbose=False, seed=0)
    return ts.tune(TinyRegression, SPACE, **{**args, **kw})


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def mount(tmp_path):
    """``mount(path, options)`` puts a tmpfs on ``path`` (skips the test where that is not permitted)."""
    done: list[Path] = []

    def _mount(path: Path, options: str) -> None:
        path.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
        if res.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip() or res.returncode}")
        done.append(path)

    yield _mount
    for path in reversed(done):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


# -- study.db: empty, foreign, newer, or missing beside old checkpoints --------------------

def test_an_empty_study_db_is_refused_never_replaced(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "old-trial-0.pt").write_bytes(b"weights of an earlier study")
    (tmp_path / "study.db").write_bytes(b"")
    before = _snapshot(tmp_path)
    with pytest.raises(ts.StorageError, match=rf"storage: '{tmp_path / 'study.db'}' is an empty file \(0 bytes\), not "
                                              r"a torchsearch database; move it away"):
        _tune(tmp_path)
    assert _snapshot(tmp_path) == before  # nothing created, nothing overwritten


def _foreign(db: Path, kind: str) -> None:
    if kind == "random":
        db.write_bytes(os.urandom(3000))
    elif kind == "text":
        db.write_text("study results:\n0.91 0.93\n")
    else:
        con = sqlite3.connect(db)
        if kind == "sqlite_other":
            con.execute("CREATE TABLE experiments (id INTEGER, result REAL)")
            con.execute("INSERT INTO experiments VALUES (1, 0.5)")
        else:  # an SQLite file without any table
            con.execute("PRAGMA user_version = 7")
        con.commit()
        con.close()


@pytest.mark.parametrize(("kind", "reason"), [
    ("random", r"is not a torchsearch database \(not SQLite: it starts with"),
    ("text", r"is not a torchsearch database \(not SQLite: it starts with b'study re'\)"),
    ("sqlite_other", r"is a SQLite database but not a torchsearch one \(it lacks the tables schema_version, studies, "
                     r"trials, reports, lineage; it holds experiments\)"),
    ("sqlite_empty", r"is a SQLite database but not a torchsearch one \(.*it holds no table\)"),
])
def test_a_foreign_file_where_study_db_should_be_is_refused_and_left_as_it_was(tmp_path, kind, reason):
    db = tmp_path / "study.db"
    _foreign(db, kind)
    os.utime(db, (1e9, 1e9))
    before = _snapshot(tmp_path)
    for open_it in (lambda: _tune(tmp_path), lambda: Storage(tmp_path), lambda: Storage(tmp_path, readonly=True)):
        with pytest.raises(ts.StorageError, match=reason) as info:
            open_it()
        assert str(db) in str(info.value)
    assert _snapshot(tmp_path) == before


def test_a_database_from_a_newer_torchsearch_is_refused_by_writers_and_readers(tmp_path):
    _tune(tmp_path, n_trials=1)
    con = sqlite3.connect(tmp_path / "study.db")
    con.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 5,))
    con.commit()
    con.close()
    message = (rf"'{tmp_path / 'study.db'}' was written by a newer torchsearch \(schema {SCHEMA_VERSION + 5}, this one "
               rf"reads up to {SCHEMA_VERSION}\): upgrade torchsearch")
    for open_it in (lambda: _tune(tmp_path), lambda: Storage(tmp_path, readonly=True)):
        with pytest.raises(ts.StorageError, match=message):
            open_it()
    con = sqlite3.connect(tmp_path / "study.db")
    assert con.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION + 5,)]  # not migrated
    con.close()


def test_a_new_study_never_overwrites_the_checkpoints_of_a_database_that_went_missing(tmp_path):
    _tune(tmp_path, n_trials=2)
    (tmp_path / "study.db").rename(tmp_path / "elsewhere.db")
    for f in ("study.db-wal", "study.db-shm"):
        (tmp_path / f).unlink(missing_ok=True)
    before = _snapshot(tmp_path / "checkpoints")
    assert before  # the best trial's weights
    with pytest.raises(ts.StorageError, match=r"checkpoints' holds 1 file\(s\) \(e.g. 'TinyRegression-trial-\d\.pt'\) "
                                              r"but .*study.db' does not exist: a new study would overwrite"):
        _tune(tmp_path, n_trials=2)
    assert _snapshot(tmp_path / "checkpoints") == before and not (tmp_path / "study.db").exists()


def test_a_write_ahead_log_without_its_database_is_refused(tmp_path):
    (tmp_path / "study.db-wal").write_bytes(b"\x37\x7f\x06\x82" + bytes(28))
    with pytest.raises(ts.StorageError, match=r"holds study.db-wal but no study.db: the database was moved or deleted"):
        Storage(tmp_path)
    assert not (tmp_path / "study.db").exists()


CREATOR = textwrap.dedent("""
    import sys, time
    from torchsearch.storage import Storage
    folder, name, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
    while time.time() < start:  # every process opens the new folder at the same moment
        time.sleep(0.001)
    st = Storage(folder)
    sid = st.get_or_create_study(name, metric="m", mode="min", space={}, scheduler="s", seed=None)
    st.add_trial(sid, {"who": name})
    st.close()
""")


def test_processes_creating_one_new_storage_at_once_all_use_one_whole_database(tmp_path):
    folder = tmp_path / "new"
    start = time.time() + 3.0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", CREATOR, str(folder), f"s{i}", str(start)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(4)]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    st = Storage(folder, readonly=True)
    assert sorted(s["name"] for s in st.list_studies()) == ["s0", "s1", "s2", "s3"]
    assert [n.name for n in folder.iterdir() if ".creating" in n.name] == []  # no temporary file left


# -- path problems ------------------------------------------------------------------------

def test_path_problems_are_storage_errors_naming_the_path_and_the_cause(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ts.StorageError, match=rf"'{tmp_path / 'a_file'}' is a file, not a folder"):
        Storage(tmp_path / "a_file")
    with pytest.raises(ts.StorageError, match=r"cannot use the folder .*a_file/runs' \(NotADirectoryError: ") as info:
        Storage(tmp_path / "a_file" / "runs")
    assert isinstance(info.value.__cause__, NotADirectoryError)
    (tmp_path / "b" ).mkdir()
    (tmp_path / "b" / "checkpoints").write_text("not a folder")
    with pytest.raises(ts.StorageError, match=r"\(FileExistsError: File exists: '.*b/checkpoints'\)") as info:
        Storage(tmp_path / "b")
    assert isinstance(info.value.__cause__, FileExistsError)
    (tmp_path / "c" / "study.db").mkdir(parents=True)
    with pytest.raises(ts.StorageError, match=r"c/study.db' is a folder, not a torchsearch database"):
        Storage(tmp_path / "c")
    st = Storage(tmp_path / "d")
    with pytest.raises(ts.StorageError, match=r"cannot read checkpoint '.*d/checkpoints/gone.pt' \(FileNotFoundError"):
        st.load_checkpoint("gone")


PERMISSION = textwrap.dedent("""
    import json, sys
    import torchsearch as ts
    try:
        ts.Storage(sys.argv[1])
    except ts.StorageError as e:
        print(json.dumps({"error": str(e), "cause": type(e.__cause__).__name__}))
""")


def _run_unprivileged(code: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", code, *args]
    if os.geteuid() == 0:  # root ignores file modes: run as nobody
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot drop to an unprivileged user")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "HOME": "/tmp"})
    if res.returncode != 0 and res.stderr.startswith("setpriv:"):
        pytest.skip(f"cannot drop to an unprivileged user here: {res.stderr.strip()}")
    return res


def test_a_folder_that_cannot_be_written_is_a_storage_error_with_the_permission_cause():
    base = Path(tempfile.mkdtemp(prefix="ts-perm-"))
    try:
        base.chmod(0o555)  # readable by everyone, writable by nobody but root
        res = _run_unprivileged(PERMISSION, str(base / "runs"))
        assert res.returncode == 0, res.stderr[-2000:]
        got = json.loads(res.stdout)
        assert got["cause"] == "PermissionError"
        assert got["error"] == f"storage: cannot use the folder '{base / 'runs'}' (PermissionError: Permission denied: " \
                               f"'{base / 'runs'}')"
    finally:
        base.chmod(0o755)
        base.rmdir()


# -- checkpoint writes that fail: the weights fail, not the study (item 5) ---------------

def _failing_fdopen(monkeypatch, after: int = 0):
    """Files opened by the checkpoint writer fail on write with ENOSPC (after ``after`` good files)."""
    real = os.fdopen
    opened = [0]

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fdopen(fd, *a, **k):
        f = real(fd, *a, **k)
        opened[0] += 1
        return f if opened[0] <= after else Full(f)

    monkeypatch.setattr(os, "fdopen", fdopen)


def _check_weights_failed(study, folder):
    trials = study.trials
    assert [t.state for t in trials] == ["completed"] * len(trials)  # the study went on: every trial finished
    best = study.best_trial
    assert best.checkpoint is None and best.value is not None
    assert best.error.startswith("final weights not saved: storage: cannot write checkpoint")
    assert str(folder / "checkpoints" / f"TinyRegression-trial-{best.number}.pt") in best.error
    with pytest.raises(ts.StorageError, match=rf"trial {best.number} of study 'TinyRegression' has no weights: its "
                                              r"final weights not saved: .*"):
        study.load_module(TinyRegression)
    assert [p.name for p in (folder / "checkpoints").iterdir() if p.name.endswith(".tmp")] == []  # no torn file


def test_a_failing_checkpoint_writer_fails_the_trials_weights_with_a_warning_not_the_study(tmp_path, monkeypatch):
    _failing_fdopen(monkeypatch)
    with pytest.warns(RuntimeWarning, match=r"study 'TinyRegression': trial \d+'s final weights were not saved, the "
                                            r"study goes on: storage: cannot write checkpoint '.*checkpoints/"
                                            r"TinyRegression-trial-\d+\.pt': \[Errno 28\] No space left on device"):
        study = _tune(tmp_path, n_trials=3)
    _check_weights_failed(study, tmp_path)
    with pytest.raises(ts.StorageError, match=r"has no weights: its final weights not saved: .*No space left on device"):
        study.load_module(TinyRegression)


def _ask_tell(study, value, state):
    trial = study.ask()
    trial.report({"v": value}, step=1)
    return study.tell(trial, state_dict=state)


def test_on_a_full_disk_the_earlier_best_weights_stay_and_the_new_best_records_why_it_has_none(tmp_path, mount):
    mount(tmp_path / "checkpoints", "size=256k")
    study = ts.Study(space={"x": ts.Float(0, 1)}, metric="v", mode="min", storage=tmp_path, name="s", verbose=False)
    first = _ask_tell(study, 2.0, {"w": torch.arange(10.0)})
    assert first.checkpoint == "s-trial-0"
    fd = os.open(tmp_path / "checkpoints" / "filler", os.O_WRONLY | os.O_CREAT)
    try:  # fill the disk, for real
        with pytest.raises(OSError) as full:
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    assert full.value.errno == errno.ENOSPC
    with pytest.warns(RuntimeWarning, match=r"trial 1's final weights were not saved, the study goes on: .*"
                                            r"s-trial-1\.pt': \[Errno 28\] No space left on device"):
        second = _ask_tell(study, 1.0, {"w": torch.arange(20000.0)})
    assert second.state == "completed" and second.value == 1.0 and second.checkpoint is None
    assert second.error.startswith("final weights not saved")
    assert study.best_trial.number == 1
    kept = study.storage.trial(study._id, 0)
    assert kept.checkpoint == "s-trial-0"  # the earlier best's weights were not deleted
    assert torch.equal(study.storage.load_checkpoint(kept.checkpoint)["w"], torch.arange(10.0))
    with pytest.raises(ts.StorageError, match=r"trial 1 of study 's' has no weights: its final weights not saved"):
        study.load_module(TinyRegression)
    third = _ask_tell(study, 3.0, {"w": torch.zeros(1)})  # not the best: nothing written, nothing noted
    assert third.state == "completed" and third.error is None


def test_a_read_only_checkpoints_folder_fails_the_weights_of_trials_run_by_worker_processes(tmp_path, mount):
    Storage(tmp_path).close()
    mount(tmp_path / "checkpoints", "ro,size=64k")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = _tune(tmp_path, n_trials=3, devices="cpu", workers=2)
    assert len(study.trials) == 3
    _check_weights_failed(study, tmp_path)
    assert "Read-only file system" in study.best_trial.error
    assert any("final weights were not saved" in str(w.message) for w in caught)


# -- checkpoint files that are not ours (item 7) ------------------------------------------

def _no_unsafe_advice(e: BaseException) -> None:
    text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    assert "weights_only=False" not in text and "weights_only` set to `False" not in text, text


class NotWeights:
    pass


@pytest.mark.parametrize(("content", "reason"), [
    (os.urandom(4096), r"neither torch.save output nor a torchsearch state \(it starts with b"),
    (b"", r"neither torch.save output nor a torchsearch state \(it is empty \(0 bytes\)\)"),
    ("pickle", r"it holds objects other than tensors and plain containers \(torchsearch loads weights only, never "
               r"code\)"),
], ids=["random-bytes", "empty", "pickle"])  # stable ids: the random bytes differ in each collection (pytest-xdist)
def test_a_checkpoint_that_is_not_ours_is_refused_naming_the_file_without_unsafe_advice(tmp_path, content, reason):
    study = _tune(tmp_path, n_trials=2)
    path = tmp_path / "checkpoints" / f"{study.best_trial.checkpoint}.pt"
    if content == "pickle":
        torch.save({"model": NotWeights()}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(ts.StorageError, match=rf"checkpoint file '{path}' is not a torchsearch checkpoint: {reason}") \
            as info:
        study.load_module(TinyRegression)
    _no_unsafe_advice(info.value)


def test_a_new_database_appears_whole_so_a_reader_never_meets_a_missing_table(tmp_path, monkeypatch):
    # the moment study.db comes into being, a reader (the CLI, the dashboard) opens it: it must
    # find every table and the version row (an in-place creation showed "no such table: studies")
    from torchsearch import _dbfile

    seen = []
    real_link = os.link

    def link(src, dst):
        real_link(src, dst)
        reader = Storage(tmp_path, readonly=True)
        seen.append((Path(dst).name, reader.list_studies()))
        reader.close()

    monkeypatch.setattr(_dbfile.os, "link", link)
    st = Storage(tmp_path)
    st.get_or_create_study("s", metric="m", mode="min", space={}, scheduler="r", seed=None)
    assert seen == [("study.db", [])]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".creating")] == []
