"""Bayesian optimisation benchmark: final simple regret and seconds per suggestion.

Minimises standard test functions with torchsearch's Random, Sobol and Bayes schedulers and,
when installed (``pip install "torchsearch[bench]"``), Optuna's TPESampler and GPSampler and
scikit-optimize's gp_minimize, in the same process on the same machine. A missing peer is
skipped with a note.

Problems (usual domains and optima): Branin (2-D, budget 50), Hartmann6 (6-D, budget 100),
Ackley5 on [-5, 10]^5 (budget 100), Rosenbrock4 on [-5, 10]^4 (budget 100), and ``mixed``
(budget 60): two floats, a log-scaled float, an integer and a 3-way category that moves the
optimum (see :func:`mixed`).

Reported: median and interquartile range (25%-75%) of the final simple regret
``min f(x_t) - f*`` over the seeds; median seconds per suggestion with n = 25, 50, 100, 300
random Hartmann6 observations already told (and 1,000 for torchsearch Bayes).

Every library runs with one intra-op thread (torch, BLAS): the machine is shared, and
oversubscribed threads made every GP method several times slower and the timings noisy.

    python benchmarks/bo.py                      # the full run (5 seeds, everything)
    python benchmarks/bo.py --quick              # 2 seeds, Branin + mixed, short timing
    python benchmarks/bo.py --problems branin hartmann6 --methods bayes gp --seeds 3
    python benchmarks/bo.py --report bo.json     # print the tables of a saved (partial) run

Results are appended to ``--out`` (JSON lines) as they come, so a long run can be reported
before it ends.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import torchsearch as ts  # noqa: E402
from torchsearch.schedulers import Bayes, Random  # noqa: E402

torch.set_num_threads(1)
warnings.filterwarnings("ignore")


# -- problems -------------------------------------------------------------------------------
def branin(p: dict[str, Any]) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(p: dict[str, Any]) -> float:
    x = np.array([p[f"x{i}"] for i in range(6)])
    return -float(_H6_ALPHA @ np.exp(-(_H6_A * (x - _H6_P) ** 2).sum(1)))


def ackley(p: dict[str, Any]) -> float:
    x = np.array([p[k] for k in sorted(p)])
    d = len(x)
    return float(-20 * np.exp(-0.2 * np.sqrt((x**2).sum() / d)) - np.exp(np.cos(2 * np.pi * x).sum() / d)
                 + 20 + math.e)


def rosenbrock(p: dict[str, Any]) -> float:
    x = np.array([p[k] for k in sorted(p)])
    return float((100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum())


_MIXED_SHIFT = {"a": (1.5, -2.0, 12, 0.3), "b": (-2.5, 1.5, 7, 0.0), "c": (3.0, 3.0, 3, 0.6)}


def mixed(p: dict[str, Any]) -> float:
    """Floats x1, x2 in [-5, 5], lr in [1e-4, 1] (log), integer n in [0, 20], category c.

    Each category moves the optimum of (x1, x2, n) and adds an offset; lr is best at 10^-2.5.
    The global minimum is 0 at c="b", x1=-2.5, x2=1.5, n=7, lr=10^-2.5.
    """
    a, b, n_opt, off = _MIXED_SHIFT[p["c"]]
    return ((p["x1"] - a) ** 2 + 0.5 * (p["x2"] - b) ** 2 + 0.05 * (p["n"] - n_opt) ** 2
            + 0.5 * (math.log10(p["lr"]) + 2.5) ** 2 + off)


@dataclass
class Problem:
    name: str
    space: dict[str, ts.Parameter]
    f: Callable[[dict[str, Any]], float]
    optimum: float
    budget: int


def _box(names: list[str], low: float, high: float) -> dict[str, ts.Parameter]:
    return {n: ts.Float(low, high) for n in names}


PROBLEMS = {
    "branin": Problem("branin", {"x1": ts.Float(-5, 10), "x2": ts.Float(0, 15)}, branin, 0.397887357729739, 50),
    "hartmann6": Problem("hartmann6", _box([f"x{i}" for i in range(6)], 0, 1), hartmann6, -3.32236801141551, 100),
    "ackley5": Problem("ackley5", _box([f"x{i}" for i in range(5)], -5, 10), ackley, 0.0, 100),
    "rosenbrock4": Problem("rosenbrock4", _box([f"x{i}" for i in range(4)], -5, 10), rosenbrock, 0.0, 100),
    "mixed": Problem("mixed", {"x1": ts.Float(-5, 5), "x2": ts.Float(-5, 5), "lr": ts.Float(1e-4, 1, log=True),
                               "n": ts.Int(0, 20), "c": ts.Choice(["a", "b", "c"])}, mixed, 0.0, 60),
}


# -- methods --------------------------------------------------------------------------------
def _ours(make: Callable[[int], Any]) -> Callable[[Problem, int], list[float]]:
    def run(pb: Problem, seed: int) -> list[float]:
        study = ts.optimize(pb.f, pb.space, scheduler=make(seed), n_trials=pb.budget, seed=seed)
        return [t.value for t in study.trials if t.value is not None]
    return run


def _optuna_suggest(trial: Any, space: dict[str, ts.Parameter]) -> dict[str, Any]:
    out = {}
    for n, p in space.items():
        if isinstance(p, ts.Float):
            out[n] = trial.suggest_float(n, p.low, p.high, log=p.log)
        elif isinstance(p, ts.Int):
            out[n] = trial.suggest_int(n, p.low, p.high, log=p.log, step=p.step)
        elif isinstance(p, ts.Choice):
            out[n] = trial.suggest_categorical(n, p.values)
        else:
            raise TypeError(f"no Optuna mapping for {p!r}")
    return out


def _optuna(kind: str) -> Callable[[Problem, int], list[float]]:
    def run(pb: Problem, seed: int) -> list[float]:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=seed) if kind == "tpe" else optuna.samplers.GPSampler(seed=seed)
        study = optuna.create_study(sampler=sampler)
        study.optimize(lambda t: pb.f(_optuna_suggest(t, pb.space)), n_trials=pb.budget)
        return [t.value for t in study.trials if t.value is not None]
    return run


def _skopt_dims(space: dict[str, ts.Parameter]) -> list[Any]:
    from skopt.space import Categorical, Integer, Real

    dims = []
    for n, p in space.items():
        if isinstance(p, ts.Float):
            dims.append(Real(p.low, p.high, prior="log-uniform" if p.log else "uniform", name=n))
        elif isinstance(p, ts.Int):
            dims.append(Integer(p.low, p.high, name=n))
        elif isinstance(p, ts.Choice):
            dims.append(Categorical(p.values, name=n))
    return dims


def _skopt(pb: Problem, seed: int) -> list[float]:
    from skopt import gp_minimize

    names = list(pb.space)
    res = gp_minimize(lambda x: pb.f(dict(zip(names, x))), _skopt_dims(pb.space), n_calls=pb.budget,
                      random_state=seed)
    return [float(v) for v in res.func_vals]


METHODS: dict[str, tuple[str | None, Callable[[Problem, int], list[float]]]] = {
    "random": (None, _ours(lambda s: Random(seed=s))),
    "sobol": (None, _ours(lambda s: Random(sobol=True, seed=s))),
    "bayes": (None, _ours(lambda s: Bayes(seed=s))),
    "tpe": ("optuna", _optuna("tpe")),
    "gp": ("optuna", _optuna("gp")),
    "skopt": ("skopt", _skopt),
}
LABELS = {"random": "ts Random", "sobol": "ts Sobol", "bayes": "ts Bayes", "tpe": "Optuna TPE",
          "gp": "Optuna GPSampler", "skopt": "skopt gp_minimize"}


def _available(module: str | None) -> bool:
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# -- timing ---------------------------------------------------------------------------------
def _observations(n: int, seed: int, extra: int = 3) -> tuple[list[dict[str, Any]], list[float]]:
    pb = PROBLEMS["hartmann6"]
    rng = np.random.default_rng(seed)
    space = ts.Space(pb.space)
    xs = [space.sample(rng) for _ in range(n + extra)]
    return xs, [pb.f(x) for x in xs]


def time_suggestion(method: str, n: int, seed: int = 0, repeats: int = 3) -> float:
    """Median seconds for one suggestion with n Hartmann6 observations told (one more per repeat)."""
    pb = PROBLEMS["hartmann6"]
    xs, ys = _observations(n, seed, repeats)
    times = []
    if method == "bayes":
        sch = Bayes(seed=seed)
        sch.setup(ts.Space(pb.space), mode="min")
        for i in range(n):
            sch.on_trial_start(i, xs[i])
            sch.on_complete(i, ys[i], "completed")
        for r in range(repeats):
            t0 = time.perf_counter()
            sch.suggest()
            times.append(time.perf_counter() - t0)
            sch.on_trial_start(n + r, xs[n + r])
            sch.on_complete(n + r, ys[n + r], "completed")
    elif method in ("tpe", "gp"):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        dists = {k: optuna.distributions.FloatDistribution(0.0, 1.0) for k in pb.space}
        sampler = optuna.samplers.TPESampler(seed=seed) if method == "tpe" else optuna.samplers.GPSampler(seed=seed)
        study = optuna.create_study(sampler=sampler)
        for i in range(n):
            study.add_trial(optuna.trial.create_trial(params=xs[i], distributions=dists, value=ys[i]))
        for r in range(repeats):
            t0 = time.perf_counter()
            trial = study.ask()
            _optuna_suggest(trial, pb.space)
            times.append(time.perf_counter() - t0)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            study.add_trial(optuna.trial.create_trial(params=xs[n + r], distributions=dists, value=ys[n + r]))
    elif method == "skopt":
        from skopt import Optimizer

        names = list(pb.space)
        opt = Optimizer(_skopt_dims(pb.space), base_estimator="GP", n_initial_points=10, random_state=seed)
        opt.tell([[x[k] for k in names] for x in xs[:n - 1]], ys[:n - 1])
        for r in range(repeats):
            x = xs[n - 1 + r]
            t0 = time.perf_counter()
            opt.tell([x[k] for k in names], ys[n - 1 + r])  # gp_minimize refits here ...
            opt.ask()                                       # ... and asks here
            times.append(time.perf_counter() - t0)
    else:
        raise ValueError(f"time_suggestion: no timing for method={method!r}")
    return statistics.median(times)


# -- reporting ------------------------------------------------------------------------------
def _q(v: list[float], q: float) -> float:
    return float(np.quantile(np.array(v), q))


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    return f"{x:.1e}" if abs(x) < 1e-3 or abs(x) >= 1e4 else f"{x:.3g}"


def _table(out: list[str], title: str, columns: dict[Any, str], methods: list[str],
           cell: Callable[[str, Any], str]) -> None:
    """Append a markdown table: one row per method; ``columns`` maps a key to its header,
    ``cell(method, key)`` fills a cell."""
    out.append(title)
    out.append("| method | " + " | ".join(columns.values()) + " |")
    out.append("|---" * (len(columns) + 1) + "|")
    for m in methods:
        out.append(f"| {LABELS[m]} | " + " | ".join(cell(m, k) for k in columns) + " |")


def report(rows: list[dict[str, Any]]) -> str:
    out: list[str] = []
    reg = [r for r in rows if r["kind"] == "regret"]
    if reg:
        problems = [p for p in PROBLEMS if any(r["problem"] == p for r in reg)]
        methods = [m for m in METHODS if any(r["method"] == m for r in reg)]

        def values(key: str, m: str, p: str) -> list[float]:
            return [r[key] for r in reg if r["method"] == m and r["problem"] == p]

        def regret(m: str, p: str) -> str:
            v = values("regret", m, p)
            return f"{_fmt(statistics.median(v))} [{_fmt(_q(v, .25))} - {_fmt(_q(v, .75))}] (n={len(v)})" if v else "-"

        def seconds(m: str, p: str) -> str:
            v = values("seconds", m, p)
            return f"{statistics.median(v):.1f}" if v else "-"

        _table(out, "Final simple regret, median [25% - 75%] over seeds (n = seeds run):\n",
               {p: f"{p} ({PROBLEMS[p].budget})" for p in problems}, methods, regret)
        _table(out, "\nMedian wall seconds per run (objective calls included):\n", {p: p for p in problems}, methods,
               seconds)
    tim = [r for r in rows if r["kind"] == "timing"]
    if tim:
        ns = sorted({r["n"] for r in tim})
        methods = [m for m in METHODS if any(r["method"] == m for r in tim)]

        def per_suggestion(m: str, n: int) -> str:
            v = [r["seconds"] for r in tim if r["method"] == m and r["n"] == n]
            return f"{v[0]:.3f}" if v else "-"

        _table(out, "\nSeconds per suggestion (median of 3) with n Hartmann6 observations:\n",
               {n: f"n={n}" for n in ns}, methods, per_suggestion)
    notes = [r for r in rows if r["kind"] == "note"]
    for r in notes:
        out.append(f"\nnote: {r['text']}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5, help="seeds per problem and method (default 5)")
    ap.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    ap.add_argument("--methods", "--peers", nargs="+", choices=list(METHODS), default=list(METHODS))
    ap.add_argument("--timing-n", type=int, nargs="*", default=[25, 50, 100, 300],
                    help="observation counts for the suggestion timing (empty: no timing)")
    ap.add_argument("--bayes-large", type=int, default=1000,
                    help="also time torchsearch Bayes with this many observations (0: skip)")
    ap.add_argument("--quick", action="store_true",
                    help="2 seeds, branin and mixed, timing at n=25,100 (overrides --seeds, --problems, --timing-n)")
    ap.add_argument("--out", default=None, help="append results as JSON lines to this file")
    ap.add_argument("--report", default=None, help="print the tables of a saved JSON-lines file and exit")
    args = ap.parse_args(argv)
    if args.report:
        with open(args.report) as fh:
            print(report([json.loads(line) for line in fh if line.strip()]))
        return 0
    if args.quick:
        args.seeds, args.problems, args.timing_n, args.bayes_large = 2, ["branin", "mixed"], [25, 100], 0
    rows: list[dict[str, Any]] = []
    out = open(args.out, "a") if args.out else None

    def emit(row: dict[str, Any]) -> None:
        rows.append(row)
        if out:
            out.write(json.dumps(row) + "\n")
            out.flush()

    methods = []
    for m in args.methods:
        module = METHODS[m][0]
        if _available(module):
            methods.append(m)
        else:
            emit({"kind": "note", "text": f"{LABELS[m]} skipped: {module} is not installed"})
    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, methods {methods}", file=sys.stderr)
    for n in args.timing_n:
        for m in methods:
            if m in ("random", "sobol"):
                continue
            s = time_suggestion(m, n)
            emit({"kind": "timing", "method": m, "n": n, "seconds": s})
            print(f"timing {m:8s} n={n:5d} {s:.3f}s", file=sys.stderr, flush=True)
    if args.bayes_large and "bayes" in methods:
        s = time_suggestion("bayes", args.bayes_large)
        emit({"kind": "timing", "method": "bayes", "n": args.bayes_large, "seconds": s})
        print(f"timing bayes    n={args.bayes_large:5d} {s:.3f}s", file=sys.stderr, flush=True)
    for p in args.problems:
        pb = PROBLEMS[p]
        for seed in range(args.seeds):
            for m in methods:
                t0 = time.perf_counter()
                values = METHODS[m][1](pb, seed)
                sec = time.perf_counter() - t0
                regret = max(min(values) - pb.optimum, 0.0) if values else math.inf
                emit({"kind": "regret", "problem": p, "method": m, "seed": seed, "regret": regret,
                      "seconds": sec, "n": len(values)})
                print(f"{p:12s} seed={seed} {m:7s} regret={regret:.4g} ({sec:.1f}s)", file=sys.stderr, flush=True)
    print(report(rows))
    if out:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
