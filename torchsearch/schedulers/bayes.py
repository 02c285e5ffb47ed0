"""Bayesian optimisation: a Gaussian-process surrogate and log Expected Improvement.

The orchestration lives here (what to model, when, and which point to hand out); the math
lives in the private ``_gp`` package (kernel, fit, posterior, acquisition, search).

One suggestion:

1. while fewer than ``n_startup`` trials have started, or no trial has a finite value yet,
   hand out the next scrambled Sobol point;
2. otherwise encode the finished trials (unit cube; integers at the centre of their slice;
   categories by index), standardise their losses (``+-inf`` clipped to the worst / best finite
   loss; failed and NaN trials left out), and fit the GP hyperparameters (warm-started from the
   previous fit; on at most ``max_fit_points`` observations, the best quarter plus a seeded
   random share of the rest);
3. add the running trials as fantasies (Kriging believer: the posterior mean; or a constant
   liar), so parallel workers get different points;
4. maximise LogEI over the space and return the best candidate that is not a finished or
   running trial.

Every random draw comes from a generator seeded by ``(seed, suggestion index)``, so the same
seed and the same history give the same suggestion, and a resumed study goes on as before.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
from scipy.stats import qmc

from ..space import Choice, Float, Space
from ._gp.acquisition import ei, log_ei
from ._gp.gp import Posterior, fit_hyperparameters
from ._gp.search import Columns, maximize
from .base import Scheduler

__all__ = ["Bayes", "Surrogate"]

Fantasy = Literal["believer", "min", "mean", "max"]
_FANTASIES = ("believer", "min", "mean", "max")
_MAX_CENTERS = 100_000  # ordered discrete parameters with more values are searched as floats


def _positive_int(owner: str, name: str, value: Any, low: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{owner}: {name} must be an int >= {low}, got {name}={value!r}")
    return value


class _Encoding:
    """Maps configurations of a space to encoded rows and back (see ``_gp.search.Columns``)."""

    def __init__(self, space: Space) -> None:
        self.space = space
        kinds, centers, sizes = [], [], []
        for p in space.values():
            card = p.cardinality
            if isinstance(p, Choice):
                kinds.append("cat"), centers.append(None), sizes.append(card)
            elif isinstance(p, Float) or card is None or card > _MAX_CENTERS:
                kinds.append("cont"), centers.append(None), sizes.append(0)
            else:
                c = np.array(sorted(p.to_unit(v) for v in p.grid(None)), dtype=float)
                kinds.append("disc"), centers.append(c), sizes.append(card)
        self.cols = Columns(kinds, centers, sizes)

    def encode(self, params: dict[str, Any]) -> np.ndarray:
        row = []
        for (name, p), kind in zip(self.space.items(), self.cols.kinds):
            row.append(float(p.index(params[name])) if kind == "cat" else p.to_unit(params[name]))
        return np.array(row, dtype=float)

    def decode(self, e: np.ndarray) -> dict[str, Any]:
        out = {}
        for (name, p), kind, x in zip(self.space.items(), self.cols.kinds, e):
            out[name] = p.values[int(x)] if kind == "cat" else p.from_unit(float(x))  # type: ignore[attr-defined]
        return self.space.clip(out)


class Surrogate:
    """A fitted GP over a space, read-only: what :class:`Bayes` would use for its next suggestion.

    ``predict(configs)`` gives the posterior mean and standard deviation of the study value
    (in the study's own units and direction); ``expected_improvement(configs)`` the EI of each
    configuration (in the same units); ``next_params`` the configuration that maximises it.
    """

    def __init__(self, bayes: Bayes, posterior: Posterior, mu: float, sd: float, best: float,
                 next_encoded: np.ndarray) -> None:
        self._enc = bayes._enc
        self._post = posterior
        self._mu, self._sd, self._best = mu, sd, best
        self._sign = 1.0 if bayes.mode == "min" else -1.0
        self.next_params = self._enc.decode(next_encoded)
        self.observed = [dict(p) for p in bayes._finished_params()]

    def _x(self, configs: list[dict[str, Any]]) -> torch.Tensor:
        return torch.from_numpy(np.stack([self._enc.encode(c) for c in configs]))

    def predict(self, configs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            m, v = self._post.mean_var(self._x(configs))
        mean = (m.numpy() * self._sd + self._mu) * self._sign
        return mean, np.sqrt(v.numpy()) * self._sd

    def expected_improvement(self, configs: list[dict[str, Any]]) -> np.ndarray:
        with torch.no_grad():
            m, v = self._post.mean_var(self._x(configs))
            return ei(m, v, self._best).numpy() * self._sd


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
        seed: the scheduler's seed (default: the study's).

    Integers and powers of two are modelled as ordered values at the centre of their slice of
    the unit interval and rounded to the nearest value inside the acquisition search;
    categories have their own kernel term and small sets of them are searched exhaustively.
    A suggestion is never a finished or running configuration; when a discrete space has no
    unseen point left, ``suggest()`` returns None.
    """

    def __init__(self, *, n_startup: int | None = None, n_candidates: int = 1024, n_restarts: int = 8,
                 fantasy: Fantasy = "believer", max_fit_points: int = 300, seed: int | None = None) -> None:
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

    # -- protocol ---------------------------------------------------------------------------
    def setup(self, space: Space, *, mode: Literal["min", "max"], seed: int | None = None) -> None:
        super().setup(space, mode=mode, seed=seed)
        self._enc = _Encoding(space)
        d = len(space)
        self._n_startup = self.n_startup if self.n_startup is not None else min(10, 2 * d + 1)
        self._sobol = qmc.Sobol(d, scramble=True, seed=np.random.default_rng(self.seed))
        self._sobol_pos = 0
        self._issued = 0
        self._params: dict[int, dict[str, Any]] = {}
        self._running: set[int] = set()
        self._loss: dict[int, float] = {}  # finished trials with a non-NaN loss
        self._keys: set[str] = set()
        self._theta: np.ndarray | None = None

    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        self._params[number] = dict(params)
        self._running.add(number)
        self._keys.add(self.space.key(params))

    def on_complete(self, number: int, value: float | None, state: str) -> None:
        self._running.discard(number)
        loss = self.loss(value)
        if state != "failed" and not math.isnan(loss) and number in self._params:
            self._loss[number] = loss

    def suggest(self) -> dict[str, Any] | None:
        i = max(self._issued, len(self._params))
        self._issued = i + 1
        rng = self._rng(i)
        if i < self._n_startup or not self._loss:
            params = self._sobol_point(i)
            if params is not None:
                return params
            if not self._loss:
                return self._random_unseen(rng)
        state = self._fit(rng)
        cands, _ = self._search(state, rng)
        for e in cands:
            params = self._enc.decode(e)
            if self.space.key(params) not in self._keys:
                return params
        return self._random_unseen(rng)

    def surrogate(self) -> Surrogate:
        """The GP (with running trials as fantasies) that the next suggestion would use.

        Needs at least one finished trial with a value. Does not change the scheduler.
        """
        if not self._loss:
            raise ValueError("Bayes.surrogate: needs at least one finished trial with a finite value, got none")
        i = max(self._issued, len(self._params))
        theta = self._theta
        state = self._fit(self._rng(i))
        self._theta = theta  # keep the warm start as it was: a query has no side effects
        cands, _ = self._search(state, self._rng(i))
        post, mu, sd, best = state
        return Surrogate(self, post, mu, sd, best, cands[0])

    def describe(self) -> str:
        return (f"Bayes(n_startup={self._n_startup if self._setup_done else self.n_startup}, "
                f"fantasy={self.fantasy!r}, seed={self.seed})")

    # -- internals --------------------------------------------------------------------------
    def _rng(self, i: int) -> np.random.Generator:
        if self.seed is None:
            return self.rng
        return np.random.default_rng([self.seed, i])

    def _finished_params(self) -> list[dict[str, Any]]:
        return [self._params[n] for n in sorted(self._loss)]

    def _sobol_point(self, i: int) -> dict[str, Any] | None:
        """The next Sobol point not yet tried (None after 64 repeats: a small discrete space)."""
        pos = max(self._sobol_pos, i)
        for _ in range(64):
            if pos != self._sobol.num_generated:
                self._sobol.reset()
                self._sobol.fast_forward(pos)
            u = self._sobol.random(1)[0]
            pos += 1
            params = self.space.from_unit(u)
            if self.space.key(params) not in self._keys:
                self._sobol_pos = pos
                return params
        self._sobol_pos = pos
        return None

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

    def _fit(self, rng: np.random.Generator) -> tuple[Posterior, float, float, float]:
        """Fit the GP to the finished trials, add fantasies; returns (posterior, mu, sd, best)."""
        numbers = sorted(self._loss)
        X = np.stack([self._enc.encode(self._params[n]) for n in numbers])
        y = np.array([self._loss[n] for n in numbers], dtype=float)
        finite = np.isfinite(y)
        if finite.any():
            lo, hi = y[finite].min(), y[finite].max()
            y = np.where(np.isposinf(y), hi, np.where(np.isneginf(y), lo, y))
        else:
            y = np.zeros_like(y)
        mu = float(y.mean())
        sd = float(y.std())
        if not sd > 0 or not math.isfinite(sd):
            sd = 1.0
        ys = (y - mu) / sd
        cat = torch.from_numpy(self._enc.cols.mask("cat"))
        Xt, yt = torch.from_numpy(X), torch.from_numpy(ys)
        idx = np.arange(len(ys))
        if len(ys) > self.max_fit_points:
            order = np.argsort(ys, kind="stable")
            n_best = self.max_fit_points // 4
            rest = rng.choice(order[n_best:], size=self.max_fit_points - n_best, replace=False)
            idx = np.sort(np.concatenate([order[:n_best], rest]))
        theta = fit_hyperparameters(Xt[idx], yt[idx], cat, init=self._theta)
        self._theta = theta
        post = Posterior(Xt, yt, torch.from_numpy(theta), cat)
        best = float(ys.min())
        pending = [self._params[n] for n in sorted(self._running)]
        if pending:
            Xp = torch.from_numpy(np.stack([self._enc.encode(p) for p in pending]))
            if self.fantasy == "believer":
                with torch.no_grad():
                    yp = post.mean_var(Xp)[0]
            else:
                lie = {"min": ys.min(), "mean": ys.mean(), "max": ys.max()}[self.fantasy]
                yp = torch.full((len(pending),), float(lie), dtype=torch.float64)
            post = post.condition(Xp, yp)
        return post, mu, sd, best

    def _search(self, state: tuple[Posterior, float, float, float],
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        post, _, _, best = state

        def acq(x: torch.Tensor) -> torch.Tensor:
            m, v = post.mean_var(x)
            return log_ei(m, v, best)

        n_obs = len(self._loss)
        anchors = post.X[:n_obs][torch.argsort(post.y[:n_obs])[:5]].numpy()
        return maximize(acq, self._enc.cols, rng, n_candidates=self.n_candidates,
                        n_restarts=self.n_restarts, anchors=anchors)
