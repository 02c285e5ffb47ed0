"""cli.py: each command prints the right trials in each format."""

from __future__ import annotations

import csv
import io
import json
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


def test_the_cli_and_the_dashboard_read_studies_without_importing_torch(storage):
    import subprocess
    import sys

    code = ("import sys, io; from torchsearch.cli import main; import torchsearch.dashboard; "
            f"rc = main(['trials', {str(storage)!r}, '--study', 'demo', '--format', 'json'], out=io.StringIO()); "
            "print(rc, sorted(m for m in ('torch', 'ignite', 'numpy', 'scipy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["0", "[]"], done.stdout + done.stderr
