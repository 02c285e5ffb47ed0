"""torchsearch.plot: the 1-D GP figure, best-so-far curves, importance bars; a clear hint without matplotlib."""

from __future__ import annotations

import builtins
import math

import pytest

import torchsearch as ts
from torchsearch import plot
from torchsearch.schedulers import Bayes, Random


def _f(p):
    return math.sin(3 * p["x"]) + 0.1 * p["x"] ** 2


def test_gp_1d_draws_posterior_band_observations_and_ei_with_the_next_point():
    pytest.importorskip("matplotlib")
    study = ts.optimize(_f, {"x": ts.Float(-3, 3)}, scheduler=Bayes(seed=0, n_candidates=128), n_trials=6, seed=0)
    fig = plot.gp_1d(study)
    top, bottom = fig.axes
    assert len(top.collections[-1].get_offsets()) == 6  # the observations
    next_x = study.scheduler.surrogate().next_params["x"]
    assert any(abs(line.get_xdata()[0] - next_x) < 1e-12 for line in bottom.get_lines()[1:])
    assert "next" in bottom.get_legend().get_texts()[-1].get_text()


def test_gp_1d_on_a_log_scaled_integer_uses_a_log_axis():
    pytest.importorskip("matplotlib")
    space = {"w": ts.Int(1, 512, log=True)}
    study = ts.optimize(lambda p: (math.log2(p["w"]) - 5) ** 2, space, scheduler=Bayes(seed=0, n_candidates=64),
                        n_trials=5, seed=0)
    fig = plot.gp_1d(study.scheduler)
    assert fig.axes[1].get_xscale() == "log"


def test_gp_1d_explains_what_it_needs():
    study = ts.optimize(_f, {"x": ts.Float(-3, 3)}, scheduler=Random(seed=0), n_trials=2)
    with pytest.raises(TypeError, match="needs a Study run with Bayes"):
        plot.gp_1d(study)
    two = ts.optimize(lambda p: p["x"] + p["y"], {"x": ts.Float(0, 1), "y": ts.Float(0, 1)},
                      scheduler=Bayes(seed=0, n_candidates=64), n_trials=3)
    with pytest.raises(ValueError, match=r"exactly one parameter, got 2: \['x', 'y'\]"):
        plot.gp_1d(two)


def test_best_so_far_plots_any_study_and_counts_trials_without_a_value():
    pytest.importorskip("matplotlib")
    calls = iter(range(100))

    def sometimes_fails(p):
        if next(calls) == 2:
            raise RuntimeError("boom")
        return _f(p)

    study = ts.optimize(sometimes_fails, {"x": ts.Float(-3, 3)}, scheduler=Random(seed=1), n_trials=8)
    fig = plot.best_so_far(study)
    (ax,) = fig.axes
    best = ax.get_lines()[0].get_ydata()
    assert list(best) == sorted(best, reverse=True)  # min mode: never goes up
    assert "1 trial(s) without a value" in ax.get_title()


def test_best_so_far_on_a_list_of_trials_needs_a_mode():
    study = ts.optimize(_f, {"x": ts.Float(-3, 3)}, scheduler=Random(seed=1), n_trials=2)
    with pytest.raises(ValueError, match="needs mode='min' or 'max', got mode=None"):
        plot.best_so_far(study.trials)


def test_without_matplotlib_the_error_says_how_to_install_it(monkeypatch):
    study = ts.optimize(_f, {"x": ts.Float(-3, 3)}, scheduler=Random(seed=1), n_trials=2)
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r'pip install "torchsearch\[plot\]"'):
        plot.best_so_far(study)


def test_importance_draws_one_bar_per_parameter_largest_at_the_top():
    pytest.importorskip("matplotlib")
    space = {"x": ts.Float(-3, 3), "noise": ts.Choice(["a", "b"]), "n": ts.Int(1, 5)}
    study = ts.optimize(lambda p: _f(p) + 0.01 * p["n"], space, scheduler=Random(seed=2), n_trials=30, seed=2)
    shares = ts.importance(study)
    fig = plot.importance(study)
    (ax,) = fig.axes
    bars = ax.patches
    assert len(bars) == 3
    by_height = sorted(bars, key=lambda b: b.get_y())  # bottom to top
    assert [b.get_width() for b in by_height] == pytest.approx(sorted(shares.values()))
    assert [t.get_text() for t in ax.get_yticklabels()] == list(shares)[::-1]
    assert "fANOVA" in ax.get_title()
    assert len(plot.importance({"a": 0.7, "b": 0.3}).axes[0].patches) == 2  # a dict of shares too


def test_importance_of_a_constant_objective_draws_no_bars_and_says_why():
    pytest.importorskip("matplotlib")
    study = ts.optimize(lambda p: 1.0, {"x": ts.Float(0, 1), "n": ts.Int(1, 5)}, scheduler=Random(seed=0),
                        n_trials=6, seed=0)
    with pytest.raises(ValueError, match="all 6 completed or stopped trials have the same value"):
        plot.importance(study)
