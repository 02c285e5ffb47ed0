"""A study stores its pruner (kind, arguments, rungs): a reopened study rebuilds the same one,
refuses a different one, and the CLI and dashboard show its true rungs."""

from __future__ import annotations

import io
import json
import sqlite3

import pytest

import torchsearch as ts
from torchsearch.cli import main
from torchsearch.pruners import ASHA, Hyperband, Median, Pruner
from torchsearch.pruners._hook import stored_pruner
from torchsearch.schedulers import Random
from tests.models import TinyRegression

SPACE = {"lr": ts.Float(1e-3, 0.3, log=True)}


def run(folder, pruner, n_trials=4, **kw):
    return ts.tune(TinyRegression, SPACE, scheduler=Random(seed=0), pruner=pruner, metric="mse", mode="min",
                   epochs=9, n_trials=n_trials, seed=0, storage=folder, verbose=False, study_name="p", **kw)


def test_the_study_stores_its_pruner_and_a_reopened_study_rebuilds_it(tmp_path):
    study = run(tmp_path, Hyperband(promote=False))
    stored = study.storage.study_pruner(study.id)
    assert stored == {"kind": "Hyperband", "args": {"min_epochs": 1, "reduction": 3, "max_epochs": 9, "promote": False},
                      "rungs": [1, 3]}
    study.storage.close()
    again = ts.Study(storage=str(tmp_path), name="p")  # no pruner passed: the stored one, rebuilt
    assert isinstance(again.pruner, Hyperband)
    assert again.pruner.describe() == "Hyperband(min_epochs=1, reduction=3, max_epochs=9, promote=False)"
    assert again.pruner.rungs() == [1, 3]
    again.storage.close()
    more = run(tmp_path, None, n_trials=8)  # resumed by tune without a pruner: it still prunes
    assert len(more.trials) == 8 and isinstance(more.pruner, Hyperband)
    assert any(t.stop_code == "pruned" for t in more.trials[4:])


def test_a_different_pruner_for_a_stored_study_is_refused(tmp_path):
    run(tmp_path, ASHA()).storage.close()
    with pytest.raises(ValueError, match=r"study 'p' was created with pruner ASHA\(min_epochs=1, reduction=3, "
                                         r"max_epochs=9, promote=True\).*got pruner=ASHA\(min_epochs=3"):
        run(tmp_path, ASHA(min_epochs=3))
    with pytest.raises(ValueError, match=r"got pruner=Median\(warmup=0"):
        run(tmp_path, Median())
    assert len(run(tmp_path, ASHA(), n_trials=6).trials) == 6  # the same pruner again: fine


def test_a_study_without_a_pruner_stores_none_and_takes_one_later(tmp_path):
    study = run(tmp_path, None, n_trials=2)
    assert study.storage.study_pruner(study.id) is None and study.pruner is None
    study.storage.close()
    study = run(tmp_path, Median(), n_trials=3)
    assert study.storage.study_pruner(study.id)["kind"] == "Median"


def test_an_unknown_stored_kind_warns_and_goes_on_without_a_pruner():
    class Mine(Pruner):
        pass

    with pytest.warns(UserWarning, match=r"study 'p' was run with pruner Mine\(max_epochs=9\), which this "
                                         r"torchsearch cannot rebuild"):
        assert stored_pruner({"kind": "Mine", "args": {"max_epochs": 9}, "rungs": []}, None, study="p",
                             where="Study") is None


def test_cli_and_dashboard_show_the_stored_rungs_even_where_no_trial_was_pruned(tmp_path):
    from torchsearch.dashboard import api

    study = run(tmp_path, ASHA(promote=False), n_trials=1)  # one trial: nothing to compare, nothing pruned
    assert all(t.stop_code != "pruned" for t in study.trials)
    study.storage.close()
    out = io.StringIO()
    assert main(["trials", str(tmp_path)], out=out) == 0
    assert "pruner: ASHA(min_epochs=1, reduction=3, max_epochs=9, promote=False); rungs at epochs 1, 3" in out.getvalue()
    out = io.StringIO()
    main(["trials", str(tmp_path), "--format", "json"], out=out)
    assert isinstance(json.loads(out.getvalue()), list)  # the JSON output stays a list of trials
    ro = ts.Storage(tmp_path, readonly=True)
    try:
        c = api.curves(ro, study.id)
    finally:
        ro.close()
    assert c["rungs"] == [1, 3] and c["pruner"]["kind"] == "ASHA"


def test_a_database_from_before_stored_pruners_reads_as_none(tmp_path):
    study = run(tmp_path, ASHA(), n_trials=2)
    study.storage.close()
    con = sqlite3.connect(tmp_path / "study.db")
    con.execute("ALTER TABLE studies DROP COLUMN pruner")
    con.commit()
    con.close()
    ro = ts.Storage(tmp_path, readonly=True)
    try:
        assert ro.study_pruner(study.id) is None
    finally:
        ro.close()
