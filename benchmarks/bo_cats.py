"""Held-out problems with two or three categories, for the additive category kernel (issue 12).

The BO suite (benchmarks/problems.py) has one problem with more than one category
(``mixed_two_cats``), so a kernel change that only acts there cannot be judged on the suite.
These four problems were written in the thirteenth session before any screen of
``torchsearch.schedulers._gp.kernel.CAT_ADDITIVE`` was run, and are not tuned on:

- ``cats_independent``: two floats, a 5-way and a 3-way category, each category moving one
  float's optimum and adding an offset; no interaction (min 0);
- ``cats_table``: two floats and two 4-way categories; every pair has its own offset and its own
  optimum location, drawn once from a fixed generator (no additive structure at all; min 0);
- ``cats_three``: a log learning rate, a weight decay and three categories (optimizer, schedule,
  activation) shaped like a training recipe: the optimizer sets the best learning rate, the
  schedule shifts it, the activation sets the best weight decay, and one optimizer-schedule pair
  (sgd + step) is 0.15 better than its parts predict (min 0; adam + cosine is 0.05);
- ``cats_ints``: two integers (0-15) and a 2-way and a 5-way category; each category moves one
  integer's optimum, and two pairs interact (min 0).

    python benchmarks/bo_cats.py --seeds 20 --patch '{"torchsearch.schedulers._gp.kernel.CAT_ADDITIVE": 0.5}'

prints per problem the median regret and how many seeds got within 0.01 of the optimum, for
Bayes as it is, Random, and Bayes as patched (``--methods ... gp`` adds Optuna's GPSampler).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import warnings
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torchsearch as ts  # noqa: E402

_R = np.random.default_rng(20261130)
_TABLE_OFF = _R.uniform(0.0, 1.0, size=(4, 4))
_TABLE_OFF[2, 1] = 0.0
_TABLE_LOC = _R.uniform(-4.0, 4.0, size=(4, 4, 2))
_A = {"a": -3.0, "b": -1.0, "c": 0.5, "d": 2.0, "e": 3.5}
_A_OFF = {"a": 0.4, "b": 0.2, "c": 0.0, "d": 0.3, "e": 0.6}
_B = {"p": 2.5, "q": -2.0, "r": 0.0}
_B_OFF = {"p": 0.1, "q": 0.0, "r": 0.5}


def cats_independent(p: dict[str, Any]) -> float:
    return (p["x1"] - _A[p["c1"]]) ** 2 + (p["x2"] - _B[p["c2"]]) ** 2 + _A_OFF[p["c1"]] + _B_OFF[p["c2"]]


def cats_table(p: dict[str, Any]) -> float:
    i, j = "abcd".index(p["c1"]), "abcd".index(p["c2"])
    lx, ly = _TABLE_LOC[i, j]
    return 0.5 * ((p["x1"] - lx) ** 2 + (p["x2"] - ly) ** 2) + float(_TABLE_OFF[i, j])


_LR = {"sgd": -1.0, "adam": -3.0, "rmsprop": -3.5}
_SCHED = {"const": (0.0, 0.15), "cosine": (0.5, 0.0), "step": (0.3, 0.05)}
_WD = {"relu": -4.0, "gelu": -3.0, "tanh": -5.0}
_ACT_OFF = {"relu": 0.0, "gelu": 0.02, "tanh": 0.2}


_OPT_OFF = {"sgd": 0.05, "adam": 0.0, "rmsprop": 0.1}


def cats_three(p: dict[str, Any]) -> float:
    shift, s_off = _SCHED[p["sched"]]
    bonus = -0.15 if (p["opt"], p["sched"]) == ("sgd", "step") else 0.0
    lr = math.log10(p["lr"]) - (_LR[p["opt"]] + shift)
    wd = math.log10(p["wd"]) - _WD[p["act"]]
    return 0.3 * lr * lr + 0.05 * wd * wd + s_off + _ACT_OFF[p["act"]] + _OPT_OFF[p["opt"]] + bonus + 0.05


_I1 = {"u": 3, "v": 11}
_I2 = {"a": 2, "b": 5, "c": 8, "d": 11, "e": 14}
_PAIR = {("u", "c"): 0.0, ("v", "a"): 0.1}


def cats_ints(p: dict[str, Any]) -> float:
    base = 0.02 * (p["n1"] - _I1[p["k1"]]) ** 2 + 0.02 * (p["n2"] - _I2[p["k2"]]) ** 2
    return base + _PAIR.get((p["k1"], p["k2"]), 0.3)


_F = ts.Float(-5.0, 5.0)
PROBLEMS: dict[str, tuple[dict[str, ts.Parameter], Any, float, int]] = {
    "cats_independent": ({"x1": _F, "x2": _F, "c1": ts.Choice(list(_A)), "c2": ts.Choice(list(_B))},
                         cats_independent, 0.0, 60),
    "cats_table": ({"x1": _F, "x2": _F, "c1": ts.Choice(list("abcd")), "c2": ts.Choice(list("abcd"))},
                   cats_table, 0.0, 80),
    "cats_three": ({"lr": ts.Float(1e-5, 1.0, log=True), "wd": ts.Float(1e-7, 1e-1, log=True),
                    "opt": ts.Choice(list(_LR)), "sched": ts.Choice(list(_SCHED)), "act": ts.Choice(list(_WD))},
                   cats_three, 0.0, 80),
    "cats_ints": ({"n1": ts.Int(0, 15), "n2": ts.Int(0, 15), "k1": ts.Choice(list(_I1)), "k2": ts.Choice(list(_I2))},
                  cats_ints, 0.0, 60),
}


def run(job: tuple[str, str, int, dict[str, Any]]) -> dict[str, Any]:
    name, method, seed, constants = job
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    from bo_suite import patch

    if constants:
        patch(constants)
    space, f, opt, budget = PROBLEMS[name]
    vals: list[float] = []

    def rec(p: dict[str, Any]) -> float:
        vals.append(f(p))
        return vals[-1]

    if method == "gp":
        from bo_peers import METHODS

        METHODS["gp"][1](space, rec, budget, seed)
    else:
        sched = ts.schedulers.Random(seed=seed) if method == "random" else ts.schedulers.Bayes(seed=seed)
        ts.optimize(rec, space, scheduler=sched, n_trials=budget, seed=seed)
    return {"problem": name, "method": method, "seed": seed, "regret": max(min(vals) - opt, 0.0)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--patch", default="")
    ap.add_argument("--methods", nargs="+", default=["bayes", "random", "patch"],
                    help="of bayes, random, patch (Bayes as patched), gp (Optuna's GPSampler, ~3x slower)")
    ap.add_argument("--problems", nargs="+", default=list(PROBLEMS))
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    variants = [("bayes+patch", json.loads(a.patch)) if m == "patch" else (m, {})
                for m in a.methods if m != "patch" or a.patch]
    jobs = [(p, m.split("+")[0], s, c) for p in a.problems for m, c in variants for s in range(a.seeds)]
    labels = [m for p in a.problems for m, c in variants for s in range(a.seeds)]
    with Pool(a.jobs, maxtasksperchild=1) as pool:  # a fresh process per run: a patch stays in its run
        rows = pool.map(run, jobs, chunksize=1)
    print(f"median regret [found within 0.01 / seeds], seeds 0-{a.seeds - 1}; patch: {a.patch or '-'}")
    for p in a.problems:
        cells = []
        for m, _ in variants:
            r = [row["regret"] for row, lab in zip(rows, labels) if row["problem"] == p and lab == m]
            cells.append(f"{m} {statistics.median(r):.4g} [{sum(x < 0.01 for x in r)}/{len(r)}]")
        print(f"{p:18s} " + " | ".join(cells))


if __name__ == "__main__":
    main()
