"""Tree-structured Parzen Estimator (Bergstra et al. 2011), multivariate by default (as
Falkner et al. 2018 and Optuna's ``multivariate=True``).

The orchestration lives here (which trials are good, running trials, start-up, repeats); the
math lives in the private ``_tpe`` package (encoding of the space, Parzen estimators).

One suggestion:

1. while fewer than ``n_startup`` trials have started, or no trial has a value yet, hand out
   the next scrambled Sobol point not tried yet;
2. otherwise sort the finished trials by loss (NaN values and interrupted trials left out;
   ``+-inf`` kept, ranked last / first) and split them: the best ``min(ceil(gamma * n),
   max_good)`` are "good", the rest "bad"; failed trials join the bad group among its worst (so
   that a region where trials fail, a learning rate that diverges, is not where l(x) / g(x)
   is largest), and so do running trials (a constant liar at the worst value), so that
   parallel workers are pushed away from each other's points;
3. fit a Parzen estimator to each group, l(x) to the good, g(x) to the bad (one joint kernel
   per trial over all parameters, or one estimator per parameter with
   ``multivariate=False``; each kernel's bandwidth per parameter is the distance to its
   farther neighbour in that group, bounded below; in g, a trial weighs by its rank, the
   worst most), draw ``n_candidates`` points from l and return the one with the largest
   l(x) / g(x) that is not a finished or running configuration.

Compared with Optuna's TPESampler (whose ideas these are): l's bandwidths may shrink further
(to ``1 / (3 n_good + 2)`` of the range instead of ``1 / (n_good + 2)``), g weighs its trials by
rank instead of by age, and 64 candidates are scored instead of 24; the three were chosen
together on test functions and seeds kept apart from the benchmark's (see
``benchmarks/RESULTS.md``, TPE).

**With a pruner** (BOHB, Falkner et al. 2018): the study tells the scheduler the steps where the
pruner compares trials (:meth:`Scheduler.set_rungs`), and TPE learns from the reports at those
rungs, not only from finished trials. The model is fitted at the highest *level* (a rung, or
"past the last rung") that at least ``max(d + 2, n_startup // 2)`` trials have reached (``d``
parameters), each trial's loss there being its report at the rung (the first at or past its
step), or its value past the last rung; finished trials
that stopped below the level (pruned earlier) join the bad group behind the others, as Optuna's
TPE ranks pruned trials; running trials below it stay constant liars. So pruned trials teach the
model while the higher rungs are thin, and the model moves up as trials are promoted.

Every random draw comes from a generator seeded by ``(seed, suggestion index)``, so the same
seed and the same history give the same suggestion, and a resumed study goes on as before.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from ..space import Space
from ._tpe.encoding import Encoding
from ._tpe.parzen import Parzen
from .base import QUIET_ALWAYS, Decision, Scheduler, CONTINUE
from ._startup import SobolStart
from ._levels import levelled

__all__ = ["TPE"]


def _int_arg(name: str, value: Any, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"TPE: {name} must be an int >= {low}, got {name}={value!r}")
    return value


def _floor(n: int) -> float:
    """Smallest bandwidth (share of the range) of an estimator of ``n`` kernels, as Optuna's
    "magic clip": wide while evidence is thin, never below 1% of the range."""
    return 1.0 / min(100.0, n + 2.0)


def _float_arg(name: str, value: Any, low: float, high: float, allowed: str) -> float:
    if (not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value)
            or not low < value <= high):
        raise ValueError(f"TPE: {name} must be a number in {allowed}, got {name}={value!r}")
    return float(value)


class TPE(Scheduler):
    """Tree-structured Parzen Estimator.

    Args:
        n_startup: scrambled Sobol points handed out before the model takes over.
        seed: the scheduler's seed (default: the study's).
        gamma: share of the finished trials that form the good group ...
        max_good: ... at most this many (Optuna's default split: ``min(ceil(0.1 n), 25)``).
        n_candidates: points drawn from l(x) per suggestion; the best l/g wins.
        multivariate: one joint kernel per trial over all parameters (captures interactions);
            ``False`` models each parameter alone (the original TPE).
        prior_weight: weight of the broad prior kernel in each estimator (each trial's kernel
            weighs 1); keeps every region reachable.
        bandwidth: multiplies every kernel's bandwidths (below 1: sharper, more exploiting).

    Floats are modelled on their unit scale (the logarithm for ``log=True``); integers and
    powers of two with up to 128 values by a kernel integrated over each value's slice (a
    PowerOfTwo on its exponent, a log-scaled Int on the logarithm), larger ones as floats
    rounded by the space; categories by a kernel that favours the observed category. A
    suggestion is never a finished or running configuration; when a discrete space has no
    unseen point left, ``suggest()`` returns None.
    """

    learns_from_history = True  # warm_start replays earlier studies' trials (Scheduler.warm_start)

    def __init__(self, n_startup: int = 10, seed: int | None = None, *, gamma: float = 0.1, max_good: int = 25,
                 n_candidates: int = 64, multivariate: bool = True, prior_weight: float = 1.0,
                 bandwidth: float = 1.0) -> None:
        super().__init__(seed=seed)
        self.n_startup = _int_arg("n_startup", n_startup, 0)
        self.gamma = _float_arg("gamma", gamma, 0.0, 1.0, "(0, 1]")
        self.max_good = _int_arg("max_good", max_good, 1)
        self.n_candidates = _int_arg("n_candidates", n_candidates, 1)
        if not isinstance(multivariate, bool):
            raise ValueError(f"TPE: multivariate must be True or False, got multivariate={multivariate!r}")
        self.multivariate = multivariate
        self.prior_weight = _float_arg("prior_weight", prior_weight, 0.0, math.inf, "(0, inf)")
        self.bandwidth = _float_arg("bandwidth", bandwidth, 0.0, math.inf, "(0, inf)")

    # -- protocol ---------------------------------------------------------------------------
    def setup(self, space: Space, *, mode: Literal["min", "max"], seed: int | None = None) -> None:
        super().setup(space, mode=mode, seed=seed)
        self._enc = Encoding(space)
        self._views = [self._enc.view] if self.multivariate else self._enc.view.columns()
        self._sobol = SobolStart(space, self.seed)
        self._issued = 0
        # one row per trial, in the order they started: encoded params, loss (NaN: none yet,
        # failed, or interrupted), running or not, failed or not
        self._X = np.zeros((64, len(space)))
        self._y = np.full(64, math.nan)
        self._busy = np.zeros(64, dtype=bool)
        self._failed = np.zeros(64, dtype=bool)
        self._at: dict[int, int] = {}  # trial number -> its row
        self._keys: set[str] = set()
        self._reports: dict[int, dict[int, float]] = {}  # with rungs: row -> step -> loss

    def on_report(self, number: int, step: int, value: float) -> Decision:
        r = self._at.get(number)
        if r is not None and self.rungs:
            self._reports.setdefault(r, {})[step] = self.loss(value)
        return CONTINUE

    def quiet_reports(self, number: int) -> int:
        return QUIET_ALWAYS  # it only listens

    def on_restore(self, number: int, step: int, values: dict[int, float]) -> None:
        r = self._at.get(number)
        if r is not None and self.rungs:
            self._reports[r] = {s: self.loss(v) for s, v in values.items()}

    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        r = self._at.get(number)
        if r is None:
            r = self._at[number] = len(self._at)
            if r == len(self._X):  # grow the rows by doubling
                self._X = np.vstack([self._X, np.zeros_like(self._X)])
                self._y = np.append(self._y, np.full(r, math.nan))
                self._busy = np.append(self._busy, np.zeros(r, dtype=bool))
                self._failed = np.append(self._failed, np.zeros(r, dtype=bool))
        self._X[r] = self._enc.encode(params)
        self._y[r] = math.nan
        self._busy[r] = True
        self._failed[r] = False
        self._reports.pop(r, None)
        self._keys.add(self.space.key(params))

    def on_complete(self, number: int, value: float | None, state: str) -> None:
        r = self._at.get(number)
        if r is None:
            return
        self._busy[r] = False
        # a failed trial joins the bad group (``_split``); an interrupted trial's partial value is
        # left out: the study runs it again
        if state in ("completed", "stopped"):
            self._y[r] = self.loss(value)
        else:
            self._failed[r] = state == "failed"
            self._reports.pop(r, None)

    def suggest(self) -> dict[str, Any] | None:
        i = max(self._issued, len(self._at))
        self._issued = i + 1
        rng = self.suggestion_rng(i)
        split = None if i < self.n_startup else self._split()
        if split is None or len(split[0]) == 0:
            params = self._sobol.point(i, self._keys)
            return params if params is not None else self._random_unseen(rng)
        cands = self._candidates(rng, split)
        for row in cands:
            params = self._enc.decode(row)
            if self.space.key(params) not in self._keys:
                return params
        return self._random_unseen(rng)

    def describe(self) -> str:
        return (f"TPE(n_startup={self.n_startup}, gamma={self.gamma}, n_candidates={self.n_candidates}, "
                f"multivariate={self.multivariate}, seed={self.seed})")

    # -- internals --------------------------------------------------------------------------
    def _split(self) -> tuple[np.ndarray, np.ndarray]:
        """Encoded rows of the good group (best first) and of the bad group (best first,
        trials pruned below the model's level next, then failed trials, running trials last: a
        constant liar at the worst value)."""
        n = len(self._at)
        y, below = self._levelled(n) if self.rungs and self._reports else (self._y[:n], np.zeros(0, dtype=int))
        done = np.flatnonzero(~np.isnan(y))
        done = done[np.argsort(y[done], kind="stable")]  # ties: the earlier trial first
        n_good = min(max(math.ceil(self.gamma * len(done)), 1), self.max_good)
        busy = np.flatnonzero(self._busy[:n] & np.isnan(y))
        failed = np.flatnonzero(self._failed[:n] & np.isnan(y))
        bad = np.concatenate([done[n_good:], below, failed, busy])
        return self._X[done[:n_good]], self._X[bad]

    def _levelled(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(y, below)``: each trial's loss at the model's level (NaN when it has none there),
        and the finished trials that ended below the level, those that reached furthest first (see ``_levels``)."""
        need = max(len(self.space) + 2, self.n_startup // 2, 1)  # (2 or 4 times d + 2 did worse: RESULTS.md)
        lv = levelled(self.rungs or (), self._y[:n], self._reports, need)
        return lv.y, lv.below

    def _candidates(self, rng: np.random.Generator, split: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Candidate rows drawn from l(x), best l(x) / g(x) first (``n_candidates x d``), given
        the good and bad groups (:meth:`_split`)."""
        good, bad = split
        d, m = len(self.space), self.n_candidates
        kw = {"prior_weight": self.prior_weight, "factor": self.bandwidth}
        # g weighs each bad trial by its rank (1/n for the best of them ... 1 for the worst and
        # the running ones), so the trials just outside the good group push l's proposals away
        # less than the clearly bad ones
        rank = np.arange(1, len(bad) + 1) / max(len(bad), 1)
        # l's bandwidths may shrink to 1 / (3 n_good + 2) of the range: the good group is small
        # (10% of the trials) and a floor of 1 / (n_good + 2), as for g, kept it from homing in
        pairs = [(Parzen(good, v, floor=_floor(3 * len(good)), **kw),
                  Parzen(bad, v, floor=_floor(len(bad)), weights=rank, **kw)) for v in self._views]
        cands = np.zeros((m, d))
        for (l, _), v in zip(pairs, self._views):
            cols = v.indices
            cands[:, cols] = l.sample(m, rng, d)[:, cols]
        score = np.zeros(m)
        for l, g in pairs:
            score += l.log_pdf(cands) - g.log_pdf(cands)
        return cands[np.argsort(-score, kind="stable")]

    def _random_unseen(self, rng: np.random.Generator) -> dict[str, Any] | None:
        """A random configuration not tried yet; None when a discrete space has none left."""
        if self._enc.n_points() <= 20_000:
            grid = list(self.space.grid())
            for k in rng.permutation(len(grid)):
                if self.space.key(grid[k]) not in self._keys:
                    return self.space.clip(grid[k])
            return None
        for _ in range(1000):
            params = self.space.sample(rng)
            if self.space.key(params) not in self._keys:
                return params
        return None  # pragma: no cover - a continuous space never runs out
