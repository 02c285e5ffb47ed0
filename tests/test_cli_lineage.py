"""``torchsearch lineage``: the PBT exploits of a stored study, and one trial's schedule."""

from __future__ import annotations

import io
import json

import torchsearch as ts
from torchsearch.cli import main
from torchsearch.schedulers import PBT
from tests.pbt_models import DropoutRegression

SPACE = {"lr": ts.Float(1e-3, 0.3, log=True), "momentum": ts.Float(0.0, 0.95), "dropout": ts.Float(0.0, 0.5)}


def test_lineage_lists_every_exploit_and_a_trials_schedule(tmp_path):
    study = ts.tune(DropoutRegression, SPACE, scheduler=PBT(population=4, interval=1, seed=3), metric="mse",
                    mode="min", epochs=4, seed=2, storage=str(tmp_path), verbose=False)
    rows = study.lineage()
    assert rows
    out = io.StringIO()
    assert main(["lineage", str(tmp_path), "--format", "json"], out=out) == 0
    data = json.loads(out.getvalue())
    assert [(r["trial"], r["step"], r["donor"], r["donor_step"], r["operations"]) for r in data["lineage"]] == [
        (r["trial"], r["step"], r["donor"], r["donor_step"], r["operations"]) for r in rows]
    assert all(r["donor_step"] >= r["step"] for r in rows)
    n = rows[-1]["trial"]
    out = io.StringIO()
    assert main(["lineage", str(tmp_path), "--trial", str(n)], out=out) == 0
    text = out.getvalue()
    assert f"hyperparameter schedule behind trial {n}'s weights:" in text
    assert rows[-1]["operations"][0] in text


def test_lineage_of_an_unknown_trial_is_an_error(tmp_path, capsys):
    ts.tune(DropoutRegression, SPACE, scheduler=PBT(population=2, interval=1, seed=0), metric="mse", mode="min",
            epochs=2, storage=str(tmp_path), verbose=False)
    assert main(["lineage", str(tmp_path), "--trial", "9"], out=io.StringIO()) == 2
    assert "has no trial 9" in capsys.readouterr().err


def test_lineage_of_a_database_written_before_the_donor_step_column_is_read_and_the_column_added(tmp_path):
    import sqlite3

    study = ts.tune(DropoutRegression, SPACE, scheduler=PBT(population=4, interval=1, seed=3), metric="mse",
                    mode="min", epochs=4, seed=2, storage=str(tmp_path), verbose=False)
    rows = study.lineage()
    study.storage.close()
    with sqlite3.connect(tmp_path / "study.db") as con:  # as an older torchsearch wrote it
        con.execute("ALTER TABLE lineage DROP COLUMN donor_step")
    out = io.StringIO()
    assert main(["lineage", str(tmp_path), "--format", "json"], out=out) == 0
    data = json.loads(out.getvalue())
    assert [(r["trial"], r["step"], r["donor_step"]) for r in data["lineage"]] == [
        (r["trial"], r["step"], None) for r in rows]
    again = ts.Study(space=SPACE, metric="mse", mode="min", storage=str(tmp_path), name=study.name, verbose=False)
    # a writer adds the column back; the old rows keep no donor step
    assert [r["donor_step"] for r in again.lineage()] == [None] * len(rows)
    segments = again.schedule(rows[-1]["trial"])
    assert segments[0]["start"] == 0 and all(a["end"] == b["start"] for a, b in zip(segments, segments[1:]))
