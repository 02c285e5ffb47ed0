"""Issue 14 item 4's alternative, measured against the model per rung: Bayes with the epoch as a
GP input (benchmarks/pruning.py, part b, rows "Bayes+Hyperband epoch as input").

``FidelityBayes`` is :class:`~torchsearch.schedulers.Bayes` whose GP sees one more input, the
fidelity ``s = log(step) / log(top)`` (``_levels.fidelity_set``): one row per trial and rung it
reached (its best loss up to there) plus a finished trial's last step, so every rung of every
trial teaches one model. Suggestions maximise log EI at full fidelity (``s = 1``): the search
runs over the space's own columns, the fidelity column fixed at 1; EI's threshold is the lowest
posterior mean at ``s = 1`` over the trials seen; running (and paused) trials are fantasised at
``s = 1``. Everything else is Bayes's own (fit, warp, search, revert).
"""

from __future__ import annotations

import numpy as np
import torch

from torchsearch.schedulers import bayes as _bayes
from torchsearch.schedulers._gp.fast import log_ei_with_grad
from torchsearch.schedulers._gp.gp import Posterior, fit_hyperparameters
from torchsearch.schedulers._gp.search import maximize
from torchsearch.schedulers._gp.warp import OutputWarp
from torchsearch.schedulers._gp.acquisition import log_ei
from torchsearch.schedulers._levels import fidelity_set


class FidelityBayes(_bayes.Bayes):
    def _fidelity(self) -> bool:
        return bool(self.rungs and self._reports)

    def _training(self):
        if not self._fidelity():
            return super()._training()
        numbers, _, y = fidelity_set(self.rungs, self._loss, self._reports)
        return numbers, y

    def _fit(self, rng: np.random.Generator):
        if not self._fidelity():
            self._fid = False
            return super()._fit(rng)
        self._fid = True
        numbers, s, y = fidelity_set(self.rungs, self._loss, self._reports)
        self._n_fit = len(numbers)
        X = np.column_stack([np.stack([self._rows[n] for n in numbers]), s])
        finite = np.isfinite(y)
        if finite.any():
            lo, hi = y[finite].min(), y[finite].max()
            y = np.where(np.isposinf(y), hi, np.where(np.isneginf(y), lo, y))
        else:
            y = np.zeros_like(y)
        warp = OutputWarp(y) if self.warp else OutputWarp.identity(y)
        ys = warp(y)
        cat = torch.from_numpy(np.append(self._enc.cols.mask("cat"), False))
        Xt, yt = torch.from_numpy(X), torch.from_numpy(ys)
        idx = np.arange(len(ys))
        if len(ys) > self.max_fit_points:
            order = np.argsort(ys, kind="stable")
            n_best = self.max_fit_points // 4
            rest = rng.choice(order[n_best:], size=self.max_fit_points - n_best, replace=False)
            idx = np.sort(np.concatenate([order[:n_best], rest]))
        theta = self._theta if self._theta is not None and len(self._theta) == X.shape[1] + 2 else None
        theta = fit_hyperparameters(Xt[idx], yt[idx], cat, init=theta)
        self._theta = theta
        post = Posterior(Xt, yt, torch.from_numpy(theta), cat)
        seen = sorted(set(numbers))
        Xs = torch.from_numpy(np.column_stack([np.stack([self._rows[n] for n in seen]), np.ones(len(seen))]))
        with torch.no_grad():
            mean_full = post.mean_var(Xs)[0]
        best = float(mean_full.min())
        self._anchors = Xs[torch.argsort(mean_full)[:5], :-1].numpy()
        pending = sorted(self._running)
        if pending:
            Xp = torch.from_numpy(np.column_stack([np.stack([self._rows[n] for n in pending]), np.ones(len(pending))]))
            if self.fantasy == "believer":
                with torch.no_grad():
                    yp = post.mean_var(Xp)[0]
            else:
                lie = {"min": ys.min(), "mean": ys.mean(), "max": ys.max()}[self.fantasy]
                yp = torch.full((len(pending),), float(lie), dtype=torch.float64)
            post = post.condition(Xp, yp)
        return post, warp, best

    def _search(self, state, rng: np.random.Generator):
        if not getattr(self, "_fid", False):
            return super()._search(state, rng)
        post, _, best = state

        def acq(x: torch.Tensor) -> torch.Tensor:
            m, v = post.mean_var(torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1))
            return log_ei(m, v, best)

        full = log_ei_with_grad(post, best)

        def acq_grad(x: np.ndarray):
            v, g = full(np.column_stack([x, np.ones(len(x))]))
            return v, g[:, :-1]

        anchors = self._anchors
        return maximize(acq, acq_grad, self._enc.cols, rng, n_candidates=self.n_candidates,
                        n_restarts=self.n_restarts, anchors=anchors, revert_tol=_bayes.REVERT_TOL,
                        revert_edge=_bayes.REVERT_EDGE,
                        revert_to=anchors[0] if _bayes.REVERT_TO == "incumbent" and len(anchors) else None,
                        revert_cols=None)
