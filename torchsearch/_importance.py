"""``importance(study)``: which parameters the study's results depend on (fANOVA, see ``_fanova``).

Named ``_importance`` so that importing it never replaces ``torchsearch.importance`` (the
function) with the module.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ._fanova import fit_forest, forest_main_effects
from .space import as_space

__all__ = ["importance", "finished_values"]


def finished_values(study: Any, metric: str | None, caller: str) -> tuple[list[Any], list[float]]:
    """The study's completed and stopped trials with a finite value, and those values.

    ``metric=None`` (or the study's own metric) reads each trial's value; another metric reads
    the last value the trial reported for it.
    """
    for attr in ("trials", "space"):
        if not hasattr(study, attr):
            raise TypeError(f"{caller}: needs a study (with .trials, .space and .mode), got {study!r}")
    own = metric is None or metric == getattr(study, "metric", None)
    if not own and (not isinstance(metric, str) or not metric):
        raise ValueError(f"{caller}: metric must be a metric name or None, got metric={metric!r}")
    trials, values = [], []
    reported: set[str] = set()
    for t in study.trials:
        reported.update(t.metrics)
        if t.state not in ("completed", "stopped"):
            continue
        v = t.value if own else t.last(metric)
        if v is not None and math.isfinite(v):
            trials.append(t)
            values.append(float(v))
    if not own and not trials and metric not in reported:
        raise ValueError(f"{caller}: no trial reported metric={metric!r}; reported metrics: {sorted(reported)}")
    return trials, values


def importance(study: Any, *, metric: str | None = None, seed: int | None = 0) -> dict[str, float]:
    """How much of the variation of the results each parameter explains: ``{name: share}``.

    The method is fANOVA (functional ANOVA on a random forest; Hutter, Hoos & Leyton-Brown,
    ICML 2014), the default of Optuna's ``get_param_importances``: 64 regression trees, each
    on a bootstrap sample, are fitted to the trials' values over the space's unit cube
    (log-scaled where the parameter is, an equal slice per integer and per category); a
    parameter's importance is the fraction of the forest's variance that its one-parameter
    marginal explains. The shares are normalised to sum to 1 and sorted, largest first.
    Interactions are not credited to any parameter; if no parameter has a main effect at all
    (only interactions) every parameter gets an equal share. When every trial has the same
    value there is no variance to explain, and no share is given (``ValueError``, below).

    Args:
        study: a study (:class:`~torchsearch.Study`, or anything with ``.trials`` and ``.space``).
            Its completed and stopped trials with a finite value count; failed and unfinished
            ones do not.
        metric: None for the study's value; another metric name uses the last value each
            trial reported for it.
        seed: seeds the forest's bootstrap samples (same seed, same shares).

    Raises:
        ValueError: with the reason there are no shares: fewer than two trials with a finite
            value, or all of them with the same value (nothing varies, so nothing can be
            credited to a parameter); the dashboard shows this reason in place of the chart.
    """
    if seed is not None and (not isinstance(seed, numbers.Integral) or isinstance(seed, bool)):
        raise ValueError(f"importance: seed must be an int or None, got seed={seed!r}")
    trials, values = finished_values(study, metric, "importance")
    if len(trials) < 2:
        raise ValueError(
            f"importance: needs at least 2 completed or stopped trials with a finite value, "
            f"the study has {len(trials)}")
    spread = max(values) - min(values)
    if not spread > 1e-12 * max(1.0, max(abs(v) for v in values)):  # rounding noise is no variance either
        what = "value" if metric is None or metric == getattr(study, "metric", None) else f"last {metric!r}"
        raise ValueError(f"importance: all {len(trials)} completed or stopped trials have the same {what} "
                         f"({values[0]:.6g}): there is no variation for any parameter to explain")
    space = as_space(study.space)
    X = np.array([[p.to_unit(t.params[n]) for n, p in space.items()] for t in trials])  # n x d
    shares = forest_main_effects(fit_forest(X, np.asarray(values), n_trees=64, seed=seed))
    if shares is not None:
        shares = np.where(shares > 1e-12, shares, 0.0)  # rounding noise of a parameter never cut
    if shares is None or not shares.sum() > 0:
        shares = np.ones(len(space))
    shares = shares / shares.sum()
    order = sorted(range(len(space)), key=lambda j: -shares[j])
    return {space.names[j]: float(shares[j]) for j in order}
