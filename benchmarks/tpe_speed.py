"""TPE: seconds per suggestion, and final regret against Optuna's TPESampler.

Two parts, each optional:

- ``speed``: median milliseconds per ``TPE.suggest()`` with ``n`` finished trials already told
  (random configurations with their values), on a 6-float box, a 7-parameter mixed space
  (log float, float, step int, log int, power of two, two categories) and a 20-float box;
  every suggestion is then told, so ``n`` grows by the number of repeats.
- ``quality``: final simple regret ``min f(x_t) - f*`` of ``ts.optimize(f, space,
  scheduler=TPE(n_startup=10, seed=s), n_trials=B, seed=s)`` and of Optuna's
  ``TPESampler(n_startup_trials=10, seed=s)`` (its defaults otherwise: univariate) on
  standard functions with their budgets ``B``, seeds ``0 .. seeds-1``; median and IQR per
  problem and a count of the problems where our median is <= Optuna's.

One thread for BLAS, as in ``benchmarks/bo_suite.py``.

    python benchmarks/tpe_speed.py                      # both parts
    python benchmarks/tpe_speed.py --parts speed
    python benchmarks/tpe_speed.py --parts quality --seeds 5 --problems branin mixed
    python benchmarks/tpe_speed.py --parts quality --tpe '{"gamma": 0.15}'   # other TPE options
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import torchsearch as ts  # noqa: E402
from torchsearch.schedulers import TPE  # noqa: E402
from torchsearch.space import Space  # noqa: E402

warnings.filterwarnings("ignore")


# -- problems (usual domains, optima moved off-centre where the function is symmetric) --------
def branin(p: dict[str, Any]) -> float:
    x1, x2 = p["x1"], p["x2"]
    return ((x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)


_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def _vec(p: dict[str, Any]) -> np.ndarray:
    return np.array([p[f"x{i}"] for i in range(len(p))], dtype=float)


def hartmann6(p: dict[str, Any]) -> float:
    return -float(_H_ALPHA @ np.exp(-(_H6_A * (_vec(p) - _H6_P) ** 2).sum(1)))


def hartmann3(p: dict[str, Any]) -> float:
    return -float(_H_ALPHA @ np.exp(-(_H3_A * (_vec(p) - _H3_P) ** 2).sum(1)))


_SHIFT = np.array([1.3, -0.7, 2.1, 0.4, -1.6, 0.9])  # moves the symmetric optima off-centre


def ackley(p: dict[str, Any]) -> float:
    x = _vec(p) - _SHIFT[: len(p)]
    d = len(x)
    return float(-20 * np.exp(-0.2 * np.sqrt((x**2).sum() / d)) - np.exp(np.cos(2 * np.pi * x).sum() / d)
                 + 20 + math.e)


def rosenbrock(p: dict[str, Any]) -> float:
    x = _vec(p)
    return float((100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum())


def levy(p: dict[str, Any]) -> float:
    w = 1 + (_vec(p) - 1 - _SHIFT[: len(p)]) / 4
    return float(np.sin(np.pi * w[0]) ** 2 + ((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:-1] + 1) ** 2)).sum()
                 + (w[-1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[-1]) ** 2))


def styblinski_tang(p: dict[str, Any]) -> float:
    x = _vec(p)
    return float(0.5 * (x**4 - 16 * x**2 + 5 * x).sum())


_MIXED_SHIFT = {"a": (1.5, -2.0, 12, 0.3), "b": (-2.5, 1.5, 7, 0.0), "c": (3.0, 3.0, 3, 0.6)}


def mixed(p: dict[str, Any]) -> float:
    """The mixed problem of the removed ``benchmarks/bo.py`` (its rows: ``bo_results.jsonl``):
    each category moves the optimum (0 at c="b")."""
    a, b, n_opt, off = _MIXED_SHIFT[p["c"]]
    return ((p["x1"] - a) ** 2 + 0.5 * (p["x2"] - b) ** 2 + 0.05 * (p["n"] - n_opt) ** 2
            + 0.5 * (math.log10(p["lr"]) + 2.5) ** 2 + off)


_ACT = {"relu": 0.0, "gelu": -0.05, "tanh": 0.25, "sigmoid": 0.6}
_OPT = {"sgd": 0.4, "adam": 0.0, "rmsprop": 0.15}


def hpo_like(p: dict[str, Any]) -> float:
    """A tuning-shaped surface: integers, a power of two, two categories, interactions.

    The best learning rate depends on the batch size (linear scaling) and the optimiser; the
    best depth on the width. Minimum -0.05 (gelu, adam, lr = 3e-4 * bs / 32, width 256,
    layers 3, dropout 0.2)."""
    opt_shift = {"sgd": 1.5, "adam": 0.0, "rmsprop": 0.3}[p["opt"]]
    lr_best = math.log10(3e-4 * p["bs"] / 32) + opt_shift
    k = math.log2(p["width"])
    return ((math.log10(p["lr"]) - lr_best) ** 2 + 0.1 * (k - 8) ** 2 + 0.08 * (p["layers"] - (11 - k)) ** 2
            + 2 * (p["dropout"] - 0.2) ** 2 + _ACT[p["act"]] + _OPT[p["opt"]] + 0.05)


@dataclass
class Problem:
    name: str
    space: dict[str, ts.Parameter]
    f: Callable[[dict[str, Any]], float]
    optimum: float
    budget: int


def _box(d: int, low: float, high: float) -> dict[str, ts.Parameter]:
    return {f"x{i}": ts.Float(low, high) for i in range(d)}


PROBLEMS = {pb.name: pb for pb in [
    Problem("branin", {"x0": ts.Float(-5, 10), "x1": ts.Float(0, 15)},
            lambda p: branin({"x1": p["x0"], "x2": p["x1"]}), 0.397887357729739, 60),
    Problem("hartmann3", _box(3, 0, 1), hartmann3, -3.86278214782076, 60),
    Problem("hartmann6", _box(6, 0, 1), hartmann6, -3.32236801141551, 100),
    Problem("ackley5", _box(5, -5, 10), ackley, 0.0, 100),
    Problem("levy4", _box(4, -10, 10), levy, 0.0, 100),
    Problem("rosenbrock4", _box(4, -5, 10), rosenbrock, 0.0, 100),
    Problem("styblinski4", _box(4, -5, 5), styblinski_tang, -39.16616570377142 * 4, 100),
    Problem("mixed", {"x1": ts.Float(-5, 5), "x2": ts.Float(-5, 5), "lr": ts.Float(1e-4, 1, log=True),
                      "n": ts.Int(0, 20), "c": ts.Choice(["a", "b", "c"])}, mixed, 0.0, 60),
    Problem("hpo_like", {"lr": ts.Float(1e-5, 1.0, log=True), "bs": ts.PowerOfTwo(16, 512),
                         "width": ts.PowerOfTwo(16, 1024), "layers": ts.Int(1, 8),
                         "dropout": ts.Float(0.0, 0.8), "act": ts.Choice(list(_ACT)),
                         "opt": ts.Choice(list(_OPT))}, hpo_like, -0.05, 80),
]}


# -- quality ----------------------------------------------------------------------------------
def run_ours(pb: Problem, seed: int, options: dict[str, Any]) -> float:
    study = ts.optimize(pb.f, pb.space, scheduler=TPE(n_startup=10, seed=seed, **options),
                        n_trials=pb.budget, seed=seed)
    return min(t.value for t in study.trials if t.value is not None) - pb.optimum


def run_optuna(pb: Problem, seed: int, multivariate: bool = True) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def suggest(trial: Any) -> dict[str, Any]:
        out = {}
        for n, p in pb.space.items():
            if isinstance(p, ts.Float):
                out[n] = trial.suggest_float(n, p.low, p.high, log=p.log)
            elif isinstance(p, ts.Int):
                out[n] = trial.suggest_int(n, p.low, p.high, log=p.log, step=p.step)
            elif isinstance(p, ts.PowerOfTwo):  # as a user would: the exponent
                out[n] = 2 ** trial.suggest_int(n, p.low.bit_length() - 1, p.high.bit_length() - 1)
            else:
                out[n] = trial.suggest_categorical(n, p.values)
        return out

    kw = {} if multivariate else {"multivariate": False}
    sampler = optuna.samplers.TPESampler(n_startup_trials=10, seed=seed, **kw)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: pb.f(suggest(t)), n_trials=pb.budget)
    return study.best_value - pb.optimum


def _stats(xs: list[float]) -> str:
    q = np.percentile(xs, [25, 50, 75])
    return f"{q[1]:.3g} [{q[0]:.3g} - {q[2]:.3g}]"


def quality(names: list[str], seeds: int, options: dict[str, Any], peers: list[str]) -> None:
    label = f"TPE({', '.join(f'{k}={v!r}' for k, v in options.items())})"
    runners: dict[str, Callable[[Problem, int], float]] = {label: lambda pb, s: run_ours(pb, s, options)}
    if "optuna" in peers:
        runners["Optuna TPE"] = run_optuna
    if "optuna-uni" in peers:
        runners["Optuna TPE univariate"] = lambda pb, s: run_optuna(pb, s, multivariate=False)
    print(f"\nFinal regret, median [25% - 75%] over seeds 0-{seeds - 1} (budget in brackets)\n")
    print("| problem | " + " | ".join(runners) + " |")
    print("|---" * (len(runners) + 1) + "|")
    wins, seconds = [], {k: 0.0 for k in runners}
    for name in names:
        pb = PROBLEMS[name]
        res = {}
        for k, run in runners.items():
            t0 = time.perf_counter()
            res[k] = [run(pb, s) for s in range(seeds)]
            seconds[k] += time.perf_counter() - t0
        print(f"| {name} ({pb.budget}) | " + " | ".join(_stats(v) for v in res.values()) + " |", flush=True)
        if len(runners) > 1:
            ours, peer = statistics.median(res[label]), statistics.median(res["Optuna TPE"])
            wins.append(ours <= peer)
    if wins:
        print(f"\nTPE median <= Optuna TPE median on {sum(wins)} of {len(wins)} problems "
              f"({100 * sum(wins) / len(wins):.0f}%; the issue's target is >= 70%)")
    print("wall seconds, all runs: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))


# -- speed ------------------------------------------------------------------------------------
SPEED_SPACES = {
    "6 floats": Space(_box(6, 0, 1)),
    "mixed 7": Space({"lr": ts.Float(1e-5, 1, log=True), "x": ts.Float(-2, 2), "n": ts.Int(1, 9, step=2),
                      "w": ts.Int(8, 4096, log=True), "bs": ts.PowerOfTwo(8, 512),
                      "act": ts.Choice(["relu", "tanh", "elu", "gelu"]), "flag": ts.Choice([True, False])}),
    "20 floats": Space(_box(20, -5, 5)),
}


def _told(space: Space, n: int) -> tuple[TPE, np.random.Generator]:
    rng = np.random.default_rng(0)
    sch = TPE(seed=0)
    sch.setup(space, mode="min")
    for i in range(n):
        sch.on_trial_start(i, space.sample(rng))
        sch.on_complete(i, float(rng.normal()), "completed")
    return sch, rng


def _optuna_ms(space: Space, n: int, repeats: int) -> tuple[float, float]:
    """Optuna TPESampler (defaults): median and best ms of ask() plus one suggest per parameter."""
    import optuna
    from optuna.distributions import FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {k: FloatDistribution(p.low, p.high) for k, p in space.items()}  # Float spaces only
    rng = np.random.default_rng(0)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.add_trials([optuna.trial.create_trial(params=space.sample(rng), distributions=dists,
                                                value=float(rng.normal())) for _ in range(n)])
    wall = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        trial = study.ask()
        for k, d in dists.items():
            trial.suggest_float(k, d.low, d.high)
        wall.append(time.perf_counter() - t0)
        study.tell(trial, float(rng.normal()))
    return 1e3 * statistics.median(wall), 1e3 * min(wall)


def speed(ns: list[int], repeats: int, peer: bool) -> None:
    print(f"\nMilliseconds per suggestion (TPE defaults), n finished trials told (random points, random"
          f" values);\nmedian / best wall time of {repeats} suggestions, each then told\n")
    print("| space | method | " + " | ".join(f"n={n}" for n in ns) + " |")
    print("|---" * (len(ns) + 2) + "|")
    for label, space in SPEED_SPACES.items():
        cells = []
        for n in ns:
            sch, rng = _told(space, n)
            wall = []
            for i in range(n, n + repeats):
                t0 = time.perf_counter()
                p = sch.suggest()
                wall.append(time.perf_counter() - t0)
                sch.on_trial_start(i, p)
                sch.on_complete(i, float(rng.normal()), "completed")
            cells.append(f"{1e3 * statistics.median(wall):.2f} / {1e3 * min(wall):.2f}")
        print(f"| {label} | ts TPE | " + " | ".join(cells) + " |", flush=True)
        if peer and label == "6 floats":
            cells = ["{:.1f} / {:.1f}".format(*_optuna_ms(space, n, max(5, repeats // 3))) for n in ns]
            print(f"| {label} | Optuna TPE | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", nargs="+", default=["speed", "quality"], choices=["speed", "quality"])
    ap.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--peers", nargs="*", default=["optuna"], choices=["optuna", "optuna-uni"])
    ap.add_argument("--tpe", default="{}", help="TPE keyword options as JSON (quality part)")
    ap.add_argument("--ns", nargs="+", type=int, default=[100, 1000])
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    print(f"# {platform.platform()}, python {platform.python_version()}, numpy {np.__version__}, "
          f"{os.cpu_count()} cpus")
    try:
        import optuna  # noqa: F401
    except ImportError:
        print("optuna is not installed: pip install optuna (the bench extra); peers skipped")
        args.peers = []
    if "speed" in args.parts:
        speed(args.ns, args.repeats, "optuna" in args.peers)
    if "quality" in args.parts:
        quality(args.problems, args.seeds, json.loads(args.tpe), args.peers)


if __name__ == "__main__":
    main()
