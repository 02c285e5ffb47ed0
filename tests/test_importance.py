"""ts.importance: fANOVA shares on a numpy random forest; the forest and the decomposition."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

import torchsearch as ts
from torchsearch._fanova import Tree, fit_forest, fit_tree, forest_main_effects, main_effects
from torchsearch._record import Trial
from torchsearch.schedulers import Random


def _tree(boxes):
    """A tree from ``[(lo, hi, value), ...]`` leaf boxes."""
    lo, hi, value = zip(*boxes)
    return Tree(np.array(lo, float), np.array(hi, float), np.array(value, float))


def test_main_effects_of_an_additive_tree_are_its_exact_variance_shares():
    a, b = 2.0, 3.0  # f = a [x > 0.5] + b [y > 0.25]
    tree = _tree([([0, 0], [0.5, 0.25], 0.0), ([0.5, 0], [1, 0.25], a),
                  ([0, 0.25], [0.5, 1], b), ([0.5, 0.25], [1, 1], a + b)])
    var_x, var_y = a**2 / 4, b**2 * 0.25 * 0.75
    np.testing.assert_allclose(main_effects(tree), [var_x / (var_x + var_y), var_y / (var_x + var_y)])


def test_an_interaction_alone_has_no_main_effect_and_a_constant_tree_none_at_all():
    xor = _tree([([0, 0], [0.5, 0.5], 0.0), ([0.5, 0], [1, 0.5], 1.0),
                 ([0, 0.5], [0.5, 1], 1.0), ([0.5, 0.5], [1, 1], 0.0)])
    np.testing.assert_allclose(main_effects(xor), [0.0, 0.0], atol=1e-12)
    assert main_effects(_tree([([0, 0], [1, 1], 4.0)])) is None


def test_a_grown_tree_reproduces_distinct_training_points_and_a_forest_is_seeded():
    rng = np.random.default_rng(0)
    X = rng.random((40, 3))
    y = np.sin(6 * X[:, 0]) + X[:, 1] ** 2
    tree = fit_tree(X, y)
    np.testing.assert_allclose(tree.predict(X), y)
    assert np.all(tree.lo < tree.hi) and np.isclose(np.prod(tree.hi - tree.lo, axis=1).sum(), 1.0)
    one, same, other = (fit_forest(X, y, n_trees=4, seed=s) for s in (1, 1, 2))
    assert all(np.array_equal(s.value, t.value) for s, t in zip(one, same))
    assert not all(np.array_equal(s.value, t.value) for s, t in zip(one, other))


def test_equally_good_cuts_are_shared_at_random_not_won_by_the_first_feature():
    x = np.random.default_rng(1).random(60)
    X = np.column_stack([x, x])  # two copies of the same feature: every cut ties
    shares = forest_main_effects(fit_forest(X, np.sin(4 * x), n_trees=32, seed=0))
    assert min(shares) > 0.3 and abs(shares[0] - shares[1]) < 0.15  # first-wins would give [~1, 0]


SPACE = {
    "lr": ts.Float(1e-5, 1.0, log=True),
    "width": ts.Int(1, 64, log=True),
    "act": ts.Choice(["relu", "tanh", "gelu"]),
    "batch": ts.PowerOfTwo(8, 256),
}


def _strong_lr_weak_width(p):
    return (math.log10(p["lr"]) + 3) ** 2 + 0.5 * math.log2(p["width"])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_strong_parameter_gets_the_largest_share_and_unused_ones_the_smallest(seed):
    study = ts.optimize(_strong_lr_weak_width, SPACE, scheduler=Random(seed=seed), n_trials=50, seed=seed)
    shares = ts.importance(study, seed=seed)
    assert list(shares) == ["lr", "width", *list(shares)[2:]]  # lr, then width, then the unused two
    assert set(list(shares)[2:]) == {"act", "batch"}
    assert shares["lr"] > 0.5 and shares["act"] < 0.05 and shares["batch"] < 0.05
    assert sum(shares.values()) == pytest.approx(1.0)
    assert list(shares.values()) == sorted(shares.values(), reverse=True)


def test_a_category_that_decides_the_result_is_found():
    f = {"relu": 0.0, "tanh": 5.0, "gelu": 1.0}
    study = ts.optimize(lambda p: f[p["act"]] + 0.1 * math.log10(p["lr"]), SPACE, scheduler=Random(seed=5),
                        n_trials=40, seed=5)
    shares = ts.importance(study)
    assert next(iter(shares)) == "act" and shares["act"] > 0.8


def test_a_parameter_with_one_value_gets_exactly_nothing():
    space = {"x": ts.Float(0.0, 1.0), "fixed": ts.Choice(["only"])}  # as ts.zoom can leave a Choice
    study = ts.optimize(lambda p: p["x"], space, scheduler=Random(seed=0), n_trials=10, seed=0)
    assert ts.importance(study) == {"x": 1.0, "fixed": 0.0}


def test_the_same_seed_gives_the_same_shares():
    study = ts.optimize(_strong_lr_weak_width, SPACE, scheduler=Random(seed=0), n_trials=20, seed=0)
    assert ts.importance(study, seed=7) == ts.importance(study, seed=7)


def _fake(rows, metric="value"):
    trials = [Trial(number=i, state=state, params=params, value=value, metrics=metrics)
              for i, (params, value, state, metrics) in enumerate(rows)]
    return SimpleNamespace(trials=trials, space={"x": ts.Float(0, 1), "y": ts.Float(0, 1)}, mode="min",
                           metric=metric)


def test_another_metric_uses_each_trials_last_report_of_it():
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(30):
        x, y = rng.random(2)
        rows.append(({"x": x, "y": y}, x, "completed", {"value": {1: x}, "loss": {1: 9.0, 2: 3 * y}}))
    study = _fake(rows)
    assert next(iter(ts.importance(study))) == "x"
    assert next(iter(ts.importance(study, metric="loss"))) == "y"
    with pytest.raises(ValueError, match=r"no trial reported metric='acc'; reported metrics: \['loss', 'value'\]"):
        ts.importance(study, metric="acc")


def test_fewer_than_two_trials_with_a_value_is_an_error_that_says_how_many():
    rows = [({"x": 0.1, "y": 0.2}, 1.0, "completed", {}), ({"x": 0.3, "y": 0.2}, None, "failed", {}),
            ({"x": 0.5, "y": 0.2}, float("nan"), "completed", {})]
    with pytest.raises(ValueError, match="at least 2 completed or stopped trials with a finite value, the study has 1"):
        ts.importance(_fake(rows))


def test_constant_results_give_no_shares_but_the_reason():
    # nothing varies, so nothing can be credited: equal shares would read as "every parameter matters"
    rows = [({"x": x, "y": 1 - x}, 2.0, "completed", {}) for x in (0.1, 0.4, 0.8)]
    with pytest.raises(ValueError, match=r"importance: all 3 completed or stopped trials have the same value \(2\): "
                                         "there is no variation for any parameter to explain"):
        ts.importance(_fake(rows))
    rows = [({"x": x, "y": 0.5}, x, "completed", {"loss": {1: 0.25}}) for x in (0.1, 0.4, 0.8)]
    with pytest.raises(ValueError, match=r"have the same last 'loss' \(0.25\)"):
        ts.importance(_fake(rows), metric="loss")
    assert next(iter(ts.importance(_fake(rows)))) == "x"  # the value varies: shares as before


def test_a_constant_objective_run_by_optimize_gives_the_reason_too():
    study = ts.optimize(lambda p: 1.0, {"x": ts.Float(0, 1), "y": ts.Float(0, 1), "z": ts.Choice(["a", "b"])},
                        scheduler=Random(seed=0), n_trials=8, seed=0)
    with pytest.raises(ValueError, match="all 8 completed or stopped trials have the same value"):
        ts.importance(study)
