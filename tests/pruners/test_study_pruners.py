"""Pruners inside a study: tune(pruner=), Study(pruner=) with ask/tell, both executors,
promotion that resumes exactly where the trial paused, the study's end, and resuming a study."""

from __future__ import annotations

import pytest

import torchsearch as ts
from torchsearch._jobs import TrainJob
from torchsearch.pruners import ASHA, Hyperband, Median
from torchsearch.schedulers import PBT, Bayes, Grid, Random
from torchsearch.schedulers.tpe import TPE
from tests.models import TinyRegression

SPACE = {"lr": ts.Float(1e-3, 0.3, log=True)}


def run(pruner, n_trials=9, epochs=9, **kw):
    kw.setdefault("scheduler", Random(seed=0))
    return ts.tune(TinyRegression, SPACE, pruner=pruner, metric="mse", mode="min", epochs=epochs,
                   n_trials=n_trials, seed=0, verbose=False, **kw)


def curves(study):
    return {t.number: t.metrics["mse"] for t in study.trials}


@pytest.fixture(scope="module")
def unpruned():
    """The same trials (same params, same seeds) trained in full: what a resumed trial must match."""
    return curves(run(None))


def check_promotions_resume_exactly(study, unpruned):
    """Every trial's reports are those of its uninterrupted twin, step for step: a promoted trial
    resumed exactly where it paused (weights, optimiser, data order)."""
    for t in study.trials:
        mine = t.metrics["mse"]
        assert sorted(mine) == list(range(1, max(mine) + 1)), f"trial {t.number} trained an epoch twice or skipped one"
        for step, v in mine.items():
            assert v == pytest.approx(unpruned[t.number][step], rel=1e-6), (t.number, step)


def test_asha_promotes_by_resuming_and_prunes_the_rest_with_a_reason(unpruned):
    study = run(ASHA())
    trials = study.trials
    assert len(trials) == 9 and all(t.state in ("completed", "stopped") for t in trials)
    pruned = [t for t in trials if t.stop_code == "pruned"]
    assert pruned and all(t.state == "stopped" and t.stop_reason.startswith("ASHA: mse ") for t in pruned)
    reached = {t.number: max(t.metrics["mse"]) for t in trials}
    assert max(reached.values()) == 9  # someone trained in full ...
    assert sum(reached.values()) < 9 * 9 / 2  # ... for far fewer epochs than full training
    assert any(reached[t.number] > 1 and t.stop_code == "pruned" for t in trials)  # paused at a higher rung
    check_promotions_resume_exactly(study, unpruned)
    # the best trial is among the completed, and its value counts like any trial's
    assert study.best_trial.value == min(t.value for t in trials)


def test_asha_stop_variant_and_hyperband_and_median_prune_in_a_study(unpruned):
    for pruner, name in ((ASHA(promote=False), "ASHA: "), (Hyperband(), "Hyperband bracket "), (Median(min_trials=2), "Median: ")):
        study = run(pruner)
        pruned = [t for t in study.trials if t.stop_code == "pruned"]
        assert pruned and all(t.stop_reason.startswith(name) for t in pruned), pruner.describe()
        assert len(study.trials) == 9
        check_promotions_resume_exactly(study, unpruned)


def test_processes_executor_promotes_the_same_way(unpruned):
    study = run(ASHA(), workers=2)
    assert len(study.trials) == 9
    assert any(t.stop_code == "pruned" for t in study.trials)
    assert max(max(t.metrics["mse"]) for t in study.trials) == 9
    check_promotions_resume_exactly(study, unpruned)


@pytest.mark.parametrize("scheduler", [Grid(points=9), Random(sobol=True, seed=1), Bayes(seed=1, n_startup=3),
                                       TPE(seed=1, n_startup=3)], ids=["grid", "sobol", "bayes", "tpe"])
def test_every_scheduler_takes_a_pruner(scheduler):
    study = run(Hyperband(), n_trials=8, scheduler=scheduler)
    assert len(study.trials) == 8
    assert all(t.state in ("completed", "stopped") for t in study.trials)
    if isinstance(scheduler, (TPE,)):
        assert scheduler.rungs == [1, 3]  # told the rungs: it learns from them


def test_epoch_budget_keeps_its_meaning_with_pauses():
    study = run(ASHA(), n_trials=None, epoch_budget=40)
    trained = sum(max(t.metrics["mse"]) for t in study.trials)
    assert trained == 40 and study.end_reason == "epoch budget of 40 epochs exhausted"
    assert all(t.state != "paused" for t in study.trials)


def test_ask_tell_trials_are_only_stopped_never_paused():
    study = ts.Study(space={"x": ts.Float(0, 1)}, mode="min", pruner=ASHA(max_epochs=9), seed=0, verbose=False)
    seen = []
    for _ in range(6):
        trial = study.ask()
        for epoch in range(1, 10):
            decision = trial.report({"value": trial.params["x"] + 1 / epoch}, step=epoch)
            seen.append(decision.action)
            if decision.action == "stop":
                break
        study.tell(trial)
    assert "pause" not in seen and "stop" in seen
    assert {t.stop_code for t in study.trials if t.state == "stopped"} == {"pruned"}


def test_bad_pruner_arguments_are_refused_naming_them():
    with pytest.raises(ValueError, match=r"optimize: a pruner compares trials at their epochs"):
        ts.optimize(lambda p: p["x"], {"x": ts.Float(0, 1)}, n_trials=2, pruner=ASHA(max_epochs=9))
    with pytest.raises(ValueError, match=r"PBT replaces its weak members itself .* got pruner=Median"):
        ts.Study(space=SPACE, scheduler=PBT(population=2), pruner=Median(), verbose=False)
    with pytest.raises(ValueError, match=r"ASHA needs max_epochs .*got max_epochs=None"):
        ts.Study(space=SPACE, pruner=ASHA(), verbose=False)
    with pytest.raises(TypeError, match=r"Study: pruner must be a torchsearch.pruners.Pruner .*got pruner='asha'"):
        ts.Study(space=SPACE, pruner="asha", verbose=False)
    # a pruner whose horizon is shorter than the trials: they would train past its last rung unjudged
    with pytest.raises(ValueError, match=r"Study: ASHA\(max_epochs=9\) is below the study's epochs=27: every trial "
                                         r"would train past the pruner's last rung"):
        run(ASHA(max_epochs=9), epochs=27)
    assert ts.Study(space=SPACE, pruner=Hyperband(max_epochs=81), epochs=27, verbose=False).pruner.max_epochs == 81


def test_a_study_interrupted_while_trials_wait_at_rungs_resumes_them_from_their_durable_states(tmp_path, unpruned):
    calls = []
    inner = TrainJob(TinyRegression, epochs=9, seed=0, metric="mse", mode="min")

    def job(trial):
        calls.append(trial.number)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return inner(trial)

    study = ts.Study(space=SPACE, scheduler=Random(seed=0), metric="mse", mode="min", storage=tmp_path, seed=0,
                     verbose=False, pruner=ASHA(), epochs=9)
    with pytest.raises(KeyboardInterrupt):
        study.run(job, n_trials=9)
    paused = [t.number for t in study.trials if t.state == "paused"]
    assert paused  # waiting at rung 1 when Ctrl+C came
    del study
    again = ts.Study(space=SPACE, scheduler=Random(seed=0), metric="mse", mode="min", storage=tmp_path, seed=0,
                     verbose=False, pruner=ASHA(), epochs=9)
    rebuilt = again.pruner
    assert sorted(rebuilt.paused()) == sorted(paused)  # the rungs came back from the stored reports
    again.run(inner, n_trials=9)
    trials = again.trials
    assert sum(t.state in ("completed", "stopped", "failed") for t in trials) == 9
    for t in trials:
        if t.state == "interrupted":
            continue
        assert sorted(t.metrics["mse"]) == list(range(1, max(t.metrics["mse"]) + 1))
    for number in paused:  # resumed from its kept state, or ended pruned at its rung
        t = trials[number]
        assert t.state in ("completed", "stopped")
        for step, v in t.metrics["mse"].items():
            assert v == pytest.approx(unpruned[number][step], rel=1e-6)
