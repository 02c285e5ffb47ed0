"""Warm start: Bayes on a zoomed space, warm-started from the first study or cold.

The babysitting loop of issue 16: a first study explores the whole space (Random, ``--first``
trials), ``ts.zoom(first, top=0.25)`` narrows the space around its best quarter, and a second
study of ``--second`` trials runs Bayes on the narrowed space, either cold or with
``warm_start=first`` (the first study's trials that lie inside the narrow space teach the GP
before its first suggestion). Each arm's regret (best value found by the second study minus the
optimum) is taken after 1, 5, 10 and all of its trials; the table shows the median over seeds,
and how many seeds the warm arm was better / equal / worse after all of them.

    python benchmarks/warmstart.py --seeds 5              # the RESULTS.md table
    python benchmarks/warmstart.py --seeds 1 --second 5   # a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torchsearch as ts  # noqa: E402
from benchmarks.problems import PROBLEMS  # noqa: E402
from torchsearch.schedulers import Bayes, Random  # noqa: E402

DEFAULT = ("branin", "hartmann3", "hartmann6", "styblinski_tang5", "mixed_log")


def _best_after(study: ts.Study, k: int) -> float:
    values = [t.value for t in sorted(study.trials, key=lambda t: t.number)[:k] if t.has_value()]
    return min(values)


def run(problem: str, seed: int, first: int, second: int) -> dict:
    p = PROBLEMS[problem]
    f = p.objective(seed)
    old = ts.optimize(f, p.space, scheduler=Random(seed=seed), n_trials=first, seed=seed, verbose=False)
    narrow = ts.zoom(old, top=0.25)
    out = {"problem": problem, "seed": seed, "first_best": old.best_trial.value - p.optimum}
    for arm, warm in (("cold", None), ("warm", old)):
        t0 = time.process_time()
        s = ts.optimize(f, narrow, scheduler=Bayes(seed=seed), n_trials=second, seed=seed, warm_start=warm,
                        verbose=False)
        out[f"{arm}_cpu"] = time.process_time() - t0
        out[arm] = {k: _best_after(s, k) - p.optimum for k in (1, 5, 10, second) if k <= second}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", nargs="*", default=list(DEFAULT))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first", type=int, default=30)
    ap.add_argument("--second", type=int, default=15)
    args = ap.parse_args()
    rows = [run(name, seed, args.first, args.second) for name in args.problems for seed in range(args.seeds)]
    ks = sorted(rows[0]["cold"])
    print(f"first study: Random, {args.first} trials; zoom(top=0.25); second study: Bayes, {args.second} trials; "
          f"{args.seeds} seeds; median regret (best found - optimum)")
    head = " | ".join(f"after {k}: cold / warm" for k in ks)
    print(f"| problem | first study | {head} | warm better/equal/worse at {ks[-1]} | CPU s cold / warm |")
    print("|---|---|" + "---|" * len(ks) + "---|---|")
    for name in args.problems:
        rs = [r for r in rows if r["problem"] == name]
        cells = []
        for k in ks:
            c = statistics.median(r["cold"][k] for r in rs)
            w = statistics.median(r["warm"][k] for r in rs)
            cells.append(f"{c:.3g} / {w:.3g}")
        last = ks[-1]
        wins = sum(r["warm"][last] < r["cold"][last] - 1e-9 for r in rs)
        losses = sum(r["warm"][last] > r["cold"][last] + 1e-9 for r in rs)
        cpu = (f"{statistics.median(r['cold_cpu'] for r in rs):.1f} / "
               f"{statistics.median(r['warm_cpu'] for r in rs):.1f}")
        first = statistics.median(r["first_best"] for r in rs)
        print(f"| {name} | {first:.3g} | " + " | ".join(cells)
              + f" | {wins}/{len(rs) - wins - losses}/{losses} | {cpu} |")


if __name__ == "__main__":
    main()
