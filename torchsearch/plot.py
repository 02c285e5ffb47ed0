"""Figures for studies: the 1-D Gaussian-process picture, best-so-far curves, parameter importance.

Needs matplotlib (``pip install "torchsearch[plot]"``), imported only when a figure is drawn.
Each function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global
state, no window): save it with ``fig.savefig("gp.png")``.

    import torchsearch as ts
    from torchsearch import plot
    from torchsearch.schedulers import Bayes

    study = ts.optimize(f, {"x": ts.Float(-2, 10)}, scheduler=Bayes(seed=0), n_trials=8)
    plot.gp_1d(study).savefig("gp.png")          # posterior, band, observations, EI, next point
    plot.best_so_far(study).savefig("best.png")   # any study, any scheduler
    plot.importance(study).savefig("imp.png")     # fANOVA shares, one bar per parameter
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .schedulers.bayes import Bayes
from .space import Choice, Float, Int, PowerOfTwo

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .study import Study
    from ._record import Trial

__all__ = ["gp_1d", "best_so_far", "importance"]

_HINT = 'torchsearch.plot needs matplotlib: pip install "torchsearch[plot]"'


def _figure(**kwargs: Any) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(_HINT) from e
    return Figure(**kwargs)


def gp_1d(source: Study | Bayes, *, resolution: int = 400) -> Figure:
    """The classic Bayesian-optimisation figure for a one-parameter space.

    Top: the GP posterior (median, and a band of two standard deviations, mapped back through
    the output warp) and the observations.
    Bottom: Expected Improvement over the parameter, with the next point marked.
    ``source`` is a study run with :class:`~torchsearch.schedulers.Bayes`, or the scheduler.
    """
    bayes = source if isinstance(source, Bayes) else getattr(source, "scheduler", None)
    if not isinstance(bayes, Bayes):
        raise TypeError(f"gp_1d: needs a Study run with Bayes or a Bayes scheduler, got {source!r}")
    if not isinstance(resolution, int) or isinstance(resolution, bool) or resolution < 2:
        raise ValueError(f"gp_1d: resolution must be an int >= 2, got resolution={resolution!r}")
    space = bayes.space
    if len(space) != 1:
        raise ValueError(f"gp_1d: needs a space with exactly one parameter, got {len(space)}: {space.names}")
    (name, param), = space.items()
    if isinstance(param, Choice):
        raise ValueError(f"gp_1d: parameter {name!r} is a Choice; the figure needs an ordered parameter")
    sur = bayes.surrogate()
    if isinstance(param, (Int, PowerOfTwo)) and param.cardinality <= resolution:
        xs: list[Any] = param.grid(None)
    else:
        xs = sorted({param.from_unit(u) for u in np.linspace(0.0, 1.0, resolution)})
    configs = [{name: x} for x in xs]
    mean, lower, upper = sur.predict(configs)
    ei = sur.expected_improvement(configs)
    fig = _figure(figsize=(7, 5.5))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    x = np.asarray(xs, dtype=float)
    top.plot(x, mean, color="C0", label="posterior median")
    top.fill_between(x, lower, upper, color="C0", alpha=0.2, label="± 2 sd")
    ox = [p[name] for p, _ in sur.observations]
    oy = [v for _, v in sur.observations]
    top.scatter(ox, oy, color="k", zorder=3, s=18, label="observations")
    nx = sur.next_params[name]
    top.axvline(nx, color="C3", ls="--", lw=1)
    top.set_ylabel(f"value ({bayes.mode})")
    top.legend(loc="best", fontsize="small")
    top.set_title(f"Gaussian process after {len(oy)} observations")
    bottom.plot(x, ei, color="C2", label="expected improvement")
    bottom.axvline(nx, color="C3", ls="--", lw=1, label=f"next: {name}={nx:.4g}")
    bottom.set_xlabel(name)
    bottom.set_ylabel("EI")
    bottom.legend(loc="best", fontsize="small")
    if isinstance(param, (Float, Int)) and param.log or isinstance(param, PowerOfTwo):
        bottom.set_xscale("log", base=2 if isinstance(param, PowerOfTwo) else 10)
    fig.tight_layout()
    return fig


def best_so_far(source: Study | Sequence[Trial], *, mode: Literal["min", "max"] | None = None) -> Figure:
    """Each trial's value and the best value so far against the trial number.

    ``source`` is a study, or a list of trials with ``mode`` given. Trials without a finite
    value (failed, running) are left out of the curve and counted in the title.
    """
    if isinstance(source, Sequence):
        trials = list(source)
        if mode not in ("min", "max"):
            raise ValueError(f"best_so_far: a list of trials needs mode='min' or 'max', got mode={mode!r}")
        metric = "value"
    else:
        trials = source.trials
        mode = source.mode if mode is None else mode
        metric = source.metric
    pts = [(t.number, float(t.value)) for t in trials
           if t.state in ("completed", "stopped") and t.value is not None and np.isfinite(t.value)]
    fig = _figure(figsize=(7, 4))
    ax = fig.subplots()
    if pts:
        n, v = map(np.asarray, zip(*pts))
        best = np.minimum.accumulate(v) if mode == "min" else np.maximum.accumulate(v)
        ax.scatter(n, v, s=14, color="C0", alpha=0.6, label="trial value")
        ax.step(n, best, where="post", color="C3", label="best so far")
        ax.legend(loc="best", fontsize="small")
    ax.set_xlabel("trial number")
    ax.set_ylabel(metric)
    missing = len(trials) - len(pts)
    ax.set_title(f"best {metric} so far ({mode})" + (f"; {missing} trial(s) without a value" if missing else ""))
    fig.tight_layout()
    return fig


def importance(source: Study | Mapping[str, float], *, metric: str | None = None, seed: int | None = 0) -> Figure:
    """A horizontal bar per parameter: its share of :func:`torchsearch.importance` (fANOVA),
    largest at the top.

    ``source`` is a study (``metric`` and ``seed`` go to :func:`torchsearch.importance`), or
    the ``{param: share}`` dict that function returns.
    """
    if isinstance(source, Mapping):
        shares = dict(source)
        title = "parameter importance"
    else:
        from ._importance import importance as _importance

        shares = _importance(source, metric=metric, seed=seed)
        name = metric or getattr(source, "metric", "value")
        title = f"importance for {name} (fANOVA)"
    if not shares:
        raise ValueError("importance: nothing to draw, got an empty dict of shares")
    names = list(shares)[::-1]  # barh draws the first at the bottom
    values = [float(shares[n]) for n in names]
    fig = _figure(figsize=(6, 1.2 + 0.4 * len(names)))
    ax = fig.subplots()
    bars = ax.barh(names, values, color="C0")
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], padding=3, fontsize="small")
    ax.set_xlim(0, max(1.0, max(values)) * 1.12)
    ax.set_xlabel("share of the variance explained")
    ax.set_title(title)
    fig.tight_layout()
    return fig
