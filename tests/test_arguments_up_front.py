"""Arguments that no trial could use are refused by ``tune`` / ``optimize`` / ``Study`` before any
trial runs (naming the parameter, the value and what is allowed), and a refused call leaves a
stored study as it was."""

from __future__ import annotations

import sqlite3

import pytest
from ignite.engine import Events

import torchsearch as ts
from torchsearch.exceptions import ContractError, StorageError, TrialError
from torchsearch.pruners import ASHA
from torchsearch.schedulers import PBT, Random
from tests.models import TinyRegression

SPACE = {"lr": ts.Float(0.01, 0.1, log=True)}


def _tune(**kw):
    args = dict(scheduler=Random(seed=0), metric="mse", mode="min", epochs=1, n_trials=2, verbose=False)
    args.update(kw)
    return ts.tune(TinyRegression, SPACE, **args)


@pytest.mark.parametrize("kw, match", [
    ({"mode": None}, r"tune: mode must be 'min' or 'max', got mode=None"),
    ({"mode": "minimize"}, r"got mode='minimize'"),
    ({"metric": None}, r"tune: metric must be the name of a metric validation_step returns .* got metric=None"),
    ({"metric": ""}, r"got metric=''"),
    ({"eval_every": 0}, r"tune: eval_every must be an int >= 1, got eval_every=0"),
])
def test_tune_refuses_a_missing_mode_or_metric_and_a_zero_eval_every(kw, match):
    with pytest.raises(ValueError, match=match):
        _tune(**kw)


def test_optimize_refuses_mode_none():
    with pytest.raises(ValueError, match=r"optimize: mode must be 'min' or 'max', got mode=None"):
        ts.optimize(lambda p: p["lr"], SPACE, n_trials=1, mode=None)


@pytest.mark.parametrize("handlers", [3, "patience", [5], [(Events.EPOCH_COMPLETED,), 1]])
def test_tune_refuses_handlers_no_trial_could_attach(handlers):
    with pytest.raises(TypeError, match=r"tune: (handlers must be a list|each of handlers must be)"):
        _tune(handlers=handlers)


def test_a_handlers_factory_returning_no_list_stops_the_study_at_its_first_trial():
    # a programming error: it fails fast (one trial, interrupted) instead of failing every trial
    with pytest.raises(ContractError, match=r"must return a list of handlers .* got 5"):
        _tune(handlers=lambda: 5, n_trials=5)


def test_report_names_a_metric_that_is_not_a_number():
    study = ts.Study(space=SPACE, metric="acc", mode="max", verbose=False)
    trial = study.ask()
    with pytest.raises(TrialError, match=r"metric 'acc' must be a number .* got acc='high' at step 1"):
        trial.report({"acc": "high"}, 1)


def test_storage_of_the_wrong_type_is_named():
    with pytest.raises(TypeError, match=r"storage must be a folder .* got storage=3"):
        _tune(storage=3)


def test_load_module_of_an_unknown_trial_names_the_study_and_its_trials():
    study = _tune()
    with pytest.raises(StorageError, match=r"load_module: study 'TinyRegression' has no trial 99 "
                                           r"\(its trials are numbered 0-1\)"):
        study.load_module(TinyRegression, 99)


def _row(path):
    with sqlite3.connect(path / "study.db") as db:
        return db.execute("SELECT scheduler, ended, end_reason, seed FROM studies").fetchall()


def test_reopening_with_another_seed_is_refused_and_the_study_is_kept(tmp_path):
    _tune(storage=tmp_path, seed=1)
    before = _row(tmp_path)
    with pytest.raises(StorageError, match=r"created with seed=1, got seed=2: .* give another name=\.\.\. "):
        _tune(storage=tmp_path, seed=2, n_trials=3)
    assert _row(tmp_path) == before
    assert len(_tune(storage=tmp_path, n_trials=3).trials) == 3  # no seed: it continues with its own


def test_pbt_on_a_study_stored_with_a_pruner_says_the_pruner_is_stored_and_touches_nothing(tmp_path):
    _tune(storage=tmp_path, epochs=3, pruner=ASHA())
    before = _row(tmp_path)
    with pytest.raises((TypeError, ValueError), match=r"study 'TinyRegression' is stored with pruner ASHA\(.*a "
                                                      r"study keeps its pruner: .*another study name"):
        _tune(storage=tmp_path, epochs=3, scheduler=PBT(population=2, interval=1), n_trials=4)
    assert _row(tmp_path) == before


def test_random_refuses_a_sobol_flag_that_is_not_a_bool():
    with pytest.raises(TypeError, match=r"Random: sobol must be True or False, got sobol='yes'"):
        Random(sobol="yes")


def test_load_study_given_the_database_file_names_its_folder(tmp_path):
    _tune(storage=tmp_path)
    with pytest.raises(StorageError, match=r"is the study database file, not its storage folder: pass the folder"):
        ts.load_study(tmp_path / "study.db")
    with pytest.raises(StorageError, match=r"no study named 'X' .* to create it, use ts.Study\(space=\.\.\."):
        ts.load_study(tmp_path, name="X")


def test_pbt_whose_interval_no_trial_reaches_warns_that_nobody_will_exploit():
    with pytest.warns(UserWarning, match=r"PBT\(interval=5\) decides every 5 evaluations, and a trial of epochs=2 "
                                         r"\(eval_every=1\) has 2: no member will ever exploit"):
        _tune(scheduler=PBT(population=2, interval=5, seed=0), epochs=2, n_trials=2)


def test_pbt_with_an_interval_trials_reach_does_not_warn(recwarn):
    _tune(scheduler=PBT(population=2, interval=1, seed=0), epochs=2, n_trials=2)
    assert not [w for w in recwarn if "no member will ever exploit" in str(w.message)]
