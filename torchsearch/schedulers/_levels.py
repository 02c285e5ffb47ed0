"""Multi-fidelity levels (BOHB, Falkner et al. 2018): at which rung a model-based scheduler
fits its model when the study has a pruner, and each trial's loss there.

Used by :class:`~torchsearch.schedulers.tpe.TPE` and :class:`~torchsearch.schedulers.bayes.Bayes`.
A *level* is a rung step, or "past the last rung" (``math.inf``: the trials that finished beyond
it, with their final loss). The model sits at the highest level that at least ``need`` trials
reached; a trial's loss at a rung is its report at the rung (the first at or past the rung's
step, as the pruner records it). Finished trials that ended below the level (pruned earlier)
are returned apart, those that reached further first, for the caller to rank behind the others.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["Levelled", "levelled"]


class Levelled(NamedTuple):
    level: float       # the rung step the model sits at, or math.inf (past the last rung)
    y: np.ndarray      # each row's loss at the level; NaN when it has none there
    below: np.ndarray  # rows of finished trials that ended below the level, reached furthest first


def levelled(rungs: Sequence[int], final: np.ndarray, reports: Mapping[int, Mapping[int, float]],
             need: int) -> Levelled:
    """Levels of ``n = len(final)`` rows.

    Args:
        rungs: the pruner's rung steps.
        final: each row's final loss; NaN while it runs (or when it failed).
        reports: row -> step -> loss of the reports seen (rows at or past ``n`` are ignored).
        need: how many trials a level needs to be modelled at; the lowest rung is used when none
            has enough.
    """
    rungs = sorted(rungs)
    n = len(final)
    finished = ~np.isnan(final)
    # a finished trial that never reported (warm start, a bare tell) counts as trained in full
    reached = np.where(finished, np.iinfo(np.int64).max, -1)
    for r, rep in reports.items():
        if r < n and rep:
            reached[r] = max(rep)
    levels: list[tuple[float, np.ndarray]] = [(m, reached >= m) for m in rungs]
    levels.append((math.inf, finished & (reached > (rungs[-1] if rungs else -1))))  # past the last rung
    at, mask = levels[0]
    for level, m in reversed(levels):
        if m.sum() >= need:
            at, mask = level, m
            break
    y = np.full(n, math.nan)
    for r in np.flatnonzero(mask):
        rep = reports.get(int(r))
        if at == math.inf or not rep:
            y[r] = final[r]
        else:
            y[r] = rep[min(s for s in rep if s >= at)]
    below = np.flatnonzero(finished & ~mask)
    below = below[np.argsort(-reached[below], kind="stable")]  # reached further: better
    return Levelled(at, y, below)


def training_set(rungs: Sequence[int] | None, losses: Mapping[int, float],
                 reports: Mapping[int, Mapping[int, float]], need: int,
                 pruned: str = "worst") -> tuple[list[int], np.ndarray]:
    """What a model keyed by trial number is fitted to: ``(numbers, losses)``.

    Without rungs (or before any report) the finished trials and their final losses
    (``losses``: trial number -> loss, finished trials only). With rungs, the trials that reached
    the model's level (running ones included) with their loss there, and, with
    ``pruned="worst"``, the finished trials pruned below the level at the worst loss seen at the
    level (they lost to the ones that went on); ``pruned="omit"`` leaves them out.
    """
    if not rungs or not reports:
        numbers = sorted(losses)
        return numbers, np.array([losses[n] for n in numbers], dtype=float)
    numbers = sorted(set(losses) | set(reports))
    row = {n: i for i, n in enumerate(numbers)}
    final = np.array([losses.get(n, math.nan) for n in numbers], dtype=float)
    lv = levelled(rungs, final, {row[n]: rep for n, rep in reports.items()}, need)
    rows = np.flatnonzero(~np.isnan(lv.y))
    if not len(rows):  # no trial has a value at any level yet: the finished ones as they ended
        return training_set(None, losses, reports, need)
    y = lv.y[rows]
    if pruned == "worst" and len(lv.below):
        finite = y[np.isfinite(y)]
        worst = float(finite.max()) if len(finite) else float(y.max())
        rows = np.concatenate([rows, lv.below])
        y = np.concatenate([y, np.full(len(lv.below), worst)])
    return [numbers[int(r)] for r in rows], y


def fidelity_set(rungs: Sequence[int] | None, losses: Mapping[int, float],
                 reports: Mapping[int, Mapping[int, float]]) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The epoch as a model input (the alternative to a model per rung): ``(numbers, s, y)``,
    one row per trial and rung it reached, and one more at its last step for a trial that
    finished past its highest rung. ``y``: the trial's best loss up to that step (the rung's
    step, or the last one; a finished trial's last row has its final loss); ``s``: the step
    as a fidelity in ``[0, 1]``, ``log(step) / log(top)``, where ``top`` is the furthest step
    reported when a trial went past the last rung, else ``reduction`` times the last rung (the
    rungs' own ratio; twice the last rung when there is one rung). A finished trial without
    reports (warm start, a bare tell) has one row at ``s = 1``. Rows are grouped by trial,
    in trial order."""
    rungs = sorted(rungs or ())
    furthest = max((max(rep) for rep in reports.values() if rep), default=0)
    if rungs and furthest <= rungs[-1]:
        ratio = rungs[-1] / rungs[-2] if len(rungs) > 1 else 2.0
        top = max(rungs[-1] * ratio, 2.0)
    else:
        top = max(furthest, 2.0)
    numbers: list[int] = []
    s: list[float] = []
    y: list[float] = []
    for n in sorted(set(losses) | set(reports)):
        rep = reports.get(n) or {}
        steps = sorted(rep)
        best, i = math.inf, 0
        last_rung = None
        for m in rungs:
            while i < len(steps) and steps[i] < m:
                best = min(best, rep[steps[i]])
                i += 1
            if i == len(steps):
                break
            at = steps[i]
            numbers.append(n)
            s.append(math.log(at) / math.log(top))
            y.append(min(best, rep[at]))
            last_rung = at
        if n in losses and (not steps or steps[-1] != last_rung):
            numbers.append(n)
            s.append(1.0 if not steps else min(1.0, math.log(max(steps[-1], 1)) / math.log(top)))
            y.append(losses[n])
    return numbers, np.array(s, dtype=float), np.array(y, dtype=float)


# -- Bayes with the epoch as a GP input (``Bayes(rung_model="input")``, its default) --------
class FullFidelity:
    """A GP posterior over ``(params, s)`` read at full fidelity, ``s = 1``: what log EI and
    :class:`~torchsearch.schedulers._gp.surrogate.Surrogate` see (``mean_var`` of the params alone)."""

    def __init__(self, post) -> None:  # noqa: ANN001 (a _gp.gp.Posterior)
        self.post = post

    def mean_var(self, x):  # noqa: ANN001, ANN201 (torch tensors)
        import torch

        return self.post.mean_var(torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1))


def fidelity_fit(b, rng: np.random.Generator):  # noqa: ANN001, ANN201 (a Bayes; its _fit's triple)
    """``Bayes._fit`` with the epoch as an input: the GP is fitted to :func:`fidelity_set`'s rows
    (every rung of every trial), the fidelity a last, continuous column; EI's threshold is the
    lowest posterior mean at ``s = 1`` over the trials seen; running and paused trials are
    fantasised at ``s = 1``. Returns ``(FullFidelity(posterior), warp, best)``; the search's
    anchors (the trials seen, best at ``s = 1`` first) are left in ``b._anchors``."""
    import torch

    from ._gp.gp import Posterior, fit_hyperparameters

    numbers, s, y = fidelity_set(b.rungs, b._loss, b._reports)
    b._n_fit = len(numbers)
    X = np.column_stack([np.stack([b._rows[n] for n in numbers]), s])
    warp, ys = b._targets(y)
    cat = torch.from_numpy(np.append(b._enc.cols.mask("cat"), False))
    Xt, yt = torch.from_numpy(X), torch.from_numpy(ys)
    idx = b._fit_rows(ys, rng)
    init = b._theta if b._theta is not None and len(b._theta) == X.shape[1] + 2 else None
    theta = fit_hyperparameters(Xt[idx], yt[idx], cat, init=init)
    b._theta = theta
    post = Posterior(Xt, yt, torch.from_numpy(theta), cat)
    seen = sorted(set(numbers))
    Xs = torch.from_numpy(np.column_stack([np.stack([b._rows[n] for n in seen]), np.ones(len(seen))]))
    with torch.no_grad():
        at_full = post.mean_var(Xs)[0]
    best = float(at_full.min())
    b._anchors = Xs[torch.argsort(at_full)[:5], :-1].numpy()
    pending = sorted(b._running)
    if pending:
        Xp = torch.from_numpy(np.column_stack([np.stack([b._rows[n] for n in pending]), np.ones(len(pending))]))
        post = b._fantasise(post, Xp, ys)
    return FullFidelity(post), warp, best


def fidelity_search(b, state, rng: np.random.Generator):  # noqa: ANN001, ANN201 (a Bayes; its _search's pair)
    """``Bayes._search`` at full fidelity: log EI over the space's own columns, the fidelity
    column held at 1; anchors and the revert target from :func:`fidelity_fit`."""
    import torch

    from . import bayes as _bayes
    from ._gp.acquisition import log_ei
    from ._gp.fast import log_ei_with_grad
    from ._gp.search import maximize

    full, _, best = state

    def acq(x: torch.Tensor) -> torch.Tensor:
        m, v = full.mean_var(x)
        return log_ei(m, v, best)

    widened = log_ei_with_grad(full.post, best)

    def acq_grad(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        v, g = widened(np.column_stack([x, np.ones(len(x))]))
        return v, g[:, :-1]

    anchors = b._anchors
    return maximize(acq, acq_grad, b._enc.cols, rng, n_candidates=b.n_candidates, n_restarts=b.n_restarts,
                    anchors=anchors, revert_tol=_bayes.REVERT_TOL, revert_edge=_bayes.REVERT_EDGE,
                    revert_to=b._revert_target(anchors, rng), revert_cols=None)
