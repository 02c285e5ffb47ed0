"""Is the GP's noise variance stuck, or is interpolation the MAP? (RESULTS.md, BO item 13)

For each problem and seed 0-2: 30 and 80 random points, the objective as the optimiser sees it
(noisy problems: with their noise), warped and standardised as ``Bayes`` does; the MAP fit from
the default start (prior medians, noise 1e-6), against the best of four fits started at noise
1e-4, 1e-3, 1e-2 and 1e-1. Prints the fitted noise, median lengthscale and -log posterior of
each (lower is better).

    python benchmarks/bo_noisefit.py hartmann6_noisy branin_noisy styblinski_tang5_noisy
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torchsearch as ts  # noqa: E402
from problems import PROBLEMS  # noqa: E402
from torchsearch.schedulers._gp import gp  # noqa: E402
from torchsearch.schedulers._gp.warp import OutputWarp  # noqa: E402

torch.set_num_threads(1)
for name in sys.argv[1:]:
    pb = PROBLEMS[name]
    space = ts.Space(pb.space)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        f = pb.objective(seed)
        for n in (30, 80):
            xs = [space.sample(rng) for _ in range(n)]
            X = np.array([[space[k].to_unit(x[k]) for k in space] for x in xs])
            y = np.array([f(x) for x in xs])
            w = OutputWarp(y); ys = w(y)
            Xt, yt = torch.from_numpy(X), torch.from_numpy(ys)
            cat = torch.zeros(X.shape[1], dtype=torch.bool)
            D = gp.pair_terms(Xt, cat)
            th0 = gp.fit_hyperparameters(Xt, yt, cat)
            v0 = gp.neg_log_posterior_and_grad(torch.from_numpy(th0), D, yt)[0]
            best = None
            for ln in (-9.2, -6.9, -4.6, -2.3):
                init = gp.default_theta(X.shape[1]); init[-1] = ln
                th = gp.fit_hyperparameters(Xt, yt, cat, init=init)
                v = gp.neg_log_posterior_and_grad(torch.from_numpy(th), D, yt)[0]
                if best is None or v < best[0]: best = (v, th)
            d = X.shape[1]
            print(f"{name} seed {seed} n {n}: default start noise {math.exp(th0[-1]):.2g} ls {np.median(np.exp(th0[:d])):.2g} map {v0:.2f} | multi {math.exp(best[1][-1]):.2g} ls {np.median(np.exp(best[1][:d])):.2g} map {best[0]:.2f} | noise var / var(y), raw units {pb.noise**2/np.var(y):.2g}")
