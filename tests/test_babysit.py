"""Working with a study by hand: reopen it (``ts.load_study``, ``Study`` without a space), queue
trials of your own (``study.enqueue``), note on trials (``study.note``), and the small things a
person meets on the way (one name for the study's name, a failed trial's progress line, a rerun
with nothing to do, ``stop_code`` when nothing stopped the run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import torchsearch as ts
from tests.models import TinyRegression
from torchsearch.schedulers import Grid, Random

ROOT = Path(__file__).resolve().parents[1]
SPACE = {"x": ts.Float(0.0, 1.0), "k": ts.Int(1, 5), "c": ts.Choice(["a", "b"])}


def objective(p):
    return (p["x"] - 0.3) ** 2 + 0.1 * p["k"] + (0.5 if p["c"] == "b" else 0.0)


@pytest.fixture
def stored(tmp_path):
    ts.optimize(objective, SPACE, scheduler=Random(seed=0), n_trials=6, storage=tmp_path, name="first", seed=7)
    return tmp_path


def test_load_study_reopens_space_metric_mode_and_seed_and_reads_without_a_trial_module(stored):
    old = ts.load_study(stored)
    assert (old.name, old.metric, old.mode, old.seed) == ("first", "value", "min", 7)
    assert old.space == ts.Space(SPACE)
    assert len(old.trials) == 6 and old.best_trial.value == min(t.value for t in old.trials)
    zoomed = ts.zoom(old, top=0.5)
    assert set(zoomed) == set(SPACE)
    assert set(ts.importance(old)) == set(SPACE)
    same = ts.Study(storage=stored, name="first", verbose=False)  # the constructor reopens the same way
    assert same.space == old.space and [t.params for t in same.trials] == [t.params for t in old.trials]
    pytest.importorskip("matplotlib")
    from torchsearch import plot

    assert plot.best_so_far(old).axes and plot.importance(old).axes


def test_reading_a_reopened_study_leaves_its_stored_end_as_it_was(stored):
    from torchsearch.storage import Storage

    def row():
        st = Storage(stored, readonly=True)
        try:
            return {k: st.list_studies()[0][k] for k in ("ended", "end_reason")}
        finally:
            st.close()

    before = row()
    assert before["end_reason"] == "n_trials=6 reached"
    old = ts.load_study(stored)
    old.trials, old.best_trial, old.note(0, "looked"), old.enqueue({"x": 0.5})
    assert row() == before
    old.run(lambda trial: objective(trial.params), n_trials=6)  # runs the queued trial: ended again
    assert row()["end_reason"] == "n_trials=6 reached" and row()["ended"] > before["ended"]


def test_load_study_names_the_studies_when_it_cannot_pick_one(stored, tmp_path):
    ts.optimize(objective, SPACE, n_trials=1, storage=stored, name="second", seed=0)
    with pytest.raises(ts.StorageError, match=r"holds several studies \('first', 'second'\): pick one with name="):
        ts.load_study(stored)
    with pytest.raises(ts.StorageError, match=r"no study named 'third' in the storage .* \(its studies: 'first', "
                                              r"'second'\); to create it, use ts.Study\(space=\.\.\."):
        ts.load_study(stored, "third")
    assert ts.load_study(stored, "second").name == "second"
    with pytest.raises(ts.StorageError, match=r"load_study: no torchsearch storage at .*nowhere"):
        ts.load_study(tmp_path / "nowhere")
    with pytest.raises(ts.StorageError, match=r"no torchsearch storage at .*nowhere.*give space=\.\.\. to create"):
        ts.Study(storage=tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()  # reopening never creates a folder
    with pytest.raises(ts.StorageError, match=r"holds no study yet: give space=\.\.\. to create one"):
        ts.Study()  # in memory there is nothing to reopen


def test_a_reopened_study_continues_with_the_stored_space_and_name(stored):
    old = ts.load_study(stored)
    again = ts.optimize(objective, old.space, storage=stored, name=old.name, n_trials=9, seed=old.seed)
    assert len(again.trials) == 9 and [t.number for t in again.trials] == list(range(9))


HOLDER = """
import sys, torchsearch as ts
study = ts.Study(space={"x": ts.Float(0, 1)}, metric="v", mode="min", storage=sys.argv[1], name="held",
                 verbose=False)
trial = study.ask()
print("ready", flush=True)
sys.stdin.readline()
study.tell(trial, 0.5)
"""


def test_a_study_another_process_runs_opens_for_reading_noting_and_queueing_but_not_running(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        old = ts.load_study(tmp_path, verbose=False)
        assert [t.state for t in old.trials] == ["running"]  # its trial, left as the owner has it
        old.note(0, "watching it run")
        old.enqueue({"x": 0.125})
        assert [q["params"] for q in old.queued()] == [{"x": 0.125}]
        with pytest.raises(ts.TorchSearchError, match=r"is being run by another coordinator"):
            old.run(lambda trial: 0.0, n_trials=2)
        assert [t.state for t in ts.load_study(tmp_path).trials] == ["running"]  # not marked interrupted
    finally:
        out, err = proc.communicate("\n", timeout=60)
    assert proc.returncode == 0, err
    done = ts.load_study(tmp_path)
    assert [n["text"] for n in done.trials[0].notes] == ["watching it run"]


def test_queued_trials_run_first_in_order_and_record_that_they_were_queued(stored):
    old = ts.load_study(stored)
    assert old.enqueue({"c": "b", "x": 0.5, "k": 2}) == {"x": 0.5, "k": 2, "c": "b"}  # in the space's order
    old.enqueue({"x": 0.25, "k": 1, "c": "a"})
    again = ts.optimize(objective, old.space, storage=stored, name="first", n_trials=9)
    new = again.trials[6:]
    assert [t.params for t in new[:2]] == [{"x": 0.5, "k": 2, "c": "b"}, {"x": 0.25, "k": 1, "c": "a"}]
    assert [t.queued for t in again.trials] == [False] * 6 + [True, True, False]
    assert old.queued() == []


def test_a_partly_queued_trial_is_filled_in_by_the_scheduler(stored):
    old = ts.load_study(stored)
    old.enqueue({"c": "b"})
    again = ts.optimize(objective, old.space, storage=stored, name="first", n_trials=7)
    t = again.trials[6]
    assert t.queued and t.params["c"] == "b" and ts.Space(SPACE).validate(t.params) == t.params


def test_queued_trials_run_even_when_n_trials_is_already_reached(stored, capsys):
    old = ts.load_study(stored)
    old.enqueue({"x": 0.3, "k": 1, "c": "a"})
    again = ts.optimize(objective, old.space, storage=stored, name="first", n_trials=6)
    assert len(again.trials) == 7 and again.trials[6].queued and again.best_trial.number == 6


def test_queued_trials_run_after_a_grid_is_spent_and_through_ask(tmp_path):
    study = ts.Study(space={"x": ts.Choice([0, 1])}, scheduler=Grid(), storage=tmp_path, verbose=False)
    study.run(lambda trial: float(trial.params["x"]))
    study.enqueue({"x": 1})
    study.run(lambda trial: float(trial.params["x"]))  # the grid has nothing more; the queued trial runs
    assert [(t.params["x"], t.queued) for t in study.trials] == [(0, False), (1, False), (1, True)]
    study.enqueue({"x": 0})
    trial = study.ask()
    assert trial.params == {"x": 0}
    study.tell(trial, 0.0)
    assert study.trials[-1].queued


def test_enqueue_refuses_unknown_parameters_and_values_outside_the_space(stored):
    old = ts.load_study(stored)
    with pytest.raises(ts.SpaceError, match=r"enqueue: unknown parameter 'y' \(given 1\); the space's parameters "
                                            r"are x, k, c"):
        old.enqueue({"y": 1})
    with pytest.raises(ts.SpaceError, match=r"enqueue: Int 'k': 9 is not allowed; it must be an integer in \[1, 5\]"):
        old.enqueue({"k": 9})
    with pytest.raises(ts.SpaceError, match=r"enqueue: Choice 'c': 'z' is not allowed; it must be one of \"a\", \"b\""):
        old.enqueue({"c": "z"})
    assert old.queued() == []


def test_notes_are_kept_per_trial_with_their_time(stored):
    old = ts.load_study(stored)
    first = old.note(2, "k=5 is too slow")
    old.note(2, "confirmed")
    assert first["trial"] == 2 and first["time"] > 0
    assert [n["text"] for n in old.trials[2].notes] == ["k=5 is too slow", "confirmed"]
    assert old.trials[1].notes == []
    with pytest.raises(ts.StorageError, match=r"note: the study has no trial 40 \(trials 0 to 5\)"):
        old.note(40, "?")
    with pytest.raises(ValueError, match=r"note: text must be a non-empty string, got text=''"):
        old.note(1, "")


def test_the_study_name_is_name_everywhere_and_study_name_still_works(tmp_path):
    assert ts.optimize(objective, SPACE, n_trials=1, storage=tmp_path, name="a").name == "a"
    assert ts.optimize(objective, SPACE, n_trials=1, storage=tmp_path, study_name="b").name == "b"
    with pytest.raises(ValueError, match=r"optimize: name='a' and study_name='b' are the same argument"):
        ts.optimize(objective, SPACE, n_trials=1, storage=tmp_path, name="a", study_name="b")
    with pytest.raises(ValueError, match=r"tune: name='a' and study_name='b' are the same argument"):
        ts.tune(TinyRegression, {"lr": ts.Float(0.01, 0.1)}, metric="mse", mode="min", epochs=1, n_trials=1,
                name="a", study_name="b")
    study = ts.tune(TinyRegression, {"lr": ts.Float(0.01, 0.1)}, metric="mse", mode="min", epochs=1, n_trials=1,
                    storage=tmp_path, name="tiny", verbose=False)
    assert study.name == "tiny" and ts.load_study(tmp_path, "tiny").metric == "mse"


def test_the_progress_line_of_a_failed_trial_shows_its_error_not_a_value(capsys):
    study = ts.Study(space={"x": ts.Float(0, 1)}, metric="v", mode="min", verbose=True)
    trial = study.ask()
    trial.report({"v": 0.25}, step=1)
    study.tell(trial, error=RuntimeError("CUDA out of memory\nmore lines"))
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "trial 0 failed: RuntimeError: CUDA out of memory |" in line and "v=0.25" not in line


def test_a_rerun_with_nothing_left_to_do_says_so(stored, capsys):
    ts.optimize(objective, SPACE, storage=stored, name="first", n_trials=6, verbose=True)
    err = capsys.readouterr().err
    assert "[first] nothing to run: n_trials=6 reached (6 trials finished before); raise n_trials" in err
    ts.optimize(objective, SPACE, storage=stored, name="first", n_trials=7, verbose=True)
    assert "nothing to run" not in capsys.readouterr().err


def test_stop_code_is_none_when_nothing_stopped_the_run():
    trainer = ts.Trainer(TinyRegression({"lr": 0.01}))
    trainer.fit(1)
    assert trainer.train_engine.state.stop_code is None and trainer.train_engine.state.stop_reason is None
    assert trainer.stop_code is None
