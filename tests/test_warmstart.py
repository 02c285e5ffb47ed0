"""Warm start: earlier trials teach a new study's scheduler before it suggests anything."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

import torchsearch as ts
from torchsearch._record import Trial
from torchsearch._warmstart import observations
from torchsearch.schedulers import PBT, TPE, Bayes, Grid, Random
from torchsearch.space import Space
from torchsearch.storage import Storage

OPT = (0.3, 0.7)


def bowl(p: dict) -> float:
    return (p["x"] - OPT[0]) ** 2 + (p["y"] - OPT[1]) ** 2


SPACE = Space({"x": ts.Float(0.0, 1.0), "y": ts.Float(0.0, 1.0)})


def _known(n: int = 24, seed: int = 5) -> list[tuple[dict, float]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        p = {"x": float(rng.random()), "y": float(rng.random())}
        out.append((p, bowl(p)))
    return out


def _distance(p: dict) -> float:
    return math.hypot(p["x"] - OPT[0], p["y"] - OPT[1])


def _first(scheduler, warm=None):
    scheduler.setup(SPACE, mode="min", seed=0)
    if warm is not None:
        scheduler.warm_start(warm)
    return scheduler.suggest()


@pytest.mark.parametrize("make", [lambda: Bayes(n_startup=5, seed=0), lambda: TPE(n_startup=5, seed=0)],
                         ids=["Bayes", "TPE"])
def test_a_warm_started_model_scheduler_suggests_near_the_known_optimum_at_once(make):
    # the first suggestion comes from the model fitted to the earlier trials, not from the
    # start-up design a cold scheduler begins with, and lands near the optimum they point to
    warm = _known(48)
    first = _first(make(), warm)
    assert _distance(first) < 0.2, first
    assert first != _first(make())


def test_bayes_warm_start_counts_as_finished_trials_and_never_resuggests_them():
    warm = _known(12)
    b = Bayes(n_startup=5, seed=0)
    b.setup(SPACE, mode="min", seed=0)
    b.warm_start(warm)
    seen = {SPACE.key(p) for p, _ in warm}
    for number in range(4):
        p = b.suggest()
        assert SPACE.key(p) not in seen
        b.on_trial_start(number, p)
        b.on_complete(number, bowl(p), "completed")
    # the study's own trials (0, 1, ...) and the warm ones (-1, -2, ...) do not clash
    assert len(b._loss) == 12 + 4


def test_warm_start_in_max_mode_learns_that_higher_is_better():
    warm = [(p, -v) for p, v in _known()]  # the same bowl, as a value to maximise
    first = Bayes(n_startup=5, seed=0)
    first.setup(SPACE, mode="max", seed=0)
    first.warm_start(warm)
    assert _distance(first.suggest()) < 0.2


def test_random_ignores_a_warm_start():
    cold = Random(seed=3)
    cold.setup(SPACE, mode="min", seed=0)
    warm = Random(seed=3)
    warm.setup(SPACE, mode="min", seed=0)
    warm.warm_start(_known())
    assert [warm.suggest() for _ in range(5)] == [cold.suggest() for _ in range(5)]


def test_grid_and_pbt_ignore_a_warm_start():
    grid = Grid(points=3)
    grid.setup(SPACE, mode="min", seed=0)
    grid.warm_start([({"x": 0.0, "y": 0.0}, 1.0)])  # a grid point: still run (its result is not this study's)
    assert grid.suggest() == {"x": 0.0, "y": 0.0}
    pbt = PBT(population=2, interval=1, seed=0)
    pbt.setup(SPACE, mode="min", seed=0)
    pbt.warm_start(_known(4))
    assert pbt.suggest() is not None and pbt.suggest() is not None and pbt.suggest() is None


# -- which trials a source gives ---------------------------------------------------------------------

def _study(trials, metric="value", mode="min"):
    return SimpleNamespace(trials=trials, metric=metric, mode=mode, name="old")


def test_observations_keep_finished_trials_inside_the_new_space_only():
    narrow = Space({"x": ts.Float(0.2, 0.5), "y": ts.Float(0.0, 1.0)})
    trials = [
        Trial(0, "completed", {"x": 0.3, "y": 0.5}, value=1.0),
        Trial(1, "stopped", {"x": 0.4, "y": 0.5}, value=2.0),
        Trial(2, "completed", {"x": 0.9, "y": 0.5}, value=0.1),         # outside the zoomed range
        Trial(3, "failed", {"x": 0.3, "y": 0.6}, value=None),           # failed
        Trial(4, "completed", {"x": 0.3, "y": 0.6}, value=float("nan")),
        Trial(5, "interrupted", {"x": 0.3, "y": 0.6}, value=0.5),       # did not finish
        Trial(6, "completed", {"x": 0.3}, value=0.5),                   # a parameter missing
        Trial(7, "completed", {"x": 0.25, "y": 0.5, "old": 3}, value=4.0),  # a parameter dropped since
        Trial(8, "completed", {"x": 0.3, "y": 0.5}, value=3.0),         # seen twice: the mean
    ]
    obs, lines = observations(_study(trials), narrow, metric="value", mode="min")
    assert sorted((p["x"], p["y"], v) for p, v in obs) == [(0.25, 0.5, 4.0), (0.3, 0.5, 2.0), (0.4, 0.5, 2.0)]
    assert lines == ["study 'old': 4 of its 6 finished trials lie inside the space"]


def test_observations_refuse_a_source_with_another_metric_or_mode():
    trials = [Trial(0, "completed", {"x": 0.3, "y": 0.5}, value=1.0)]
    with pytest.raises(ValueError, match="optimises metric 'loss', this study 'accuracy'"):
        observations(_study(trials, metric="loss"), SPACE, metric="accuracy", mode="max")
    with pytest.raises(ValueError, match="mode='min', this study mode='max'"):
        observations(_study(trials, mode="min"), SPACE, metric="value", mode="max")
    with pytest.raises(TypeError, match="warm_start: expected a study"):
        observations(42, SPACE, metric="value", mode="min")


def _stored(path, name, points, mode="min"):
    st = Storage(path)
    sid = st.get_or_create_study(name, metric="value", mode=mode, space=SPACE.to_dict(), scheduler="x", seed=0)
    for p in points:
        n = st.add_trial(sid, p)
        st.update_trial(sid, n, state="completed", value=bowl(p))
    st.close()


def test_observations_from_a_storage_folder_and_a_list_of_sources(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _stored(a, "first", [{"x": 0.1, "y": 0.1}, {"x": 0.2, "y": 0.2}])
    _stored(b, "second", [{"x": 0.5, "y": 0.5}])
    obs, lines = observations([str(a), b], SPACE, metric="value", mode="min")
    assert sorted(p["x"] for p, _ in obs) == [0.1, 0.2, 0.5]
    assert len(lines) == 2 and "study 'first'" in lines[0] and "2 of its 2" in lines[0]
    with pytest.raises(ValueError, match="is not a torchsearch storage folder"):
        observations(tmp_path / "nowhere", SPACE, metric="value", mode="min")


def test_a_folder_with_several_studies_needs_the_name(tmp_path):
    _stored(tmp_path, "one", [{"x": 0.1, "y": 0.1}])
    _stored(tmp_path, "two", [{"x": 0.2, "y": 0.2}, {"x": 0.3, "y": 0.3}])
    with pytest.raises(ValueError, match=r"several studies \['one', 'two'\], none named 'three'"):
        observations(tmp_path, SPACE, metric="value", mode="min", name="three")
    obs, _ = observations(tmp_path, SPACE, metric="value", mode="min", name="two")
    assert len(obs) == 2


def test_a_study_does_not_warm_start_from_itself(tmp_path):
    _stored(tmp_path, "me", [{"x": 0.1, "y": 0.1}])
    obs, lines = observations(tmp_path, SPACE, metric="value", mode="min", name="me",
                              itself=(str(tmp_path.resolve()), "me"))
    assert obs == [] and "skipped (it is this study)" in lines[0]


def test_a_folder_shared_with_the_new_study_gives_its_other_study(tmp_path):
    # the new study is stored in the folder it warm-starts from: the folder's other study teaches it
    _stored(tmp_path, "old", [{"x": 0.1, "y": 0.1}, {"x": 0.2, "y": 0.2}])
    _stored(tmp_path, "zoomed", [])
    obs, lines = observations(tmp_path, SPACE, metric="value", mode="min", name="zoomed",
                              itself=(str(tmp_path.resolve()), "zoomed"))
    assert len(obs) == 2 and "study 'old'" in lines[0]
    _stored(tmp_path, "older", [{"x": 0.3, "y": 0.3}])
    with pytest.raises(ValueError, match=r"several studies besides this study 'zoomed' \['old', 'older'\]"):
        observations(tmp_path, SPACE, metric="value", mode="min", name="zoomed",
                     itself=(str(tmp_path.resolve()), "zoomed"))


def test_a_new_study_in_the_folder_it_warm_starts_from_learns_from_the_old_one(tmp_path):
    _first_study(tmp_path, n=6)
    new = ts.optimize(bowl, SPACE, scheduler=TPE(seed=0), n_trials=1, seed=0, storage=tmp_path,
                      warm_start=tmp_path, study_name="second")
    assert len(new.warm_observations) == 6


# -- through optimize() / tune() / Study ---------------------------------------------------------------

def _first_study(storage=None, n=24, seed=1):
    return ts.optimize(bowl, SPACE, scheduler=Random(seed=seed), n_trials=n, seed=seed, storage=storage,
                       study_name="first")


def test_optimize_warm_started_from_a_study_suggests_near_the_optimum_first():
    old = _first_study()
    new = ts.optimize(bowl, SPACE, scheduler=Bayes(n_startup=5, seed=0), n_trials=1, seed=0, warm_start=old)
    assert _distance(new.trials[0].params) < 0.2
    assert len(new.trials) == 1 and len(new.warm_observations) == 24  # taught, not copied in as trials
    cold = ts.optimize(bowl, SPACE, scheduler=Bayes(n_startup=5, seed=0), n_trials=1, seed=0)
    assert cold.trials[0].params != new.trials[0].params


def test_warm_start_from_a_storage_folder_and_a_list(tmp_path):
    _first_study(tmp_path / "a", n=6)
    _first_study(tmp_path / "b", n=5, seed=2)
    new = ts.optimize(bowl, SPACE, scheduler=TPE(seed=0), n_trials=2, seed=0,
                      warm_start=[str(tmp_path / "a"), tmp_path / "b"], study_name="first")
    assert len(new.warm_observations) == 11 and len(new.trials) == 2


def test_a_zoomed_space_takes_only_the_trials_inside_it(capsys):
    old = _first_study()
    narrow = ts.zoom(old, top=0.25)
    inside = [t for t in old.trials if all(narrow[k].contains(v) for k, v in t.params.items())]
    new = ts.Study(space=narrow, scheduler=Bayes(seed=0), metric="value", mode="min", name="zoomed",
                   warm_start=old, verbose=True)
    assert len(new.warm_observations) == len(inside) < 24
    assert f"warm start: study 'first': {len(inside)} of its 24 finished trials lie inside the space" in \
        capsys.readouterr().err


def test_random_runs_warm_started_exactly_as_cold():
    old = _first_study()
    warm = ts.optimize(bowl, SPACE, scheduler=Random(seed=0), n_trials=4, seed=0, warm_start=old)
    cold = ts.optimize(bowl, SPACE, scheduler=Random(seed=0), n_trials=4, seed=0)
    assert [t.params for t in warm.trials] == [t.params for t in cold.trials]


def test_tune_takes_warm_start(tmp_path):
    from tests.models import TinyRegression

    space = {"lr": ts.Float(0.01, 0.1, log=True)}
    first = ts.tune(TinyRegression, space, metric="mse", mode="min", epochs=1, n_trials=3, seed=0,
                    storage=tmp_path, verbose=False)
    second = ts.tune(TinyRegression, space, scheduler=TPE(seed=0), metric="mse", mode="min", epochs=1, n_trials=1,
                     seed=0, storage=tmp_path, study_name="second", warm_start=first, verbose=False)
    assert len(second.warm_observations) == 3 and len(second.trials) == 1
    with pytest.raises(ValueError, match="warm_start: study 'TinyRegression' .* has mode='min', this study mode='max'"):
        ts.tune(TinyRegression, space, metric="mse", mode="max", epochs=1, n_trials=1, warm_start=first,
                verbose=False)
