"""Objectives that fail on part of the box: how many trials each scheduler wastes there.

A learning rate that is too high makes the loss NaN; the trial fails. A model-based scheduler
that leaves failed trials out of its model keeps suggesting that region (it looks unexplored).
Three objectives, fixed before measuring: one float that fails above 0.5; a log learning rate
that diverges above 0.1 (optimum at 10^-1.5, near the edge); a learning rate times a width that
diverges above 8 (the boundary runs across two inputs). Each scheduler gets ``--trials`` trials
per seed; the table gives the trials that finished (of ``--trials``, per seed) and the median
over seeds of the best value found. Optuna's GPSampler and TPESampler run in the same run, on
the same objectives (a NaN return marks an Optuna trial FAIL, as a NaN loss fails ours).

    python benchmarks/failed_trials.py               # the RESULTS.md table (5 seeds, 30 trials)
    python benchmarks/failed_trials.py --seeds 1     # a smoke run
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torchsearch as ts  # noqa: E402
from benchmarks.bo_peers import optuna_suggest  # noqa: E402
from torchsearch.schedulers import TPE, Bayes, Random  # noqa: E402


def fails_above_half(p):
    return math.nan if p["x"] > 0.5 else p["x"]


def diverges_at_high_lr(p):
    if p["lr"] > 0.1:
        return math.nan
    return (math.log10(p["lr"]) + 1.5) ** 2 + (p["m"] - 0.5) ** 2


def diverges_at_high_lr_times_width(p):
    if p["lr"] * p["w"] > 8:
        return math.nan
    return (math.log10(p["lr"]) + 1) ** 2 + (math.log2(p["w"]) - 7) ** 2 / 10 + (p["m"] - 0.9) ** 2


PROBLEMS = {
    "fails above 0.5 (1 float)": (fails_above_half, {"x": ts.Float(0, 1)}),
    "lr diverges > 0.1 (2 floats)": (diverges_at_high_lr,
                                     {"lr": ts.Float(1e-4, 1.0, log=True), "m": ts.Float(0, 1)}),
    "lr x width diverges > 8 (3)": (diverges_at_high_lr_times_width,
                                    {"lr": ts.Float(1e-4, 1.0, log=True), "w": ts.PowerOfTwo(16, 1024),
                                     "m": ts.Float(0, 1)}),
}


def ours(cls):
    def run(f, space, seed, n):
        st = ts.optimize(f, space, scheduler=cls(seed=seed), n_trials=n, seed=seed, verbose=False)
        done = [t.value for t in st.trials if t.state == "completed"]
        return len(done), min(done) if done else math.inf
    return run


def optuna_(kind):
    def run(f, space, seed, n):
        import optuna
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        sampler = (optuna.samplers.GPSampler(seed=seed) if kind == "gp" else
                   optuna.samplers.TPESampler(seed=seed))
        study = optuna.create_study(sampler=sampler)

        study.optimize(lambda trial: f(optuna_suggest(trial, space)), n_trials=n)
        done = [t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        return len(done), min(done) if done else math.inf
    return run


METHODS = {"ts Bayes": ours(Bayes), "ts TPE": ours(TPE), "ts Random": ours(Random),
           "Optuna GP": optuna_("gp"), "Optuna TPE": optuna_("tpe")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=30)
    args = ap.parse_args()
    print(f"{args.trials} trials per run, seeds 0-{args.seeds - 1}: trials finished per seed; median best value")
    print(f"{'problem':30s} {'method':11s} {'finished':22s} {'median best':>12s} {'s/run':>6s}")
    for name, (f, space) in PROBLEMS.items():
        for label, run in METHODS.items():
            try:
                t0 = time.perf_counter()
                res = [run(f, space, seed, args.trials) for seed in range(args.seeds)]
                dt = (time.perf_counter() - t0) / args.seeds
            except ImportError as e:
                print(f"{name:30s} {label:11s} skipped ({e})")
                continue
            finished = ", ".join(str(r[0]) for r in res)
            print(f"{name:30s} {label:11s} {finished:22s} {statistics.median(r[1] for r in res):12.4g} {dt:6.1f}")


if __name__ == "__main__":
    main()
