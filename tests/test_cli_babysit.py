"""Notes and queued trials in storage and on the command line (``torchsearch note`` /
``torchsearch enqueue``): typed parsing, clear refusals, writing while another process holds the
study's lease, and databases written before notes and queues existed."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import torchsearch as ts
from torchsearch._enqueue import check_params, parse_assignment
from torchsearch.cli import main
from torchsearch.storage import SCHEMA_VERSION, Storage

ROOT = Path(__file__).resolve().parents[1]
SPACE = {"lr": ts.Float(1e-4, 1.0, log=True), "layers": ts.Int(1, 4), "width": ts.PowerOfTwo(16, 128),
         "act": ts.Choice(["relu", "tanh"]), "flag": ts.Choice([True, False, None])}


def run(*argv):
    out = io.StringIO()
    rc = main([str(a) for a in argv], out=out)
    return rc, out.getvalue()


@pytest.fixture
def folder(tmp_path):
    ts.optimize(lambda p: p["lr"] * p["layers"], SPACE, n_trials=3, storage=tmp_path / "s", study_name="demo", seed=0)
    return tmp_path / "s"


def _sid(folder: Path) -> int:
    st = Storage(folder, readonly=True)
    try:
        return st.list_studies()[0]["id"]
    finally:
        st.close()


def test_notes_are_timestamped_several_per_trial_and_shown_by_trials(folder, capsys):
    assert run("note", folder, 1, "lr too high?")[0] == 0
    assert "note added to trial 1 of study 'demo'" in run("note", folder, 1, "yes: diverged at epoch 3")[1]
    st = Storage(folder, readonly=True)
    notes = st.trials(_sid(folder))[1].notes
    st.close()
    assert [n["text"] for n in notes] == ["lr too high?", "yes: diverged at epoch 3"]
    assert notes[0]["time"] <= notes[1]["time"]
    rc, out = run("trials", folder, "--format", "json")
    rows = json.loads(out)
    assert [n["text"] for n in rows[1]["notes"]] == ["lr too high?", "yes: diverged at epoch 3"]
    assert rows[0]["notes"] == [] and rows[0]["queued"] is False
    rc, out = run("trials", folder)
    assert "lr too high? | yes: diverged at epoch 3" in out


def test_a_note_on_a_trial_that_does_not_exist_or_without_text_is_refused(folder, capsys):
    assert run("note", folder, 7, "hm")[0] == 2
    assert "the study has no trial 7 (trials 0 to 2)" in capsys.readouterr().err
    assert run("note", folder, 0, "   ")[0] == 2
    assert "note: text must be a non-empty string" in capsys.readouterr().err
    assert run("note", folder.parent / "nothing", 0, "x")[0] == 2
    assert "no torchsearch storage at" in capsys.readouterr().err
    assert not (folder.parent / "nothing").exists()  # a note never creates a storage


def test_enqueue_reads_each_value_with_its_parameters_type(folder):
    rc, out = run("enqueue", folder, "lr=1e-3", "layers=3", "width=64", "act=tanh", "flag=null")
    assert rc == 0 and "1 waiting" in out
    rc, out = run("enqueue", folder, "layers=2", "flag=true")
    assert rc == 0 and "2 waiting" in out and "the scheduler picks lr, width, act" in out
    st = Storage(folder, readonly=True)
    queued = st.queued(_sid(folder))
    st.close()
    assert [q["params"] for q in queued] == [{"lr": 0.001, "layers": 3, "width": 64, "act": "tanh", "flag": None},
                                             {"layers": 2, "flag": True}]
    assert type(queued[0]["params"]["layers"]) is int and type(queued[0]["params"]["lr"]) is float
    rc, out = run("trials", folder)
    assert "queued by hand, to run first in the study's next run (2):" in out and '{"layers": 2, "flag": true}' in out


@pytest.mark.parametrize("arg, message", [
    ("depth=3", r"unknown parameter 'depth' \(given '3'\); the space's parameters are lr, layers, width, act, flag"),
    ("lr=5", r"Float 'lr': 5.0 is not allowed; it must be a float in \[0.0001, 1\] \(log scale\)"),
    ("layers=9", r"Int 'layers': 9 is not allowed; it must be an integer in \[1, 4\]"),
    ("layers=2.5", r"Int 'layers': '2.5' is not an integer; it must be an integer in \[1, 4\]"),
    ("width=48", r"PowerOfTwo 'width': 48 is not allowed; it must be a power of two in \[16, 128\]"),
    ("act=gelu", r"Choice 'act': 'gelu' is not allowed; it must be one of \"relu\", \"tanh\""),
    ("lr=fast", r"Float 'lr': 'fast' is not a number"),
    ("lr", r"expected name=value, got 'lr'"),
])
def test_enqueue_refuses_unknown_names_and_values_outside_the_space_naming_them(folder, capsys, arg, message):
    assert run("enqueue", folder, arg)[0] == 2
    err = capsys.readouterr().err
    assert err.startswith("torchsearch: error: enqueue: ")
    import re
    assert re.search(message, err), err
    st = Storage(folder, readonly=True)
    assert st.queued(_sid(folder)) == []  # nothing half-queued
    st.close()


def test_enqueue_refuses_a_parameter_given_twice_instead_of_keeping_the_last(folder, capsys):
    assert run("enqueue", folder, "lr=0.1", "layers=2", "lr = 0.2")[0] == 2
    err = capsys.readouterr().err
    assert err == ("torchsearch: error: enqueue: 'lr' is given 2 times (lr=0.1, lr = 0.2); give each parameter "
                   "once\n"), err
    st = Storage(folder, readonly=True)
    assert st.queued(_sid(folder)) == []  # nothing queued
    st.close()


def test_trials_in_json_and_csv_list_the_trials_queued_by_hand_as_the_table_does(folder):
    assert run("enqueue", folder, "lr=0.01", "act=tanh")[0] == 0
    assert run("enqueue", folder, "layers=2")[0] == 0
    rows = json.loads(run("trials", folder, "--format", "json")[1])
    assert [(r["number"], r["state"], r["queued"]) for r in rows] == [
        (0, "completed", False), (1, "completed", False), (2, "completed", False),
        (None, "queued", True), (None, "queued", True)]
    assert {k: v for k, v in rows[3].items() if k.startswith("params.")} == {"params.lr": 0.01, "params.act": "tanh"}
    assert rows[4]["params.layers"] == 2 and rows[3]["queued_at"] and rows[3]["value"] is None
    assert set(rows[0]) <= set(rows[3]) | {"params.layers", "params.width", "params.flag"}  # a trial row's columns
    parsed = list(csv.DictReader(io.StringIO(run("trials", folder, "--format", "csv")[1])))
    assert [(r["number"], r["state"], r["queued"], r["params.lr"]) for r in parsed][3:] == [
        ("", "queued", "by hand", "0.01"), ("", "queued", "by hand", "")]
    table = run("trials", folder)[1]
    assert "queued by hand, to run first in the study's next run (2):" in table
    # --state queued: only those, in every format; another filter: only trials
    assert [r["state"] for r in json.loads(run("trials", folder, "--state", "queued", "--format", "json")[1])] == [
        "queued", "queued"]
    only = run("trials", folder, "--state", "queued")[1]
    assert "queued by hand" in only and "completed" not in only
    assert [r["state"] for r in json.loads(run("trials", folder, "--state", "completed", "--format", "json")[1])] == [
        "completed"] * 3
    assert [r["state"] for r in csv.DictReader(io.StringIO(
        run("trials", folder, "--state", "completed", "--format", "csv")[1]))] == ["completed"] * 3
    assert "queued by hand" not in run("trials", folder, "--state", "completed")[1]
    assert json.loads(run("trials", folder, "--pruned", "--format", "json")[1]) == []


def test_check_params_takes_some_parameters_in_the_space_order_and_refuses_the_rest():
    assert list(check_params(SPACE, {"act": "relu", "lr": 0.1})) == ["lr", "act"]
    assert check_params(SPACE, {"layers": 2.0}) == {"layers": 2}
    with pytest.raises(ts.SpaceError, match=r"enqueue: unknown parameter 'LR' \(given 0.1\)"):
        check_params(SPACE, {"LR": 0.1})
    with pytest.raises(ts.SpaceError, match=r"enqueue: Float 'lr': nan is not allowed"):
        check_params(SPACE, {"lr": float("nan")})
    with pytest.raises(ts.SpaceError, match=r"enqueue: give at least one parameter"):
        check_params(SPACE, {})
    with pytest.raises(ts.SpaceError, match=r"enqueue: params must be a dict"):
        check_params(SPACE, [("lr", 0.1)])
    assert parse_assignment({"c": ts.Choice(["1", 1])}, "c=1") == ("c", "1")  # a string value wins its text


HOLDER = """
import sys, torchsearch as ts
study = ts.Study(space={"x": ts.Float(0, 1)}, metric="v", mode="min", storage=sys.argv[1], name="held",
                 verbose=False)
trial = study.ask()            # holds the lease, a trial running
print("ready", trial.number, flush=True)
sys.stdin.readline()           # until the test is done
study.tell(trial, 0.5)
"""


def test_notes_and_queued_trials_are_written_while_another_process_runs_the_study(tmp_path, capsys):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert proc.stdout.readline().split() == ["ready", "0"], proc.stderr.read()
        assert run("note", tmp_path, 0, "still running, looks good")[0] == 0, capsys.readouterr().err
        assert run("enqueue", tmp_path, "x=0.25")[0] == 0, capsys.readouterr().err
        st = Storage(tmp_path, readonly=True)
        sid = st.list_studies()[0]["id"]
        assert st.lease(sid) is not None and st.lease(sid)["pid"] == proc.pid  # the holder kept its lease
        assert [n["text"] for n in st.notes(sid, 0)] == ["still running, looks good"]
        assert [q["params"] for q in st.queued(sid)] == [{"x": 0.25}]
        st.close()
    finally:
        out, err = proc.communicate("\n", timeout=60)
    assert proc.returncode == 0, err


def _downgrade_to_schema_2(folder: Path) -> None:
    """Make ``folder``'s database look as torchsearch wrote it before notes and queues."""
    con = sqlite3.connect(folder / "study.db")
    con.executescript("DROP TABLE notes; DROP TABLE queue; ALTER TABLE trials DROP COLUMN queued;"
                      "UPDATE schema_version SET version = 2;")
    con.close()


def test_a_database_from_before_notes_is_read_as_it_is_and_migrated_by_a_writer(folder, capsys):
    _downgrade_to_schema_2(folder)
    rc, out = run("trials", folder, "--format", "json")
    assert rc == 0 and [r["notes"] for r in json.loads(out)] == [[], [], []]
    assert all(r["queued"] is False for r in json.loads(out))
    con = sqlite3.connect(folder / "study.db")
    assert con.execute("SELECT version FROM schema_version").fetchall() == [(2,)]  # readers leave it as it was
    con.close()
    assert run("note", folder, 2, "from before")[0] == 0  # a writer migrates it
    assert run("enqueue", folder, "act=relu")[0] == 0
    con = sqlite3.connect(folder / "study.db")
    assert con.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert con.execute("SELECT text FROM notes").fetchall() == [("from before",)]
    con.close()
