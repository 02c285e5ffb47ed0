"""Does the GP know where the better basin is? A probe at the end of a suite run (issue 12).

For each problem and seed: run ``Bayes`` as the suite does, take the incumbent (the best
observation), and along every input's line through it (the other inputs held) find the true
minimum of the objective. Where that line minimum is clearly better than the incumbent (a
coordinate left in the wrong basin), ask two models fitted to the SAME observations what they
predict there: ours (``Bayes``' own fit, as it would suggest next) and BoTorch's default
``SingleTaskGP`` (the suite's peer). If neither predicts an improvement, the model is not what
keeps a run in the wrong basin: with the same data BoTorch's model is as blind, and BoTorch's
lead must come from the data its own run collects.

    python benchmarks/bo_basin_probe.py --problems styblinski_tang5 rastrigin4 int_styblinski6 --seeds 5
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from problems import PROBLEMS  # noqa: E402


def probe(problem: str, seed: int, min_gain: float) -> dict:
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    import torchsearch as ts
    from torchsearch.schedulers import Bayes
    from torchsearch.schedulers._gp.acquisition import log_ei

    pb = PROBLEMS[problem]
    names = list(pb.space)
    sch = Bayes(seed=seed)
    study = ts.optimize(pb.objective(seed), pb.space, scheduler=sch, n_trials=pb.budget, seed=seed, verbose=False)
    trials = sorted(study.trials, key=lambda t: t.number)
    post, warp, best = sch._fit(np.random.default_rng(0))
    X = post.X[:sch._n_fit].numpy()
    y = np.array([t.value for t in trials])
    assert len(y) == len(X), "one row per trial (no pruner)"
    inc = int(np.argmin(y))
    x0 = X[inc]
    f0 = pb.true(trials[inc].params)
    cand, vals = sch._search((post, warp, best), np.random.default_rng(1))
    bt = SingleTaskGP(torch.from_numpy(X), torch.from_numpy(-y).unsqueeze(-1), outcome_transform=Standardize(m=1))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(bt.likelihood, bt))
    grid = np.linspace(0.0, 1.0, 401)
    lines = []
    for j, n in enumerate(names):
        L = np.repeat(x0[None], len(grid), 0)
        L[:, j] = grid
        tv = np.array([pb.true(dict(zip(names, [pb.space[m].from_unit(float(v)) for m, v in zip(names, row)])))
                       for row in L])
        k = int(np.argmin(tv))
        if f0 - tv[k] < min_gain:
            continue
        pts = torch.from_numpy(np.stack([L[k], x0]))
        with torch.no_grad():
            m, v = post.mean_var(pts)
            a = float(log_ei(m[:1], v[:1], best)[0])
            bm = bt.posterior(pts).mean.numpy().ravel()  # of -loss
        lines.append({"input": n, "gain": float(f0 - tv[k]), "ours_sees": bool(m[0] < m[1]), "ours_logei": a,
                      "botorch_sees": bool(bm[0] > bm[1])})
    return {"problem": problem, "seed": seed, "regret": float(f0 - pb.optimum) if pb.optimum is not None else None,
            "search_logei": float(vals[0]), "lines": lines}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", nargs="+", default=["styblinski_tang5", "rastrigin4", "int_styblinski6"],
                    choices=[p for p, pb in PROBLEMS.items() if pb.optimum is not None and not pb.noise])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--min-gain", type=float, default=1.0, help="a line minimum this much better counts")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(1)
    for p in args.problems:
        n_lines = n_ours = n_bt = 0
        for s in range(args.seeds):
            r = probe(p, s, args.min_gain)
            n_lines += len(r["lines"])
            n_ours += sum(ln["ours_sees"] for ln in r["lines"])
            n_bt += sum(ln["botorch_sees"] for ln in r["lines"])
            desc = "; ".join(f"{ln['input']} {ln['gain']:.1f} better (ours {'sees' if ln['ours_sees'] else 'blind'}, "
                             f"log EI {ln['ours_logei']:.1f}; BoTorch {'sees' if ln['botorch_sees'] else 'blind'})"
                             for ln in r["lines"]) or "no input's line has a better minimum"
            print(f"{p} seed {s}: regret {r['regret']:.3g}; the search's best log EI {r['search_logei']:.1f}; {desc}",
                  flush=True)
        print(f"{p}: {n_lines} lines with a better minimum; our model predicts the improvement on {n_ours}, "
              f"BoTorch's on the same data on {n_bt}\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
