"""cli.py: each command prints the right trials in each format."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest

import torchsearch as ts
from torchsearch.cli import main
from torchsearch.schedulers import Random


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli")
    values = iter([3.0, 1.0, float("nan"), 2.0])
    ts.optimize(lambda p: next(values), {"x": ts.Float(0, 1), "c": ts.Choice(["a", "b"])},
                scheduler=Random(seed=0), n_trials=4, storage=path, study_name="demo")
    ts.optimize(lambda p: p["x"], {"x": ts.Float(0, 1)}, n_trials=2, storage=path, study_name="other", mode="max")
    return path


def run(*argv):
    out = io.StringIO()
    rc = main(list(argv), out=out)
    return rc, out.getvalue()


def test_studies_lists_every_study_with_counts(storage):
    rc, out = run("studies", str(storage), "--format", "json")
    rows = json.loads(out)
    assert rc == 0 and [r["name"] for r in rows] == ["demo", "other"]
    demo = rows[0]
    assert (demo["trials"], demo["completed"], demo["failed"], demo["best_value"], demo["best_trial"]) == (4, 3, 1, 1.0, 1)


def test_trials_in_json_csv_and_table(storage):
    rc, out = run("trials", str(storage), "--study", "demo", "--format", "json")
    rows = json.loads(out)
    assert [(r["number"], r["state"], r["value"]) for r in rows] == [
        (0, "completed", 3.0), (1, "completed", 1.0), (2, "failed", None), (3, "completed", 2.0)]
    assert rows[2]["error"] == "TrialFailed: objective returned nan"
    assert set(rows[0]) >= {"params.x", "params.c", "duration_s", "stop_reason"}
    rc, out = run("trials", str(storage), "--study", "demo", "--format", "csv")
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert [r["state"] for r in parsed] == ["completed", "completed", "failed", "completed"]
    assert float(parsed[1]["value"]) == 1.0
    rc, out = run("trials", str(storage), "--study", "demo", "--state", "failed")
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["number", "state", "value"] and len(lines) == 2 and "objective returned nan" in out


def test_best_picks_by_mode(storage):
    rc, out = run("best", str(storage), "--study", "demo", "--format", "json")
    assert json.loads(out)["number"] == 1 and json.loads(out)["value"] == 1.0
    rc, out = run("best", str(storage), "--study", "other", "--format", "json")
    best = json.loads(out)
    assert best["mode"] == "max" and best["params"]["x"] == max(
        t.params["x"] for t in ts.Study(space={"x": ts.Float(0, 1)}, storage=storage, name="other", mode="max",
                                        verbose=False).trials)


def test_errors_are_one_line_and_exit_2(storage, tmp_path, capsys):
    assert run("best", str(storage))[0] == 2
    assert "several studies ('demo', 'other'): pick one with --study NAME" in capsys.readouterr().err
    assert run("trials", str(tmp_path))[0] == 2
    assert "no torchsearch storage at" in capsys.readouterr().err


def test_help_for_every_command(capsys):
    for cmd in ("studies", "trials", "best"):
        with pytest.raises(SystemExit) as exit_info:
            main([cmd, "--help"])
        assert exit_info.value.code == 0 and "--format {table,json,csv}" in capsys.readouterr().out


def test_module_entry_point_runs():
    res = subprocess.run([sys.executable, "-m", "torchsearch.cli", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "studies" in res.stdout and "trials" in res.stdout


def test_python_dash_m_torchsearch_runs_the_command(storage):
    res = subprocess.run([sys.executable, "-m", "torchsearch", "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.startswith("usage: torchsearch ") and "enqueue" in res.stdout
    res = subprocess.run([sys.executable, "-m", "torchsearch", "studies", str(storage), "--format", "json"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and [r["name"] for r in json.loads(res.stdout)] == ["demo", "other"]
    res = subprocess.run([sys.executable, "-m", "torchsearch", "best", str(storage)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "pick one with --study NAME" in res.stderr


def test_the_study_db_file_given_for_its_folder_is_answered_with_the_folder(storage, capsys):
    db = storage / "study.db"
    for cmd in (["studies", str(db)], ["trials", str(db), "--study", "demo"], ["note", str(db), "0", "x"],
                ["dashboard", str(db)]):
        assert run(*cmd)[0] == 2
        err = capsys.readouterr().err
        assert err == (f"torchsearch: error: {str(db)!r} is the study database file, not its storage folder: pass "
                       f"the folder {str(storage)!r} instead\n"), err
    (storage.parent / "notes.txt").write_text("x")
    assert run("studies", str(storage.parent / "notes.txt"))[0] == 2
    assert "notes.txt' is a file, not a storage folder (a storage folder holds study.db)" in capsys.readouterr().err
    for readonly in (True, False):  # Storage itself, which tune(storage=...) and the readers use
        with pytest.raises(ts.StorageError, match=r"is the study database file, not its storage folder: pass the "
                                                  f"folder '{storage}' instead"):
            ts.Storage(db, readonly=readonly)


def test_the_cli_and_the_dashboard_read_studies_without_importing_torch(storage):
    import subprocess
    import sys

    code = ("import sys, io; from torchsearch.cli import main; import torchsearch.dashboard; "
            f"rc = main(['trials', {str(storage)!r}, '--study', 'demo', '--format', 'json'], out=io.StringIO()); "
            "print(rc, sorted(m for m in ('torch', 'ignite', 'numpy', 'scipy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["0", "[]"], done.stdout + done.stderr


# -- what the CLI reads: schema version, databases being created, foreign files (issue 13, item 7) --

def _set_version(folder, version):
    import sqlite3

    con = sqlite3.connect(folder / "study.db")
    con.execute("UPDATE schema_version SET version = ?", (version,))
    con.commit()
    con.close()


def test_a_database_from_a_newer_torchsearch_is_refused_with_upgrade_advice(tmp_path, capsys):
    from torchsearch.storage import SCHEMA_VERSION

    ts.optimize(lambda p: p["x"], {"x": ts.Float(0, 1)}, n_trials=1, storage=tmp_path, study_name="s")
    _set_version(tmp_path, SCHEMA_VERSION + 1)
    assert run("studies", str(tmp_path))[0] == 2
    err = capsys.readouterr().err
    assert (f"was written by a newer torchsearch (schema {SCHEMA_VERSION + 1}, this one reads up to {SCHEMA_VERSION}): "
            "upgrade torchsearch") in err and "Traceback" not in err


class _FakeTime:
    """The CLI's clock and sleep: time passes only when the CLI sleeps; ``on_sleep`` runs each time."""

    def __init__(self, on_sleep=lambda: None):
        self.now, self.sleeps, self.on_sleep = 0.0, 0, on_sleep

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        self.sleeps += 1
        self.on_sleep()


def test_a_database_being_created_is_waited_for_then_read(tmp_path, monkeypatch):
    from torchsearch import cli

    (tmp_path / "study.db").write_bytes(b"")  # an older torchsearch has just created its file

    def study_written():
        if (tmp_path / "study.db").stat().st_size == 0:
            (tmp_path / "study.db").unlink()
            ts.optimize(lambda p: p["x"], {"x": ts.Float(0, 1)}, n_trials=2, storage=tmp_path, study_name="new")

    fake = _FakeTime(study_written)
    monkeypatch.setattr(cli, "_clock", fake.clock)
    monkeypatch.setattr(cli, "_sleep", fake.sleep)
    rc, out = run("studies", str(tmp_path), "--format", "json")
    assert rc == 0 and [s["name"] for s in json.loads(out)] == ["new"] and fake.sleeps == 1


@pytest.mark.parametrize("tables", [(), ("schema_version", "studies")])
def test_a_database_still_being_created_after_the_wait_is_reported_never_no_such_table(tmp_path, monkeypatch, capsys,
                                                                                      tables):
    import sqlite3

    from torchsearch import cli

    con = sqlite3.connect(tmp_path / "study.db")  # 0 bytes, or some of the tables of an older writer
    for t in tables:
        con.execute(f"CREATE TABLE {t} (x)")
    con.commit()
    con.close()
    fake = _FakeTime()
    monkeypatch.setattr(cli, "_clock", fake.clock)
    monkeypatch.setattr(cli, "_sleep", fake.sleep)
    assert run("trials", str(tmp_path))[0] == 2
    err = capsys.readouterr().err
    assert "no such table" not in err and "a study is creating it" not in err and fake.sleeps == 25
    reason = ("is an empty file (0 bytes), not a torchsearch database" if not tables else
              "is a SQLite database but not a torchsearch one (it lacks the tables trials, reports, lineage; it holds "
              "schema_version, studies)")
    assert reason in err and "move it away" in err
    # after its wait a command gives the verdict every command gives once the file is old: the same line
    os.utime(tmp_path / "study.db", (1e9, 1e9))
    for cmd in ("studies", "trials", "best", "lineage"):
        assert run(cmd, str(tmp_path))[0] == 2
        assert capsys.readouterr().err == err
    assert fake.sleeps == 25  # an old file is judged at once


@pytest.mark.parametrize(("content", "reason"), [
    (b"", r"is an empty file \(0 bytes\), not a torchsearch database"),
    (b"\x00\x01garbage" * 20, r"is not a torchsearch database \(not SQLite"),
    ("sqlite", r"is a SQLite database but not a torchsearch one \(it lacks the tables .*; it holds notes\)"),
])
def test_a_foreign_or_empty_file_is_refused_naming_it(tmp_path, capsys, content, reason):
    import re

    from tests._foreign import foreign_study_db

    db = foreign_study_db(tmp_path, content)  # (dated long ago: not a database being created)
    assert run("studies", str(tmp_path))[0] == 2
    err = capsys.readouterr().err
    assert re.search(reason, err) and str(db) in err
