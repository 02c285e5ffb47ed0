"""Parameter importance: torchsearch's fANOVA against Optuna's evaluators and the true shares.

Three synthetic problems with mixed parameter kinds; each is sampled at random (``n`` trials,
three sampling seeds), and the same trials go to

- ``ts``: ``torchsearch.importance`` (fANOVA main effects, 64-tree numpy forest),
- ``optuna-fanova``: Optuna's ``FanovaImportanceEvaluator`` (scikit-learn forest, 64 trees),
- ``optuna-ped``: Optuna's ``PedAnovaImportanceEvaluator`` (top 10% against all trials).

``truth`` is the first-order (main-effect) variance share of each parameter, computed from the
function itself by numerical integration over the space's unit cube (the measure both fANOVA
implementations assume), normalised to sum to 1. Reported per problem and ``n``: the mean
shares over the sampling seeds, the L1 distance to the truth (0 = exact, 2 = disjoint), whether
the ranking of the top parameter matches, and seconds per evaluation.

    python benchmarks/importance_check.py            # n = 50 and 200, 3 seeds
    python benchmarks/importance_check.py --n 100 --seeds 5

Needs optuna and scikit-learn (``pip install "torchsearch[bench]"``).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

import torchsearch as ts  # noqa: E402
from torchsearch.schedulers import Random  # noqa: E402


def additive(p):
    """Strong log-lr bowl, weak log-width slope, act and batch unused."""
    return (math.log10(p["lr"]) + 3) ** 2 + 0.5 * math.log2(p["width"])


ACT = {"relu": 0.0, "tanh": 3.0, "gelu": 0.5, "silu": 1.0}


def category(p):
    """A 4-way category decides; dropout matters some, layers little, momentum not at all."""
    return ACT[p["act"]] + 2.0 * p["dropout"] + 0.05 * p["layers"]


def branin(p):
    """Branin on (x1, x2), with strong interactions; x3 unused."""
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


PROBLEMS: dict[str, tuple[Callable, dict]] = {
    "additive": (additive, {"lr": ts.Float(1e-5, 1.0, log=True), "width": ts.Int(1, 64, log=True),
                            "act": ts.Choice(["relu", "tanh", "gelu"]), "batch": ts.PowerOfTwo(8, 256)}),
    "category": (category, {"act": ts.Choice(list(ACT)), "dropout": ts.Float(0.0, 0.5),
                            "layers": ts.Int(1, 8), "momentum": ts.Float(0.0, 0.99)}),
    "branin": (branin, {"x1": ts.Float(-5.0, 10.0), "x2": ts.Float(0.0, 15.0), "x3": ts.Float(0.0, 1.0)}),
}


def true_shares(f, space: ts.Space, *, grid: int = 64, inner: int = 4096, seed: int = 0) -> dict[str, float]:
    """Var(E[f | x_j]) / sum_k Var(E[f | x_k]) over the unit cube, by numerical integration."""
    rng = np.random.default_rng(seed)
    others = rng.random((inner, len(space)))
    shares = {}
    for j, name in enumerate(space):
        means = []
        for u in (np.arange(grid) + 0.5) / grid:
            pts = others.copy()
            pts[:, j] = u
            means.append(np.mean([f(space.from_unit(x)) for x in pts[:: max(1, inner // 1024)]]))
        shares[name] = float(np.var(means))
    total = sum(shares.values())
    return {n: v / total for n, v in shares.items()}


def optuna_study(study, space: ts.Space):
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    def dist(p):
        if isinstance(p, ts.Float):
            return FloatDistribution(p.low, p.high, log=p.log)
        if isinstance(p, ts.Int):
            return IntDistribution(p.low, p.high, log=p.log, step=p.step)
        if isinstance(p, ts.PowerOfTwo):
            return IntDistribution(p.low, p.high, log=True)
        return CategoricalDistribution(p.values)

    dists = {n: dist(p) for n, p in space.items()}
    out = optuna.create_study(direction="minimize")
    out.add_trials([optuna.trial.create_trial(params=t.params, distributions=dists, value=t.value)
                    for t in study.trials if t.has_value()])
    return out


def timed(fn):
    t0 = time.perf_counter()
    r = fn()
    return r, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[50, 200])
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator, get_param_importances

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    methods = {
        "ts": lambda st, op, s: ts.importance(st, seed=s),
        "optuna-fanova": lambda st, op, s: get_param_importances(op, evaluator=FanovaImportanceEvaluator(seed=s)),
        "optuna-ped": lambda st, op, s: get_param_importances(op, evaluator=PedAnovaImportanceEvaluator()),
    }
    warm = ts.optimize(branin, PROBLEMS["branin"][1], scheduler=Random(seed=0), n_trials=10, seed=0)
    for fn in methods.values():  # imports and first-call costs stay out of the timings
        fn(warm, optuna_study(warm, ts.Space(PROBLEMS["branin"][1])), 0)
    for pname, (f, raw) in PROBLEMS.items():
        space = ts.Space(raw)
        truth = true_shares(f, space)
        names = list(space)
        print(f"\n{pname}: truth " + "  ".join(f"{n}={truth[n]:.3f}" for n in names))
        for n in args.n:
            rows: dict[str, dict[str, list]] = {m: {"shares": [], "l1": [], "top": [], "sec": []} for m in methods}
            for seed in range(args.seeds):
                st = ts.optimize(f, space, scheduler=Random(seed=seed), n_trials=n, seed=seed)
                op = optuna_study(st, space)
                for m, fn in methods.items():
                    shares, sec = timed(lambda: fn(st, op, seed))
                    vec = np.array([shares.get(k, 0.0) for k in names])
                    rows[m]["shares"].append(vec)
                    rows[m]["l1"].append(float(np.abs(vec - [truth[k] for k in names]).sum()))
                    rows[m]["top"].append(max(shares, key=shares.get) == max(truth, key=truth.get))
                    rows[m]["sec"].append(sec)
            for m, r in rows.items():
                mean = np.mean(r["shares"], axis=0)
                print(f"  n={n:<4d} {m:<14s} " + "  ".join(f"{k}={v:.3f}" for k, v in zip(names, mean))
                      + f"   L1 {statistics.mean(r['l1']):.3f}  top right {sum(r['top'])}/{len(r['top'])}"
                      + f"  {statistics.median(r['sec']):.2f} s")


if __name__ == "__main__":
    main()
