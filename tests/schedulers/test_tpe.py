"""TPE: learns (beats its own start-up sequence), finds categorical, integer and log-scale
optima, keeps parallel workers apart, leaves failed trials out, never repeats a point, is
reproducible, resumes from storage, and checks its arguments."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

import torchsearch as ts
from torchsearch.schedulers import TPE
from torchsearch.space import Space

QUAD = {"x": ts.Float(-5.0, 5.0), "y": ts.Float(-5.0, 5.0)}


def quad(p):
    return (p["x"] - 1.7) ** 2 + 2 * (p["y"] + 2.3) ** 2


MIXED = Space({
    "lr": ts.Float(1e-4, 1.0, log=True),
    "x": ts.Float(-2.0, 2.0),
    "layers": ts.Int(1, 9, step=2),
    "width": ts.Int(8, 1000, log=True),
    "big": ts.Int(0, 5000),
    "bs": ts.PowerOfTwo(8, 256),
    "act": ts.Choice(["relu", "tanh", "elu"]),
    "flag": ts.Choice([True, False]),
})


def mixed_objective(p):
    return ((p["x"] - 0.3) ** 2 + (math.log10(p["lr"]) + 2) ** 2 + (p["layers"] - 5) ** 2 / 10
            + (math.log2(p["width"]) - 6) ** 2 / 10 + (math.log2(p["bs"]) - 5) ** 2 / 10
            + (p["big"] - 1234) ** 2 / 1e7 + {"relu": 0.5, "tanh": 0.0, "elu": 1.0}[p["act"]] + 0.2 * p["flag"])


def drive(sch, space, fn, n, *, mode="min", seed=None):
    """Run the protocol one trial at a time, as the study does; returns [(params, value)]."""
    sch.setup(Space(space), mode=mode, seed=seed)
    out = []
    for i in range(n):
        p = sch.suggest()
        if p is None:
            break
        sch.on_trial_start(i, p)
        v = fn(p)
        failed = v is None or (isinstance(v, float) and math.isnan(v))
        sch.on_complete(i, v, "failed" if failed else "completed")
        out.append((p, v))
    return out


def best(trials):
    return min(v for _, v in trials if v is not None and not math.isnan(v))


def test_tpe_beats_its_own_startup_sequence_on_a_quadratic_over_ten_seeds():
    # n_startup=40 hands out the same start-up (scrambled Sobol) points for all 40 trials
    tpe = [best(drive(TPE(n_startup=10, seed=s), QUAD, quad, 40)) for s in range(10)]
    startup = [best(drive(TPE(n_startup=40, seed=s), QUAD, quad, 40)) for s in range(10)]
    assert sum(t < r for t, r in zip(tpe, startup)) >= 9
    assert statistics.median(tpe) < 0.25 * statistics.median(startup)


def test_the_best_category_is_found_and_then_suggested_most():
    space = {"x": ts.Float(0.0, 1.0), "c": ts.Choice(["a", "b", "c", "d", "e"])}
    offset = {"a": 1.0, "b": 0.8, "c": 1.2, "d": 0.0, "e": 0.9}

    def f(p):
        return offset[p["c"]] + (p["x"] - 0.6) ** 2

    for seed in range(3):
        trials = drive(TPE(n_startup=10, seed=seed), space, f, 40)
        assert min(trials, key=lambda t: t[1])[0]["c"] == "d"
        later = [p["c"] for p, _ in trials[20:]]  # uniform sampling would give "d" 20% of the time
        assert later.count("d") >= 0.5 * len(later)
        assert all(later.count("d") > later.count(c) for c in "abce")


def test_a_log_scaled_float_is_searched_on_its_logarithm():
    # the optimum 3e-5 sits in the lowest 0.003% of the linear range: only a log-scale model
    # concentrates its suggestions there
    space = {"lr": ts.Float(1e-6, 1.0, log=True)}
    trials = drive(TPE(n_startup=10, seed=0), space, lambda p: (math.log10(p["lr"]) - math.log10(3e-5)) ** 2, 40)
    assert abs(math.log10(min(trials, key=lambda t: t[1])[0]["lr"]) - math.log10(3e-5)) < 0.1
    model = [abs(math.log10(p["lr"]) - math.log10(3e-5)) for p, _ in trials[10:]]
    assert statistics.median(model) < 0.5


def test_integers_and_powers_of_two_land_on_their_best_values():
    space = {"w": ts.Int(1, 60), "bs": ts.PowerOfTwo(4, 1024)}

    def f(p):
        return (p["w"] - 37.3) ** 2 / 100 + (math.log2(p["bs"]) - 6) ** 2

    for seed in range(3):
        trials = drive(TPE(n_startup=8, seed=seed), space, f, 50)
        p = min(trials, key=lambda t: t[1])[0]
        assert p["bs"] == 64 and abs(p["w"] - 37) <= 1


def test_suggestions_are_valid_points_of_a_mixed_space_and_never_repeat():
    for multivariate in (True, False):
        trials = drive(TPE(n_startup=5, seed=0, multivariate=multivariate), MIXED, mixed_objective, 40)
        assert len(trials) == 40
        for p, _ in trials:
            MIXED.validate(p)
            assert isinstance(p["layers"], int) and p["layers"] % 2 == 1
            assert isinstance(p["width"], int) and isinstance(p["big"], int) and isinstance(p["bs"], int)
        assert len({MIXED.key(p) for p, _ in trials}) == 40


def test_the_model_improves_on_the_startup_in_a_mixed_space():
    for multivariate in (True, False):
        trials = drive(TPE(n_startup=10, seed=1, multivariate=multivariate), MIXED, mixed_objective, 60)
        assert best(trials[10:]) < 0.5 * best(trials[:10])


def test_parallel_workers_get_distinct_points_spread_apart():
    space = Space(QUAD)
    sch = TPE(n_startup=10, seed=0)
    drive(sch, QUAD, quad, 20)
    number = 20
    for _ in range(5):  # five rounds of four workers started together
        batch = []
        for _ in range(4):
            p = sch.suggest()
            sch.on_trial_start(number, p)
            batch.append((number, p))
            number += 1
        pts = [space.to_unit(p) for _, p in batch]
        assert min(np.linalg.norm(a - b) for i, a in enumerate(pts) for b in pts[i + 1:]) > 1e-3
        for n, p in batch:
            sch.on_complete(n, quad(p), "completed")


def test_running_trials_push_the_next_suggestion_away_from_them():
    # the same history, with and without three trials running at the incumbent: running trials
    # count as bad (a constant liar), so the next suggestion moves away from them
    space = Space(QUAD)
    far = []
    near = []
    for seed in range(20):
        plain, busy = TPE(n_startup=10, seed=seed), TPE(n_startup=10, seed=seed)
        trials = drive(plain, QUAD, quad, 25)
        drive(busy, QUAD, quad, 25)
        inc = space.to_unit(min(trials, key=lambda t: t[1])[0])
        for k in range(3):
            busy.on_trial_start(100 + k, space.from_unit(np.clip(inc + 0.003 * (k - 1), 0, 1)))
        near.append(np.linalg.norm(space.to_unit(plain.suggest()) - inc))
        far.append(np.linalg.norm(space.to_unit(busy.suggest()) - inc))
    assert sum(d < 0.1 for d in near) >= 4  # the incumbent's neighbourhood is often chosen...
    assert sum(d < 0.1 for d in far) <= 1  # ...but not while trials are running there


def test_failed_nan_and_infinite_trials_do_not_break_the_model():
    calls = iter(range(1000))

    def flaky(p):
        i = next(calls)
        return [None, math.nan, math.inf, -math.inf, quad(p), quad(p)][i % 6]

    trials = drive(TPE(n_startup=4, seed=2), QUAD, flaky, 30)
    assert len(trials) == 30
    for p, _ in trials:
        Space(QUAD).validate(p)


def test_failed_and_interrupted_trials_are_left_out_of_the_model_whatever_value_they_carry():
    # a failed (or interrupted) trial that carries a value is treated as one without a value;
    # the same value on a completed trial changes what comes next
    space = Space(QUAD)

    def run(value, state):
        sch = TPE(n_startup=5, seed=3)
        sch.setup(space, mode="min")
        for k in range(12):
            p = sch.suggest()
            sch.on_trial_start(k, p)
            sch.on_complete(k, quad(p), "completed")
        sch.on_trial_start(12, {"x": -4.0, "y": 4.0})
        sch.on_complete(12, value, state)
        out = []
        for k in range(13, 18):
            p = sch.suggest()
            sch.on_trial_start(k, p)
            sch.on_complete(k, quad(p), "completed")
            out.append(space.key(p))
        return out

    without = run(None, "failed")
    assert run(-1e6, "failed") == without
    assert run(-1e6, "interrupted") == without
    assert run(math.nan, "completed") == without
    assert run(-1e6, "completed") != without


def test_a_study_whose_trials_all_failed_still_gets_distinct_suggestions():
    trials = drive(TPE(n_startup=3, seed=0), QUAD, lambda p: None, 15)
    assert len({Space(QUAD).key(p) for p, _ in trials}) == 15


def test_same_seed_gives_the_same_suggestions_after_the_model_takes_over():
    a = drive(TPE(n_startup=3, seed=5), MIXED, mixed_objective, 15)
    b = drive(TPE(n_startup=3, seed=5), MIXED, mixed_objective, 15)
    c = drive(TPE(n_startup=3, seed=6), MIXED, mixed_objective, 15)
    assert [MIXED.key(p) for p, _ in a] == [MIXED.key(p) for p, _ in b]
    assert [MIXED.key(p) for p, _ in a[3:]] != [MIXED.key(p) for p, _ in c[3:]]


def test_a_small_discrete_space_is_never_repeated_and_then_runs_out():
    space = {"n": ts.Int(0, 3), "c": ts.Choice(["a", "b"])}
    trials = drive(TPE(n_startup=2, seed=0), space, lambda p: p["n"] + (p["c"] == "a"), 20)
    assert len(trials) == 8
    assert len({Space(space).key(p) for p, _ in trials}) == 8


def test_a_running_point_is_not_suggested_again():
    sch = TPE(n_startup=1, seed=0)
    sch.setup(Space({"n": ts.Int(0, 2)}), mode="min")
    sch.on_trial_start(0, {"n": 0})
    sch.on_complete(0, 1.0, "completed")
    sch.on_trial_start(1, {"n": 1})  # running
    assert sch.suggest() == {"n": 2}


def test_maximisation_finds_the_maximum_and_mirrors_minimisation():
    def f(p):
        return -(p["x"] - 1.234) ** 2

    up = drive(TPE(n_startup=8, seed=0), {"x": ts.Float(-3, 3)}, f, 40, mode="max")
    down = drive(TPE(n_startup=8, seed=0), {"x": ts.Float(-3, 3)}, lambda p: -f(p), 40, mode="min")
    assert abs(max(up, key=lambda t: t[1])[0]["x"] - 1.234) < 0.05
    assert [p for p, _ in up] == [p for p, _ in down]


def test_tpe_runs_in_optimize_and_a_resumed_study_continues_the_same_sequence(tmp_path):
    whole = ts.optimize(quad, QUAD, scheduler=TPE(seed=0), n_trials=16, seed=0)
    ts.optimize(quad, QUAD, scheduler=TPE(seed=0), n_trials=12, seed=0, storage=str(tmp_path))
    again = ts.optimize(quad, QUAD, scheduler=TPE(seed=0), n_trials=16, seed=0, storage=str(tmp_path))
    assert [t.state for t in again.trials] == ["completed"] * 16
    assert [t.params for t in again.trials] == [t.params for t in whole.trials]


def test_tpe_runs_in_tune_with_a_small_model():
    from tests.models import TinyRegression

    space = {"lr": ts.Float(1e-3, 0.5, log=True), "width": ts.PowerOfTwo(4, 32)}
    study = ts.tune(TinyRegression, space, scheduler=TPE(n_startup=2, seed=0), metric="mse", mode="min",
                    epochs=1, n_trials=4, seed=0, verbose=False)
    assert [t.state for t in study.trials] == ["completed"] * 4
    assert len({Space(space).key(t.params) for t in study.trials}) == 4


def test_the_seed_and_the_options_are_described():
    assert TPE(n_startup=5, seed=3).describe().startswith("TPE(n_startup=5, ")
    assert "seed=3" in TPE(seed=3).describe()
    assert "multivariate=False" in TPE(multivariate=False).describe()


@pytest.mark.parametrize("kwargs, message", [
    ({"n_startup": -1}, r"TPE: n_startup must be an int >= 0, got n_startup=-1"),
    ({"n_startup": 2.5}, r"TPE: n_startup must be an int >= 0, got n_startup=2.5"),
    ({"gamma": 0.0}, r"TPE: gamma must be a number in \(0, 1\], got gamma=0.0"),
    ({"gamma": 1.5}, r"TPE: gamma must be a number in \(0, 1\], got gamma=1.5"),
    ({"max_good": 0}, r"TPE: max_good must be an int >= 1, got max_good=0"),
    ({"n_candidates": True}, r"TPE: n_candidates must be an int >= 1, got n_candidates=True"),
    ({"multivariate": "yes"}, r"TPE: multivariate must be True or False, got multivariate='yes'"),
    ({"prior_weight": 0}, r"TPE: prior_weight must be a number in \(0, inf\), got prior_weight=0"),
    ({"bandwidth": math.nan}, r"TPE: bandwidth must be a number in \(0, inf\), got bandwidth=nan"),
    ({"seed": -1}, r"TPE: seed must be a non-negative int or None, got seed=-1"),
])
def test_bad_arguments_name_the_parameter_the_value_and_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TPE(**kwargs)


def test_the_parzen_estimator_samples_follow_its_own_density():
    # what l(x) proposes and what l(x) / g(x) scores must be the same distribution
    from torchsearch.schedulers._tpe.encoding import Encoding
    from torchsearch.schedulers._tpe.parzen import Parzen

    space = Space({"bs": ts.PowerOfTwo(16, 512), "act": ts.Choice(["a", "b", "c", "d"]), "x": ts.Float(0.0, 1.0)})
    enc = Encoding(space)
    rng = np.random.default_rng(0)
    rows = np.array([enc.encode(space.sample(rng)) for _ in range(5)])
    est = Parzen(rows, enc.view, prior_weight=1.0, factor=1.0, floor=0.05)
    draws = est.sample(100_000, rng, 3)
    xs = (np.arange(400) + 0.5) / 400
    grid = np.array([(k, c, x) for k in range(6) for c in range(4) for x in xs], dtype=float)
    mass = np.exp(est.log_pdf(grid)).reshape(6, 4, 400).mean(axis=2)  # integrate x out
    assert mass.sum() == pytest.approx(1.0, abs=1e-3)
    emp = np.zeros((6, 4))
    np.add.at(emp, (draws[:, 0].astype(int), draws[:, 1].astype(int)), 1.0)
    assert np.abs(emp / len(draws) - mass).max() < 0.01
    density = np.exp(est.log_pdf(grid)).reshape(6, 4, 400).sum(axis=(0, 1))  # of x alone, at xs
    per_bin = density.reshape(10, 40).mean(axis=1) / 10
    assert np.abs(np.histogram(draws[:, 2], bins=10, range=(0, 1))[0] / len(draws) - per_bin).max() < 0.01
