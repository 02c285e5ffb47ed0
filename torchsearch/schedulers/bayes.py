"""Bayesian optimisation: a Gaussian-process surrogate and log Expected Improvement.

The orchestration lives here (what to model, when, and which point to hand out); the math
lives in the private ``_gp`` package (kernel, fit, posterior, acquisition, search).

One suggestion:

1. while fewer than ``n_startup`` trials have started, or no trial has a finite value yet,
   hand out the next scrambled Sobol point;
2. otherwise encode the finished trials (unit cube; integers at the centre of their slice;
   categories by index), standardise their losses (``+-inf`` clipped to the worst / best finite
   loss, ``+inf`` and failed trials to ``FAILED_QUANTILE`` of the finite losses, so that a region
   where trials fail (a learning rate that diverges) is not suggested again and again, while a
   good region beside it keeps its shape; interrupted trials and NaN values left out; a heavy bad tail compressed, see ``_gp.warp``), and fit the GP hyperparameters (warm-started from the
   previous fit; on at most ``max_fit_points`` observations, the best quarter plus a seeded
   random share of the rest);
3. add the running trials as fantasies (Kriging believer: the posterior mean; or a constant
   liar), so parallel workers get different points;
4. maximise LogEI over the space and return the best candidate that is not a finished or
   running trial; in a space with categories, when the best log EI has collapsed below
   ``EXPLORE_BELOW`` (-10: the model sees nothing left to gain, which on a trap category means
   it never looked inside the right one), a random point not tried yet instead.

With a pruner (``set_rungs``), step 2 learns from the rungs, not only from finished trials: by
default the epoch is one more GP input (``_levels.fidelity_fit``: a row per trial and rung it
reached, the fidelity ``log(step) / log(max epochs)``; EI is maximised at full fidelity), which
beat the alternative on the pruning benchmark; ``Bayes(rung_model="level")`` fits one GP at a rung,
as BOHB does (``_levels.training_set``, shared with TPE): the highest rung that
``max(d + 2, n_startup // 2)`` trials have reached, each trial at its report there, and trials
pruned below that rung at the worst loss seen at it. Either way the GP starts as soon as a rung
has values, so paused and pruned trials teach it before any trial finishes. Without a pruner
nothing changes.

Every random draw comes from a generator seeded by ``(seed, suggestion index)``, so the same
seed and the same history give the same suggestion, and a resumed study goes on as before.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch

from ..space import Space
from ._gp.acquisition import log_ei
from ._gp.fast import log_ei_with_grad
from ._gp.gp import NOISY_PRIOR, Posterior, fit_hyperparameters, gls_constant
from ._gp.search import maximize
from ._gp.surrogate import Surrogate, _Encoding
from ._gp.threads import one_thread as _one_thread
from ._gp.warp import OutputWarp
from .base import QUIET_ALWAYS, CONTINUE, Decision, Scheduler
from ._startup import SobolStart
from ._levels import FullFidelity, fidelity_fit, fidelity_search, fidelity_set, training_set

__all__ = ["Bayes", "Surrogate"]

Fantasy = Literal["believer", "min", "mean", "max"]
_FANTASIES = ("believer", "min", "mean", "max")
RungModel = Literal["input", "level"]
_RUNG_MODELS = ("input", "level")
# log EI a suggestion may give up to keep a float off the bound it drifted to along an input
# the GP thinks irrelevant (``_gp.search._revert_indifferent``)
REVERT_TOL = 0.05
# only coordinates that end within this of a bound are reverted (0.5: any move), and they go to
# the incumbent's value ("incumbent"), not back to where their refinement started ("start"): the
# BO suite, all 23 problems x 5 seeds, against reverting every move to its start (RESULTS.md,
# third session): noisy Branin 0.041 -> 0.021, noisy Styblinski-Tang5 25 -> 17, geometric mean
# ratio 0.85; at or below GPSampler's median on 19 problems instead of 17
REVERT_EDGE = 0.01
# EI's threshold: "observed" (the lowest standardised loss), "mean" (the lowest posterior mean
# at an observed point: under noise the lowest loss is a lucky draw), or "auto" (the mean when
# the fitted noise variance exceeds NOISE_NEGLIGIBLE of the standardised losses' variance, 1)
INCUMBENT = "observed"
NOISE_NEGLIGIBLE = 1e-3
# the noise model: "map" (one MAP fit under the near-interpolation noise prior of ``_gp.gp``) or
# "loo" (also a fit under BoTorch's noise prior, log-normal median e^-4; the one whose posterior
# mean predicts each left-out observation better, by mean squared error, is used)
NOISE_SELECT = "map"
REVERT_TO = "incumbent"
# sd (unit cube) of a normal jitter added to the incumbent's value in a revert (0: the value
# itself), so that an input the revert keeps resetting still varies a little and the GP can learn it
REVERT_JITTER = 0.0
# where a failed trial (or a loss of +inf) goes, as a quantile of the finite losses: at 1.0 (the
# worst) the cliff beside a good region made the GP's fit there poor (benchmarks/failed_trials.py,
# RESULTS.md "Failed trials": the learning rate that diverges past 0.1, best 0.058 against 1.4e-5)
FAILED_QUANTILE = 0.9
# EI collapsed (issue 12, fifth session; None: off): when the best log EI is below this, the
# suggestion is a uniformly random unseen point instead. On the trap category (mixed_trap) EI fell
# to e^-13 while 20 trials repeated a shallow bowl's minimum; with -10 in spaces with categories
# 3 of 5 seeds find the hidden well (0.8 -> 0.017), 21 of the suite's 23 problems are unchanged,
# mixed_log loses some polishing (6.4e-6 -> 2.3e-4); RESULTS.md, BO fifth session, item 25
EXPLORE_BELOW: float | None = -10.0
EXPLORE_ONLY_CATS = True  # only in a space with categories: a float-only one keeps polishing
# the GP's constant prior mean, its GLS value: "profile" (default since v44 of the BO suite) in the
# one fit, as BoTorch fits its ConstantMean; "refit" (v43) after a first fit; False: zero (v33)
CONST_MEAN: str | bool = "profile"
# screened and not adopted (see RESULTS.md, third session):
REVERT_MIN_LS = 0.0  # only inputs whose fitted lengthscale (unit cube) is at least this are reverted


def _positive_int(owner: str, name: str, value: Any, low: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{owner}: {name} must be an int >= {low}, got {name}={value!r}")
    return value


class Bayes(Scheduler):
    """Bayesian optimisation with a Gaussian process (Matern-5/2, ARD) and log Expected Improvement.

    Args:
        n_startup: Sobol points handed out before the GP takes over
            (default ``min(10, 2 * d + 1)`` for ``d`` parameters).
        n_candidates: quasi-random points scored per suggestion before gradient refinement.
        n_restarts: how many of the best candidates are refined by L-BFGS-B.
        fantasy: what running trials are assumed to return while the next point is chosen:
            ``"believer"`` (the GP's own prediction, Kriging believer), or a constant liar at
            the ``"min"``, ``"mean"`` or ``"max"`` of the observed losses.
        max_fit_points: observations used to fit the kernel hyperparameters; past this many,
            the best quarter and a seeded random share of the rest are used (the posterior
            still conditions on all of them).
        warp: when the worst loss is more than 4 sd above the mean, compress the bad tail with
            a Yeo-Johnson power transform fitted to the losses before standardising, so a few
            very bad trials do not flatten the model where the good ones are.
        rung_model: with a pruner (ignored without one), how the GP learns from the rungs:
            ``"input"`` (the default) makes the epoch one more GP input, a row per trial and rung
            it reached, and maximises EI at full fidelity; ``"level"`` fits one GP at the highest
            rung that enough trials reached, each trial at its report there (BOHB's way). The
            default won on the pruning benchmark (``benchmarks/RESULTS.md``, Pruning).
        seed: the scheduler's seed (default: the study's).

    Integers and powers of two are modelled as ordered values at the centre of their slice of
    the unit interval and rounded to the nearest value inside the acquisition search;
    categories have their own kernel term and small sets of them are searched exhaustively.
    A suggestion is never a finished or running configuration; when a discrete space has no
    unseen point left, ``suggest()`` returns None.
    """

    learns_from_history = True  # warm_start replays earlier studies' trials (Scheduler.warm_start)

    def __init__(self, *, n_startup: int | None = None, n_candidates: int = 512, n_restarts: int = 5,
                 fantasy: Fantasy = "believer", max_fit_points: int = 300, warp: bool = True,
                 rung_model: RungModel = "input", seed: int | None = None) -> None:
        super().__init__(seed=seed)
        if n_startup is not None:
            _positive_int("Bayes", "n_startup", n_startup)
        self.n_startup = n_startup
        self.n_candidates = _positive_int("Bayes", "n_candidates", n_candidates)
        self.n_restarts = _positive_int("Bayes", "n_restarts", n_restarts)
        if fantasy not in _FANTASIES:
            raise ValueError(f"Bayes: fantasy must be one of {_FANTASIES}, got fantasy={fantasy!r}")
        self.fantasy = fantasy
        self.max_fit_points = _positive_int("Bayes", "max_fit_points", max_fit_points, low=2)
        if not isinstance(warp, bool):
            raise ValueError(f"Bayes: warp must be True or False, got warp={warp!r}")
        self.warp = warp
        if rung_model not in _RUNG_MODELS:
            raise ValueError(f"Bayes: rung_model must be one of {_RUNG_MODELS}, got rung_model={rung_model!r}")
        self.rung_model = rung_model
        self._pruned = "worst"  # with a pruner, trials pruned below the model's level: "worst" or "omit"

    # -- protocol ---------------------------------------------------------------------------
    def setup(self, space: Space, *, mode: Literal["min", "max"], seed: int | None = None) -> None:
        super().setup(space, mode=mode, seed=seed)
        self._enc = _Encoding(space)
        d = len(space)
        self._n_startup = self.n_startup if self.n_startup is not None else min(10, 2 * d + 1)
        self._sobol = SobolStart(space, self.seed)
        self._issued = 0
        self._params: dict[int, dict[str, Any]] = {}
        self._running: set[int] = set()
        # completed / stopped trials with a non-NaN loss, and failed ones at +inf (fitted at
        # FAILED_QUANTILE of the finite losses: ``_targets``)
        self._loss: dict[int, float] = {}
        self._failed: set[int] = set()
        self._keys: set[str] = set()
        self._rows: dict[int, np.ndarray] = {}  # encoded params, by trial number
        self._theta: np.ndarray | None = None
        self._theta_noisy: np.ndarray | None = None
        self._reports: dict[int, dict[int, float]] = {}  # with rungs: trial -> step -> loss

    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        self._params[number] = dict(params)
        self._rows[number] = self._enc.encode(params)
        self._running.add(number)
        self._keys.add(self.space.key(params))
        self._reports.pop(number, None)
        self._loss.pop(number, None)  # a trial run again (a retry) has no result yet
        self._failed.discard(number)

    # with a pruner (BOHB-like): the GP is fitted at the highest rung enough trials reached
    # (``_levels``), so pruned trials teach it too
    def on_report(self, number: int, step: int, value: float) -> Decision:
        if self.rungs and number in self._params:
            self._reports.setdefault(number, {})[step] = self.loss(value)
        return CONTINUE

    def quiet_reports(self, number: int) -> int:
        return QUIET_ALWAYS  # it only listens

    def on_restore(self, number: int, step: int, values: dict[int, float]) -> None:
        if self.rungs and number in self._params:
            self._reports[number] = {s: self.loss(v) for s, v in values.items()}

    def on_complete(self, number: int, value: float | None, state: str) -> None:
        self._running.discard(number)
        loss = self.loss(value)
        # an interrupted trial's partial value is left out: the study runs it again
        if state in ("completed", "stopped") and not math.isnan(loss) and number in self._params:
            self._loss[number] = loss
        else:
            if state == "failed" and number in self._params:
                # fitted as a bad loss (``_targets``); with a pruner at full fidelity (reports dropped)
                self._loss[number] = math.inf
                self._failed.add(number)
            self._reports.pop(number, None)

    def suggest(self) -> dict[str, Any] | None:
        with _one_thread():
            return self._suggest()

    def _suggest(self) -> dict[str, Any] | None:
        i = max(self._issued, len(self._params))
        self._issued = i + 1
        rng = self.suggestion_rng(i)
        fit = self._has_value() or bool(self.rungs and self._reports and self._training()[0])
        if i < self._n_startup or not fit:
            params = self._sobol.point(i, self._keys)
            if params is not None:
                return params
            if not fit:
                return self._random_unseen(rng)
        state = self._fit(rng)
        cands, vals = self._search(state, rng)
        if (EXPLORE_BELOW is not None and vals[0] < EXPLORE_BELOW
                and (not EXPLORE_ONLY_CATS or self._enc.cols.mask("cat").any())):
            return self._random_unseen(rng)
        for e in cands:
            params = self._enc.decode(e)
            if self.space.key(params) not in self._keys:
                return params
        return self._random_unseen(rng)

    def surrogate(self) -> Surrogate:
        """The GP (with running trials as fantasies) that the next suggestion would use.

        Needs at least one finished trial with a value. Does not change the scheduler.
        """
        if not self._has_value():
            raise ValueError("Bayes.surrogate: needs at least one finished trial with a finite value, got none")
        i = max(self._issued, len(self._params))
        theta, noisy = self._theta, self._theta_noisy
        with _one_thread():
            state = self._fit(self.suggestion_rng(i))
            self._theta, self._theta_noisy = theta, noisy  # keep the warm starts: a query has no side effects
            cands, _ = self._search(state, self.suggestion_rng(i))
        post, warp, best = state
        sign = 1.0 if self.mode == "min" else -1.0
        observations = [(dict(self._params[n]), self._loss[n] * sign) for n in sorted(self._loss)
                        if n not in self._failed]
        return Surrogate(self._enc, post, warp=warp, best=best, sign=sign,
                         next_params=self._enc.decode(cands[0]), observations=observations)

    def describe(self) -> str:
        return (f"Bayes(n_startup={self._n_startup if self._setup_done else self.n_startup}, "
                f"fantasy={self.fantasy!r}, seed={self.seed})")

    # -- internals --------------------------------------------------------------------------
    def _has_value(self) -> bool:
        """Whether a finished trial has a value the GP can be fitted to (a failed one has not)."""
        return any(n not in self._failed for n in self._loss)

    def _random_unseen(self, rng: np.random.Generator) -> dict[str, Any] | None:
        cols = self._enc.cols
        if cols.n_points() <= 100_000:
            for e in rng.permutation(cols.grid()):
                params = self._enc.decode(e)
                if self.space.key(params) not in self._keys:
                    return params
            return None
        for _ in range(1000):
            params = self.space.sample(rng)
            if self.space.key(params) not in self._keys:
                return params
        return None  # pragma: no cover - a continuous space never runs out

    def _training(self) -> tuple[list[int], np.ndarray]:
        """Trial numbers and losses the GP is fitted to: the finished trials, or with a pruner
        the trials at the highest rung enough of them reached (``_levels.training_set``)."""
        if self.rung_model == "input" and self.rungs and self._reports:
            numbers, _, y = fidelity_set(self.rungs, self._loss, self._reports)
            return numbers, y
        need = max(len(self.space) + 2, self._n_startup // 2)
        return training_set(self.rungs, self._loss, self._reports, need, self._pruned)

    def _fit(self, rng: np.random.Generator) -> tuple[Posterior, OutputWarp, float]:
        """Fit the GP to the finished trials, add fantasies; returns (posterior, warp, best)."""
        if self.rung_model == "input" and self.rungs and self._reports:
            return fidelity_fit(self, rng)  # type: ignore[return-value]
        numbers, y = self._training()
        self._n_fit = len(numbers)  # the posterior's first rows are these; fantasies follow
        X = np.stack([self._rows[n] for n in numbers])
        warp, ys = self._targets(y)
        cat = torch.from_numpy(self._enc.cols.mask("cat"))
        Xt, yt = torch.from_numpy(X), torch.from_numpy(ys)
        idx = self._fit_rows(ys, rng)
        theta = fit_hyperparameters(Xt[idx], yt[idx], cat, init=self._theta, const_mean=CONST_MEAN == "profile")
        if CONST_MEAN:
            c = gls_constant(Xt[idx], yt[idx], theta, cat)
            warp.offset(c)
            ys = ys - c
            yt = torch.from_numpy(ys)
            if CONST_MEAN != "profile":
                theta = fit_hyperparameters(Xt[idx], yt[idx], cat, init=theta)
        self._theta = theta
        if NOISE_SELECT == "loo":
            noisy = fit_hyperparameters(Xt[idx], yt[idx], cat, init=self._theta_noisy, noise_prior=NOISY_PRIOR)
            self._theta_noisy = noisy
            loo = [Posterior(Xt[idx], yt[idx], torch.from_numpy(t), cat).loo_mse() for t in (theta, noisy)]
            if loo[1] < loo[0]:
                theta = noisy
        post = Posterior(Xt, yt, torch.from_numpy(theta), cat)
        d = X.shape[1]
        if INCUMBENT == "mean" or (INCUMBENT == "auto" and math.exp(theta[d + 1]) > NOISE_NEGLIGIBLE):
            with torch.no_grad():
                best = float(post.mean_var(Xt)[0].min())
        else:
            best = float(ys.min())
        pending = sorted(self._running - set(numbers))  # (a running trial may have a value at the level)
        if pending:
            post = self._fantasise(post, torch.from_numpy(np.stack([self._rows[n] for n in pending])), ys)
        return post, warp, best

    # -- steps of a fit shared with the epoch-as-input fit (_levels.fidelity_fit) ---------------
    def _targets(self, y: np.ndarray) -> tuple[OutputWarp, np.ndarray]:
        """The losses as the GP sees them: ``-inf`` at the best finite loss, ``+inf`` (a failed
        trial) at ``FAILED_QUANTILE`` of the finite losses (all zero when none is finite), then
        warped; returns ``(warp, warped losses)``."""
        finite = np.isfinite(y)
        if finite.any():
            lo, fail = y[finite].min(), np.quantile(y[finite], FAILED_QUANTILE)
            y = np.where(np.isposinf(y), fail, np.where(np.isneginf(y), lo, y))
        else:
            y = np.zeros_like(y)
        warp = OutputWarp(y) if self.warp else OutputWarp.identity(y)
        return warp, warp(y)

    def _fit_rows(self, ys: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Indices of the rows the hyperparameters are fitted on: all of them, or past
        ``max_fit_points`` the best quarter and a seeded draw of the rest."""
        if len(ys) <= self.max_fit_points:
            return np.arange(len(ys))
        order = np.argsort(ys, kind="stable")
        n_best = self.max_fit_points // 4
        rest = rng.choice(order[n_best:], size=self.max_fit_points - n_best, replace=False)
        return np.sort(np.concatenate([order[:n_best], rest]))

    def _fantasise(self, post: Posterior, Xp: torch.Tensor, ys: np.ndarray) -> Posterior:
        """``post`` conditioned on the running trials at ``Xp``, each at its fantasy value."""
        if self.fantasy == "believer":
            with torch.no_grad():
                yp = post.mean_var(Xp)[0]
        else:
            lie = {"min": ys.min(), "mean": ys.mean(), "max": ys.max()}[self.fantasy]
            yp = torch.full((len(Xp),), float(lie), dtype=torch.float64)
        return post.condition(Xp, yp)

    def _revert_target(self, anchors: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """Where the bound revert puts a float coordinate back: the incumbent's value, plus a
        normal jitter of sd ``REVERT_JITTER`` (kept inside the box). (Restricting the jitter to
        inputs with a short lengthscale, screened in the fifth session as ``REVERT_JITTER_LS`` /
        ``REVERT_JITTER_C``, was rejected and removed: RESULTS.md, items 21-24.)"""
        if REVERT_TO != "incumbent" or not len(anchors):
            return None
        target = anchors[0].astype(float)
        if REVERT_JITTER > 0:
            cont = self._enc.cols.mask("cont")
            moved = target[cont] + REVERT_JITTER * rng.standard_normal(int(cont.sum()))
            target[cont] = np.clip(moved, 2 * REVERT_EDGE, 1.0 - 2 * REVERT_EDGE)
        return target

    def _search(self, state: tuple[Posterior, OutputWarp, float],
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(state[0], FullFidelity):
            return fidelity_search(self, state, rng)
        post, _, best = state

        def acq(x: torch.Tensor) -> torch.Tensor:
            m, v = post.mean_var(x)
            return log_ei(m, v, best)

        acq_grad = log_ei_with_grad(post, best)  # numpy: the refinement's small batches
        n_obs = self._n_fit  # the observed rows (with a pruner: the rung's, not len(self._loss))
        anchors = post.X[:n_obs][torch.argsort(post.y[:n_obs])[:5]].numpy()
        return maximize(acq, acq_grad, self._enc.cols, rng, n_candidates=self.n_candidates,
                        n_restarts=self.n_restarts, anchors=anchors, revert_tol=REVERT_TOL, revert_edge=REVERT_EDGE,
                        revert_to=self._revert_target(anchors, rng),
                        revert_cols=(post.inv_ls.numpy() <= 1.0 / REVERT_MIN_LS) if REVERT_MIN_LS > 0 else None)
