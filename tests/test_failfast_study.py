"""Fail fast through tune(): a programming error stops the study at its first trial, with a hint,
and the trial does not count; errors that depend on the hyperparameters fail only their trial."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import torchsearch as ts
from torchsearch.exceptions import ContractError, TrialError
from torchsearch.schedulers import Grid
from tests.models import TinyRegression

ROOT = Path(__file__).resolve().parent.parent
SPACE = {"lr": ts.Float(0.01, 0.1, log=True)}


class NoOptimizer(TinyRegression):
    def setup(self, hp):
        super().setup(hp)
        self.optimizer = None


class MissingKey(TinyRegression):
    def setup(self, hp):
        super().setup(hp)
        self.p = hp["dropout"]


class SomeBad(TinyRegression):
    """A KeyError only for one value of ``act``: an error that depends on the hyperparameters."""

    def setup(self, hp):
        if hp["act"] == "bad":
            raise KeyError("dropout")
        super().setup(hp)


class NanLoss(TinyRegression):
    def training_step(self, batch):
        return super().training_step(batch) * float("nan")


def _states(study):
    return [t.state for t in study.trials]


def test_a_setup_that_forgets_the_optimizer_stops_the_study_at_the_first_trial_and_it_reruns_after_the_fix(tmp_path):
    with pytest.raises(ContractError, match=r"setup\(hp\) must set optimizer") as info:
        ts.tune(NoOptimizer, SPACE, metric="mse", mode="min", epochs=1, n_trials=3, seed=0, storage=tmp_path,
                study_name="s", verbose=False)
    notes = "\n".join(info.value.__notes__)
    assert "trial 0 failed" in notes and "self.optimizer" in notes and "does not count towards n_trials" in notes
    reopened = ts.tune(TinyRegression, SPACE, metric="mse", mode="min", epochs=1, n_trials=3, seed=0,
                       storage=tmp_path, study_name="s", verbose=False)
    # the interrupted first trial ran again first; the three trials asked for all ran after the fix
    assert _states(reopened) == ["interrupted", "completed", "completed", "completed"]
    assert reopened.trials[1].params == reopened.trials[0].params


def test_a_wrong_metric_name_stops_the_study_with_the_reported_names():
    with pytest.raises(TrialError, match=r"the study metric 'acc' is not among the reported metrics \[.mse., .n.\]") as info:
        ts.tune(TinyRegression, SPACE, metric="acc", mode="max", epochs=2, n_trials=3, seed=0, verbose=False)
    assert "metric= must name one of the metrics" in "\n".join(info.value.__notes__)


def test_a_missing_space_key_stops_the_study_naming_the_key():
    with pytest.raises(KeyError) as info:
        ts.tune(MissingKey, SPACE, metric="mse", mode="min", epochs=1, n_trials=3, seed=0, verbose=False)
    assert "no key 'dropout'" in "\n".join(info.value.__notes__)


def test_once_a_trial_has_a_value_a_programming_error_fails_only_its_trial():
    space = {"lr": ts.Float(0.01, 0.1), "act": ts.Choice(["good", "bad"])}
    study = ts.tune(SomeBad, space, scheduler=Grid(points=1), metric="mse", mode="min", epochs=1, seed=0,
                    verbose=False)
    assert _states(study) == ["completed", "failed"]
    assert study.trials[1].error == "KeyError: 'dropout'"


def test_errors_that_depend_on_the_hyperparameters_fail_only_their_trial():
    study = ts.tune(NanLoss, SPACE, metric="mse", mode="min", epochs=1, n_trials=2, seed=0, verbose=False)
    assert _states(study) == ["failed", "failed"]


def test_a_programming_error_in_a_worker_process_stops_the_study_with_the_workers_traceback(tmp_path):
    with pytest.raises(KeyError) as info:
        ts.tune(MissingKey, SPACE, metric="mse", mode="min", epochs=1, n_trials=4, seed=0, workers=2,
                storage=tmp_path, verbose=False)
    notes = "\n".join(info.value.__notes__)
    assert "no key 'dropout'" in notes and "The traceback in the worker process" in notes
    assert 'self.p = hp["dropout"]' in notes  # the worker's traceback, down to the line
    from torchsearch.storage import Storage

    st = Storage(tmp_path, readonly=True)
    (row,) = st.list_studies()
    # neither the failed trial nor the one running beside it counts towards n_trials
    assert [t.state for t in st.trials(row["id"])] == ["interrupted", "interrupted"]


def _script(tmp_path: Path, guarded: bool) -> subprocess.CompletedProcess:
    call = textwrap.dedent("""
        study = ts.tune(TinyRegression, {"lr": ts.Float(0.01, 0.1)}, metric="mse", mode="min", epochs=1,
                        n_trials=2, workers=2, seed=0, storage=STORE, verbose=False)
        print("states", [t.state for t in study.trials])
    """)
    body = "import torchsearch as ts\nfrom tests.models import TinyRegression\nSTORE = %r\n" % str(tmp_path / "runs")
    if guarded:
        body += 'if __name__ == "__main__":\n' + textwrap.indent(call, "    ")
    else:
        body += call
    script = tmp_path / "study_script.py"
    script.write_text(body)
    # keep an existing PYTHONPATH (a machine that provides pytorch-ignite that way, such as the GPU image)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240, env=env,
                          cwd=tmp_path)


def test_a_script_without_the_main_guard_under_workers_stops_at_once_with_the_guard_as_hint(tmp_path):
    out = _script(tmp_path, guarded=False)
    assert out.returncode != 0
    assert 'outside an `if __name__ == "__main__":` block' in out.stderr, out.stderr[-3000:]
    assert "exited with code" not in out.stderr
    # no trial was started (and so none counts)
    db = tmp_path / "runs" / "study.db"
    if db.exists():
        from torchsearch.storage import Storage

        st = Storage(tmp_path / "runs", readonly=True)
        assert all(s["n_trials"] == 0 for s in st.list_studies())


def test_the_same_script_with_the_guard_runs(tmp_path):
    out = _script(tmp_path, guarded=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "states ['completed', 'completed']" in out.stdout


def test_optimize_fails_fast_on_a_missing_key_and_not_on_a_value_error():
    with pytest.raises(KeyError) as info:
        ts.optimize(lambda p: p["y"] ** 2, {"x": ts.Float(0, 1)}, n_trials=3)
    assert "no key 'y'" in "\n".join(info.value.__notes__)

    def picky(p):
        raise ValueError(f"x={p['x']} is not supported")

    study = ts.optimize(picky, {"x": ts.Float(0, 1)}, n_trials=3)
    assert _states(study) == ["failed"] * 3


def test_an_objective_that_returns_no_number_stops_optimize_at_once():
    # a missing ``return``: every trial would fail the same way
    with pytest.raises(ContractError, match=r"objective must return a number \(the value to optimise\), got None \(NoneType\)"):
        ts.optimize(lambda p: None, {"x": ts.Float(0, 1)}, n_trials=5)
    calls = []

    def sometimes(p):  # once a trial has a value, the same error fails only its trial
        calls.append(p)
        return p["x"] if len(calls) == 1 else "n/a"

    study = ts.optimize(sometimes, {"x": ts.Float(0, 1)}, n_trials=3)
    assert _states(study) == ["completed", "failed", "failed"]
    assert "got 'n/a' (str)" in study.trials[1].error


def test_a_manual_tell_records_a_programming_error_as_a_failed_trial():
    # ask/tell: the caller decides; fail fast belongs to run() (tune, optimize)
    study = ts.Study(space=SPACE, metric="mse", mode="min", verbose=False)
    trial = study.ask()
    assert study.tell(trial, error=NameError("name 'nn' is not defined")).state == "failed"


def test_a_wrong_metric_name_under_workers_stops_the_study_too(tmp_path):
    # the coordinator refuses the worker's report; the worker ends the trial with that error
    with pytest.raises(TrialError, match=r"the study metric 'acc' is not among the reported metrics \['mse', 'n'\]"):
        ts.tune(TinyRegression, SPACE, metric="acc", mode="max", epochs=2, n_trials=3, seed=0, workers=2,
                verbose=False)
