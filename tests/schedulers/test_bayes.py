"""Bayes: learns (beats Random on Branin), stays valid on mixed spaces, handles running, failed,
NaN and infinite trials, never repeats a point, is reproducible, and runs in optimize()/tune()."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

import torchsearch as ts
from torchsearch.schedulers import Bayes, Random
from torchsearch.space import Space

BRANIN_SPACE = {"x1": ts.Float(-5, 10), "x2": ts.Float(0, 15)}
BRANIN_MIN = 0.397887357729739

MIXED = Space({
    "lr": ts.Float(1e-4, 1.0, log=True),
    "x": ts.Float(-2.0, 2.0),
    "layers": ts.Int(1, 9, step=2),
    "width": ts.Int(8, 1000, log=True),
    "bs": ts.PowerOfTwo(8, 256),
    "act": ts.Choice(["relu", "tanh", "elu"]),
    "flag": ts.Choice([True, False]),
})


def branin(p):
    x1, x2 = p["x1"], p["x2"]
    return ((x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)


def mixed_objective(p):
    return ((p["x"] - 0.3) ** 2 + (math.log10(p["lr"]) + 2) ** 2 + (p["layers"] - 5) ** 2 / 10
            + (math.log2(p["width"]) - 6) ** 2 / 10 + (math.log2(p["bs"]) - 5) ** 2 / 10
            + {"relu": 0.5, "tanh": 0.0, "elu": 1.0}[p["act"]] + 0.2 * p["flag"])


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


def test_bayes_beats_random_on_branin_over_fixed_seeds():
    regret = {"bayes": [], "random": []}
    for seed in range(3):
        for name, sch in (("bayes", Bayes(seed=seed, n_candidates=256)), ("random", Random(seed=seed))):
            vals = [v for _, v in drive(sch, BRANIN_SPACE, branin, 25)]
            regret[name].append(min(vals) - BRANIN_MIN)
    assert all(b < r for b, r in zip(regret["bayes"], regret["random"]))  # seed by seed
    assert statistics.median(regret["bayes"]) < 0.25 * statistics.median(regret["random"])
    assert max(regret["bayes"]) < 0.2


def test_suggestions_are_valid_points_of_a_mixed_space():
    space = MIXED
    trials = drive(Bayes(seed=0, n_startup=4, n_candidates=256), space, mixed_objective, 14)
    assert len(trials) == 14
    for p, _ in trials:
        space.validate(p)
        assert isinstance(p["layers"], int) and p["layers"] % 2 == 1
        assert isinstance(p["width"], int) and isinstance(p["bs"], int)
    assert len({space.key(p) for p, _ in trials}) == 14


def test_integers_are_rounded_to_the_nearest_value_not_truncated():
    # the best width is 9.9: the GP should home in on 10, which truncation would never give
    space = {"w": ts.Int(1, 20)}
    trials = drive(Bayes(seed=0, n_startup=3), space, lambda p: (p["w"] - 9.9) ** 2, 10)
    assert min(trials, key=lambda t: t[1])[0]["w"] == 10


def test_running_trials_change_the_suggestion_and_parallel_workers_get_different_points():
    space = Space(BRANIN_SPACE)
    sch = Bayes(seed=0)
    drive(sch, BRANIN_SPACE, branin, 12)
    alone = sch.surrogate().next_params
    first = sch.suggest()
    assert first == alone
    sch.on_trial_start(100, first)  # still running
    second = sch.suggest()
    assert space.key(second) != space.key(first)
    sch.on_trial_start(101, second)
    third = sch.suggest()
    pts = [space.to_unit(p) for p in (first, second, third)]
    assert min(np.linalg.norm(a - b) for i, a in enumerate(pts) for b in pts[i + 1:]) > 1e-3


@pytest.mark.parametrize("fantasy", ["believer", "min", "mean", "max"])
def test_every_fantasy_gives_distinct_valid_points_for_parallel_workers(fantasy):
    space = Space(BRANIN_SPACE)
    sch = Bayes(seed=1, fantasy=fantasy, n_candidates=256)
    drive(sch, BRANIN_SPACE, branin, 8)
    batch = []
    for i in range(4):
        p = sch.suggest()
        space.validate(p)
        sch.on_trial_start(50 + i, p)
        batch.append(space.key(p))
    assert len(set(batch)) == 4


def test_failed_nan_and_infinite_trials_do_not_break_the_fit():
    calls = iter(range(1000))

    def flaky(p):
        i = next(calls)
        return [None, math.nan, math.inf, -math.inf, branin(p), branin(p)][i % 6]

    sch = Bayes(seed=2, n_startup=4, n_candidates=256)
    trials = drive(sch, BRANIN_SPACE, flaky, 18)
    assert len(trials) == 18
    sur = sch.surrogate()
    mean, lower, upper = sur.predict([p for p, _ in trials])
    assert np.all(np.isfinite(mean)) and np.all(lower <= upper)
    # failed and NaN trials are left out; infinite ones stay in, clipped to the finite range
    assert len(sur.observations) == 12
    finite = [v for _, v in trials if v is not None and math.isfinite(v)]
    assert np.all(np.abs(mean) < 10 * max(abs(v) for v in finite))


def test_a_study_whose_trials_all_failed_still_gets_distinct_suggestions():
    space = Space(BRANIN_SPACE)
    trials = drive(Bayes(seed=0, n_startup=3), BRANIN_SPACE, lambda p: None, 15)
    assert len(trials) == 15
    assert len({space.key(p) for p, _ in trials}) == 15


def test_same_seed_gives_the_same_suggestions_after_the_gp_takes_over():
    a = drive(Bayes(seed=5, n_startup=3, n_candidates=256), MIXED, mixed_objective, 8)
    b = drive(Bayes(seed=5, n_startup=3, n_candidates=256), MIXED, mixed_objective, 8)
    assert [MIXED.key(p) for p, _ in a] == [MIXED.key(p) for p, _ in b]


def test_asking_for_the_surrogate_does_not_change_later_suggestions():
    a, b = Bayes(seed=3, n_candidates=256), Bayes(seed=3, n_candidates=256)
    drive(a, BRANIN_SPACE, branin, 7)
    drive(b, BRANIN_SPACE, branin, 7)
    a.surrogate()
    assert a.suggest() == b.suggest()


def test_a_small_discrete_space_is_never_repeated_and_then_runs_out():
    space = {"n": ts.Int(0, 3), "c": ts.Choice(["a", "b"])}
    trials = drive(Bayes(seed=0, n_startup=2), space, lambda p: p["n"] + (p["c"] == "a"), 20)
    assert len(trials) == 8
    assert len({Space(space).key(p) for p, _ in trials}) == 8


def test_a_running_point_is_not_suggested_again():
    space = {"n": ts.Int(0, 2)}
    sch = Bayes(seed=0, n_startup=1)
    sch.setup(Space(space), mode="min")
    sch.on_trial_start(0, {"n": 0})
    sch.on_complete(0, 1.0, "completed")
    sch.on_trial_start(1, {"n": 1})  # running
    assert sch.suggest() == {"n": 2}


def test_maximisation_finds_the_maximum():
    trials = drive(Bayes(seed=0), {"x": ts.Float(-3, 3)}, lambda p: -(p["x"] - 1.234) ** 2, 12, mode="max")
    assert abs(max(trials, key=lambda t: t[1])[0]["x"] - 1.234) < 1e-2


def test_bayes_runs_in_optimize_and_resumes_from_storage(tmp_path):
    study = ts.optimize(branin, BRANIN_SPACE, scheduler=Bayes(seed=0, n_candidates=256), n_trials=12, seed=0,
                        storage=str(tmp_path))
    assert [t.state for t in study.trials] == ["completed"] * 12
    again = ts.optimize(branin, BRANIN_SPACE, scheduler=Bayes(seed=0, n_candidates=256), n_trials=14, seed=0,
                        storage=str(tmp_path))
    keys = [Space(BRANIN_SPACE).key(t.params) for t in again.trials]
    assert len(again.trials) == 14 and len(set(keys)) == 14


def test_bayes_runs_in_tune_with_a_small_model():
    from tests.models import TinyRegression

    space = {"lr": ts.Float(1e-3, 0.5, log=True), "width": ts.PowerOfTwo(4, 32)}
    study = ts.tune(TinyRegression, space, scheduler=Bayes(seed=0, n_startup=2, n_candidates=128),
                    metric="mse", mode="min", epochs=1, n_trials=4, seed=0, verbose=False)
    assert [t.state for t in study.trials] == ["completed"] * 4
    assert len({Space(space).key(t.params) for t in study.trials}) == 4


@pytest.mark.parametrize("kwargs, message", [
    ({"n_startup": 0}, r"Bayes: n_startup must be an int >= 1, got n_startup=0"),
    ({"n_candidates": 2.5}, r"Bayes: n_candidates must be an int >= 1, got n_candidates=2.5"),
    ({"n_restarts": True}, r"Bayes: n_restarts must be an int >= 1, got n_restarts=True"),
    ({"max_fit_points": 1}, r"Bayes: max_fit_points must be an int >= 2, got max_fit_points=1"),
    ({"fantasy": "liar"}, r"Bayes: fantasy must be one of .*believer.*, got fantasy='liar'"),
    ({"rung_model": "rung"}, r"Bayes: rung_model must be one of \('input', 'level'\), got rung_model='rung'"),
    ({"seed": -1}, r"Bayes: seed must be a non-negative int or None, got seed=-1"),
])
def test_bad_arguments_name_the_parameter_the_value_and_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Bayes(**kwargs)


def test_surrogate_before_any_value_explains_what_is_missing():
    sch = Bayes(seed=0)
    sch.setup(Space(BRANIN_SPACE), mode="min")
    with pytest.raises(ValueError, match="needs at least one finished trial"):
        sch.surrogate()


def test_only_completed_and_stopped_trials_are_modelled():
    sch = Bayes(seed=0, n_startup=1)
    sch.setup(Space(BRANIN_SPACE), mode="min")
    for i, state in enumerate(["completed", "stopped", "interrupted", "failed"]):
        sch.on_trial_start(i, {"x1": float(i), "x2": 1.0})
        sch.on_complete(i, 5.0 + i, state)
    assert [v for _, v in sch.surrogate().observations] == [5.0, 6.0]


@pytest.mark.parametrize("incumbent", ["observed", "mean"])
def test_ei_threshold_is_the_lowest_observation_or_the_lowest_posterior_mean_of_one(monkeypatch, incumbent):
    # a smooth bowl observed with noise (every point three times, so the GP must fit the noise;
    # it cannot interpolate), and one lucky draw far below the trend: with
    # INCUMBENT="mean" EI improves on what the model believes the best point is worth, not on
    # the lucky draw (under noise the lowest loss is mostly luck)
    import torch

    from torchsearch.schedulers import bayes as bayes_mod

    monkeypatch.setattr(bayes_mod, "INCUMBENT", incumbent)
    rng = np.random.default_rng(0)
    b = Bayes(seed=0, n_startup=1, warp=False)
    b.setup(Space({"x": ts.Float(0.0, 1.0)}), mode="min")
    xs = np.repeat(np.linspace(0.05, 0.95, 10), 3)  # each point three times: the noise shows
    for i, x in enumerate(xs):
        y = (x - 0.5) ** 2 + 0.02 * rng.normal()
        if i == 22:
            y -= 0.3  # the lucky draw
        b.on_trial_start(i, {"x": float(x)})
        b.on_complete(i, float(y), "completed")
    post, _, best = b._fit(np.random.default_rng(0))
    with torch.no_grad():
        lowest_mean = float(post.mean_var(post.X)[0].min())
    lowest_obs = float(post.y.min())
    if incumbent == "mean":
        assert best == pytest.approx(lowest_mean)
        assert best > lowest_obs + 0.1  # the lucky draw is not the threshold
    else:
        assert best == pytest.approx(lowest_obs)


def _bowl_scheduler(noise_sd: float, seed: int = 0) -> Bayes:
    """A 1-D bowl, each point observed three times (with noise_sd: the noise shows)."""
    rng = np.random.default_rng(seed)
    b = Bayes(seed=0, n_startup=1, warp=False)
    b.setup(Space({"x": ts.Float(0.0, 1.0)}), mode="min")
    for i, x in enumerate(np.repeat(np.linspace(0.05, 0.95, 10), 3)):
        b.on_trial_start(i, {"x": float(x)})
        b.on_complete(i, float((x - 0.5) ** 2 + noise_sd * rng.normal()), "completed")
    return b


@pytest.mark.parametrize("noise_sd", [0.0, 0.02])
def test_auto_ei_threshold_is_the_posterior_mean_only_when_the_fitted_noise_is_not_negligible(monkeypatch, noise_sd):
    import torch

    from torchsearch.schedulers import bayes as bayes_mod

    monkeypatch.setattr(bayes_mod, "INCUMBENT", "auto")
    b = _bowl_scheduler(noise_sd)
    post, _, best = b._fit(np.random.default_rng(0))
    noise = float(post.noise)
    with torch.no_grad():
        lowest_mean = float(post.mean_var(post.X)[0].min())
    if noise_sd > 0:
        assert noise > bayes_mod.NOISE_NEGLIGIBLE
        assert best == pytest.approx(lowest_mean) and best > float(post.y.min()) + 0.05
    else:
        assert noise < bayes_mod.NOISE_NEGLIGIBLE
        assert best == float(post.y.min())


@pytest.mark.parametrize("noise_sd", [0.0, 0.02])
def test_loo_noise_selection_uses_the_fit_that_predicts_left_out_points_better(monkeypatch, noise_sd):
    import torch

    from torchsearch.schedulers import bayes as bayes_mod
    from torchsearch.schedulers._gp.gp import Posterior

    monkeypatch.setattr(bayes_mod, "NOISE_SELECT", "loo")
    b = _bowl_scheduler(noise_sd)
    post, _, _ = b._fit(np.random.default_rng(0))
    low, noisy = b._theta, b._theta_noisy
    assert noisy is not None and noisy[-1] > low[-1]  # the second fit, under the noisier prior
    loo = [Posterior(post.X, post.y, torch.from_numpy(t), post.cat).loo_mse() for t in (low, noisy)]
    chosen = noisy if loo[1] < loo[0] else low
    np.testing.assert_allclose(post.theta.numpy(), chosen)
    if noise_sd > 0:
        assert float(post.noise) > 1e-3  # the noise is learnt
    else:
        assert float(post.noise) < 1e-4  # exact values: near-interpolation


def test_revert_target_is_the_incumbent_jittered_inside_the_box_in_float_columns_only(monkeypatch):
    # REVERT_JITTER: a bound coordinate put back to the incumbent's value gets a small normal
    # jitter, kept 2 * REVERT_EDGE inside the box, so an input the revert keeps resetting still
    # varies (without it, mixed_log copied one lr value into 20 suggestions in a row and never
    # learnt that lr matters); integers and categories keep the incumbent's value
    from torchsearch.schedulers import bayes as bayes_mod

    b = Bayes(seed=0)
    b.setup(MIXED, mode="min")
    anchors = np.stack([b._enc.encode(MIXED.sample(np.random.default_rng(i))) for i in range(3)])
    cont = b._enc.cols.mask("cont")
    anchors[0, np.flatnonzero(cont)[0]] = 0.0  # the incumbent at a bound in one float column
    monkeypatch.setattr(bayes_mod, "REVERT_JITTER", 0.0)
    np.testing.assert_array_equal(b._revert_target(anchors, np.random.default_rng(0)), anchors[0])
    monkeypatch.setattr(bayes_mod, "REVERT_JITTER", 0.05)
    targets = np.stack([b._revert_target(anchors, np.random.default_rng(s)) for s in range(50)])
    np.testing.assert_array_equal(targets[:, ~cont], np.repeat(anchors[:1, ~cont], 50, axis=0))
    edge = 2 * bayes_mod.REVERT_EDGE
    assert targets[:, cont].min() >= edge and targets[:, cont].max() <= 1 - edge
    spread = np.abs(targets[:, cont] - np.clip(anchors[0, cont], edge, 1 - edge))
    assert 0.0 < np.median(spread) < 0.1  # near the incumbent, not at it


@pytest.mark.parametrize("space, fn, only_cats, explores", [
    (MIXED, mixed_objective, False, True),
    (MIXED, mixed_objective, True, True),  # the space has categories
    ({"x1": ts.Float(-5, 10), "x2": ts.Float(0, 15)}, branin, True, False),  # floats only: keeps polishing
])
def test_collapsed_ei_hands_out_a_random_unseen_point_when_explore_below_is_set(monkeypatch, space, fn,
                                                                               only_cats, explores):
    # EXPLORE_BELOW (screen switch): when the best log EI is below it, the suggestion is a random
    # unseen point (on mixed_trap EI collapsed to e^-13 while 20 trials repeated the bowl's minimum)
    from torchsearch.schedulers import bayes as bayes_mod

    b = Bayes(n_startup=4, seed=0)
    drive(b, space, fn, 8, seed=0)
    marker = {"random": True}
    monkeypatch.setattr(b, "_random_unseen", lambda rng: marker)
    monkeypatch.setattr(bayes_mod, "EXPLORE_ONLY_CATS", only_cats)
    monkeypatch.setattr(bayes_mod, "EXPLORE_BELOW", None)
    assert b.suggest() is not marker  # off: the EI winner
    monkeypatch.setattr(bayes_mod, "EXPLORE_BELOW", -1e9)  # no log EI is that low
    assert b.suggest() is not marker
    monkeypatch.setattr(bayes_mod, "EXPLORE_BELOW", 1e9)  # every log EI counts as collapsed
    assert (b.suggest() is marker) == explores
