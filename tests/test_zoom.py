"""ts.zoom: a narrower Space around a study's best trials (log-aware, integral, categories cut)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

import torchsearch as ts
from torchsearch._record import Trial
from torchsearch.schedulers import Bayes, Random


def _study(space, rows, mode="min"):
    """A stand-in with only .trials, .space and .mode (what a reopened study offers)."""
    trials = [Trial(number=i, state=state, params=params, value=value)
              for i, (params, value, state) in enumerate(rows)]
    return SimpleNamespace(trials=trials, space=space, mode=mode)


def _done(params, value, state="completed"):
    return (params, value, state)


def test_float_range_is_the_best_values_widened_by_the_margin_and_clipped():
    space = {"x": ts.Float(0.0, 10.0)}
    rows = [_done({"x": x}, v) for x, v in [(4.0, 1.0), (5.0, 2.0), (9.5, 3.0), (0.5, 4.0)]]
    zoomed = ts.zoom(_study(space, rows), top=0.5, margin=0.1)
    assert isinstance(zoomed, ts.Space)
    assert zoomed["x"] == ts.Float(3.0, 6.0)
    edge = ts.zoom(_study(space, [_done({"x": 9.5}, 1.0), _done({"x": 0.5}, 2.0)]), top=0.5, margin=0.1)
    assert edge["x"].high == 10.0 and edge["x"].low == pytest.approx(8.5)  # clipped to the bound


def test_mode_max_zooms_on_the_largest_values():
    space = {"x": ts.Float(0.0, 10.0)}
    rows = [_done({"x": 1.0}, 1.0), _done({"x": 8.0}, 9.0)]
    assert ts.zoom(_study(space, rows, mode="min"), top=0.5)["x"] == ts.Float(0.0, 2.0)
    assert ts.zoom(_study(space, rows, mode="max"), top=0.5)["x"] == ts.Float(7.0, 9.0)


def test_log_float_margin_is_taken_in_log_space():
    space = {"lr": ts.Float(1e-5, 1.0, log=True)}
    rows = [_done({"lr": 1e-3}, 0.1), _done({"lr": 1e-2}, 0.2), _done({"lr": 0.5}, 5.0), _done({"lr": 1e-5}, 6.0)]
    lr = ts.zoom(_study(space, rows), top=0.5, margin=0.1)["lr"]
    assert lr.log
    assert math.log10(lr.low) == pytest.approx(-3.5, abs=1e-3) and math.log10(lr.high) == pytest.approx(-1.5, abs=1e-3)
    assert lr.low <= 10**-3.5 and lr.high >= 10**-1.5  # rounded outwards to 4 significant digits


def test_failed_and_nan_trials_do_not_count_and_stopped_trials_do():
    space = {"x": ts.Float(0.0, 10.0)}
    rows = [_done({"x": 0.0}, None, "failed"), _done({"x": 1.0}, float("nan")),
            _done({"x": 2.0}, -5.0, "running"), _done({"x": 6.0}, 1.0, "stopped"), _done({"x": 9.0}, 2.0)]
    assert ts.zoom(_study(space, rows), top=0.5)["x"] == ts.Float(5.0, 7.0)


def test_int_stays_integral_on_its_step_and_a_single_value_gets_a_range():
    space = {"layers": ts.Int(1, 9, step=2), "units": ts.Int(1, 1000, log=True)}
    rows = [_done({"layers": 5, "units": 100}, 1.0), _done({"layers": 5, "units": 120}, 2.0),
            _done({"layers": 9, "units": 3}, 9.0), _done({"layers": 1, "units": 900}, 9.5)]
    zoomed = ts.zoom(_study(space, rows), top=0.5, margin=0.05)
    assert zoomed["layers"] == ts.Int(3, 7, step=2)  # one step to each side of 5
    units = zoomed["units"]
    assert units.log and units.step == 1 and isinstance(units.low, int) and isinstance(units.high, int)
    assert 40 < units.low < 100 and 120 < units.high < 300


def test_power_of_two_stays_powers_of_two_and_a_single_value_at_a_bound_widens_inwards():
    space = {"batch": ts.PowerOfTwo(16, 1024)}
    rows = [_done({"batch": 16}, 1.0), _done({"batch": 1024}, 2.0)]
    assert ts.zoom(_study(space, rows), top=0.5, margin=0.01)["batch"] == ts.PowerOfTwo(16, 32)
    wide = ts.zoom(_study(space, rows + [_done({"batch": 64}, 0.5)]), top=0.6, margin=0.2)["batch"]
    assert wide == ts.PowerOfTwo(16, 128)  # 16..64, and 0.2 of the 7 exponents (1.4, rounded) above


def test_choice_is_cut_to_the_values_seen_at_the_top_in_their_order():
    space = {"act": ts.Choice(["relu", "tanh", "gelu", "silu"])}
    rows = [_done({"act": "gelu"}, 1.0), _done({"act": "relu"}, 2.0), _done({"act": "tanh"}, 3.0),
            _done({"act": "silu"}, 4.0)]
    assert ts.zoom(_study(space, rows), top=0.5)["act"] == ts.Choice(["relu", "gelu"])
    assert ts.zoom(_study(space, rows), top=0.25)["act"] == ts.Choice(["gelu"])  # one value: fixed


def test_top_and_margin_outside_zero_one_are_refused_by_name():
    study = _study({"x": ts.Float(0.0, 1.0)}, [_done({"x": 0.1}, 1.0), _done({"x": 0.2}, 2.0)])
    for top in (0, -0.5, 1.5, True, "a"):
        with pytest.raises(ValueError, match=r"zoom: top must be a fraction in \(0, 1\], got top="):
            ts.zoom(study, top=top)
    with pytest.raises(ValueError, match=r"zoom: margin must be a fraction in \(0, 1\], got margin=0"):
        ts.zoom(study, margin=0)


def test_fewer_than_two_finished_trials_is_an_error_that_says_how_many():
    space = {"x": ts.Float(0.0, 1.0)}
    one = _study(space, [_done({"x": 0.1}, 1.0), _done({"x": 0.2}, None, "failed")])
    with pytest.raises(ValueError, match="at least 2 completed or stopped trials .* the study has 1"):
        ts.zoom(one)
    with pytest.raises(TypeError, match=r"needs a study \(with .trials, .space and .mode\)"):
        ts.zoom({"x": ts.Float(0.0, 1.0)})


def _bowl(p):
    return (math.log10(p["lr"]) + 3) ** 2 + (p["width"] - 8) ** 2 / 100 + (0.0 if p["act"] == "relu" else 1.0)


SPACE = {"lr": ts.Float(1e-6, 1.0, log=True), "width": ts.Int(1, 64), "act": ts.Choice(["relu", "tanh", "gelu"])}


def test_zoom_on_a_real_study_narrows_around_the_optimum_and_holds_every_top_trial():
    study = ts.optimize(_bowl, SPACE, scheduler=Random(seed=3), n_trials=40, seed=3)
    zoomed = ts.zoom(study, top=0.25)
    top = sorted((t for t in study.trials if t.has_value()), key=lambda t: t.value)[:10]
    for t in top:
        assert zoomed.validate(t.params)
    lr = zoomed["lr"]
    assert 1e-6 <= lr.low < 1e-3 < lr.high <= 1.0
    assert math.log(lr.high / lr.low) < math.log(1.0 / 1e-6)
    assert zoomed["width"].high - zoomed["width"].low < 63
    assert "relu" in zoomed["act"].values


@pytest.mark.parametrize("scheduler", [Random(seed=0), Bayes(seed=0, n_candidates=64)], ids=["random", "bayes"])
def test_the_zoomed_space_runs_a_new_study_like_a_dict_space(scheduler):
    first = ts.optimize(_bowl, SPACE, scheduler=Random(seed=1), n_trials=16, seed=1)
    zoomed = ts.zoom(first, top=0.125)  # two trials: 'act' may be cut to one value
    second = ts.optimize(_bowl, zoomed, scheduler=scheduler, n_trials=6, seed=2)
    assert second.space == zoomed
    assert all(zoomed.validate(t.params) for t in second.trials)
    assert sum(t.has_value() for t in second.trials) == 6
