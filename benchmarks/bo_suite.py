"""The BO suite: methods x problems x seeds, peers in the same run, targets as PASS/FAIL lines.

Problems: benchmarks/problems.py (23, fixed before tuning). Methods: benchmarks/bo_peers.py
(ours: Bayes, Random, Sobol, TPE when present; peers: Optuna GPSampler and TPESampler,
scikit-optimize gp_minimize, BoTorch qLogEI). Every library runs with one thread.

Each finished (problem, method, seed) is appended to ``--out`` as one JSON line at once, so a
partial run counts and a rerun skips the rows already there. Jobs run seed by seed (every
problem's seed 0 first), in at most ``--jobs`` processes.

    nice -n 19 python benchmarks/bo_suite.py --out benchmarks/bo_results_suite.jsonl   # everything
    python benchmarks/bo_suite.py --methods bayes --seeds 3 --out /tmp/screen.jsonl    # a screen
    python benchmarks/bo_suite.py --timing --out benchmarks/bo_results_suite.jsonl     # suggestion times
    python benchmarks/bo_suite.py --report benchmarks/bo_results_suite.jsonl           # the tables

Regret: ``min_t true(x_t) - optimum`` on the noise-free value of every evaluated point. For
``digits_mlp`` (no known optimum) it is relative to the best value any method reached in the
rows reported. A tie: both medians below 1e-6, or within 5% of the larger one.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing as mp  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from bo_peers import LABELS, METHODS, PEERS, available  # noqa: E402
from problems import PROBLEMS  # noqa: E402

CHEAP = ("random", "sobol", "tpe", "ts_tpe")  # 10 seeds by default
SLOW = ("skopt", "botorch")  # seeds past --slow-seeds run last


def _init() -> None:
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")


def patch(constants: dict[str, Any]) -> None:
    """Set module constants for a screen, e.g. ``{"torchsearch.schedulers._gp.gp._NOISE_PRIOR":
    [-6.9, 3]}`` (a benchmark-only hook: the variant is tried without editing the code)."""
    import importlib

    for dotted, value in constants.items():
        mod, name = dotted.rsplit(".", 1)
        m = importlib.import_module(mod)
        setattr(m, name, tuple(value) if isinstance(value, list) else value)
        if hasattr(m, "_PRIORS"):
            m._PRIORS.clear()


def run_one(job: tuple[Any, ...]) -> dict[str, Any]:
    problem, method, seed = job[:3]
    constants = job[3] if len(job) > 3 else {}
    _init()
    if constants:
        patch(constants)
    pb = PROBLEMS[problem]
    f = pb.objective(seed)
    true: list[float] = []

    def recorded(p: dict[str, Any]) -> float:
        true.append(pb.true(p))
        return f(p)

    t0 = time.perf_counter()
    error = None
    try:
        METHODS[method][1](pb.space, recorded, pb.budget, seed)
    except Exception as e:  # noqa: BLE001 - a crashed peer is a row with its error, not a dead run
        error = f"{type(e).__name__}: {e}"
    sec = time.perf_counter() - t0
    best = min(true) if true else math.inf
    trace = [min(true[: i + 1]) for i in range(len(true))]
    return {"kind": "regret", "problem": problem, "method": method, "seed": seed, "best": best,
            "regret": (max(best - pb.optimum, 0.0) if pb.optimum is not None else None), "n": len(true),
            "seconds": sec, "error": error, "trace": trace[:: max(1, len(trace) // 20)]}


def _done(path: str | None) -> set[tuple[str, str, int]]:
    if not path or not os.path.exists(path):
        return set()
    out = set()
    with open(path) as fh:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                if r.get("kind") == "regret":
                    out.add((r["problem"], r["method"], r["seed"]))
    return out


def jobs(problems: list[str], methods: list[str], seeds: int, cheap_seeds: int, slow_seeds: int,
         done: set[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    out = []
    for seed in range(max(seeds, cheap_seeds)):
        for p in problems:
            for m in methods:
                n = cheap_seeds if m in CHEAP and "training" not in PROBLEMS[p].tags else seeds
                if seed < n and (p, m, seed) not in done:
                    out.append((p, m, seed))
    # seed by seed, so that a run cut short has the same seeds for every fast method; the slow
    # peers (skopt, BoTorch) at a third of that pace (their seed s after the others' seed 3s+2),
    # and their seeds past slow_seeds last of all
    def key(j: tuple[str, str, int]) -> tuple[Any, ...]:
        pb = PROBLEMS[j[0]]
        slow = j[1] in SLOW
        return (slow and j[2] >= slow_seeds, 3 * j[2] + 2.5 if slow else j[2], pb.budget * pb.dim if slow else 0)
    return sorted(out, key=key)


# -- timing: one suggestion at n observations, ours and GPSampler interleaved ------------------
def time_suggestions(n: int, repeats: int, methods: list[str],
                     seed: int = 0) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall and CPU (this thread) seconds of one suggestion with n Hartmann6 observations.

    The targets use CPU seconds: on a shared, oversubscribed machine the wall time of a
    ``nice`` process measures the other jobs as much as the code (both are printed)."""
    import optuna
    import torch

    import torchsearch as ts
    from bo_peers import optuna_suggest
    from torchsearch.schedulers import Bayes

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pb = PROBLEMS["hartmann6"]
    space = ts.Space(pb.space)
    rng = np.random.default_rng(seed)
    xs = [space.sample(rng) for _ in range(n + repeats)]
    ys = [pb.true(x) for x in xs]
    times: dict[str, list[float]] = {m: [] for m in methods}
    cpu: dict[str, list[float]] = {m: [] for m in methods}
    sch = Bayes(seed=seed)
    sch.setup(space, mode="min")
    for i in range(n):
        sch.on_trial_start(i, xs[i])
        sch.on_complete(i, ys[i], "completed")
    study = None
    if "gp" in methods:
        dists = {k: optuna.distributions.FloatDistribution(0.0, 1.0) for k in pb.space}
        study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=seed))
        for i in range(n):
            study.add_trial(optuna.trial.create_trial(params=xs[i], distributions=dists, value=ys[i]))
    for r in range(repeats):  # interleaved: one of ours, one of theirs
        t0, c0 = time.perf_counter(), time.thread_time()
        sch.suggest()
        times["bayes"].append(time.perf_counter() - t0)
        cpu["bayes"].append(time.thread_time() - c0)
        sch.on_trial_start(n + r, xs[n + r])
        sch.on_complete(n + r, ys[n + r], "completed")
        if study is not None:
            t0, c0 = time.perf_counter(), time.thread_time()
            trial = study.ask()
            optuna_suggest(trial, pb.space)
            times["gp"].append(time.perf_counter() - t0)
            cpu["gp"].append(time.thread_time() - c0)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            study.add_trial(optuna.trial.create_trial(params=xs[n + r], distributions=dists, value=ys[n + r]))
    return ({m: statistics.median(v) for m, v in times.items()}, {m: statistics.median(v) for m, v in cpu.items()})


# -- report ---------------------------------------------------------------------------------
def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return str(x)
    return f"{x:.1e}" if abs(x) < 1e-3 or abs(x) >= 1e4 else f"{x:.3g}"


def _tie(a: float, b: float) -> bool:
    return (a < 1e-6 and b < 1e-6) or abs(a - b) <= 0.05 * max(a, b)


def regrets(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[float]]:
    """(problem, method) -> final regrets over seeds; digits_mlp relative to the best row."""
    reg = [r for r in rows if r["kind"] == "regret" and not r.get("error")]
    ref = {p: min((r["best"] for r in reg if r["problem"] == p), default=math.nan)
           for p, pb in PROBLEMS.items() if pb.optimum is None}
    out: dict[tuple[str, str], list[float]] = {}
    for r in reg:
        v = r["regret"] if r["regret"] is not None else max(r["best"] - ref[r["problem"]], 0.0)
        out.setdefault((r["problem"], r["method"]), []).append(v)
    return out


def report(rows: list[dict[str, Any]], ours: str = "bayes") -> str:
    R = regrets(rows)
    problems = [p for p in PROBLEMS if any(k[0] == p for k in R)]
    methods = [m for m in [*METHODS, *sorted({k[1] for k in R} - set(METHODS))] if any(k[1] == m for k in R)]
    med = {k: statistics.median(v) for k, v in R.items()}
    out = ["Final regret (noise-free), median [25% - 75%] (n = seeds):\n",
           "| problem (d, budget) | " + " | ".join(LABELS.get(m, m) for m in methods) + " |",
           "|---" * (len(methods) + 1) + "|"]
    for p in problems:
        cells = []
        best = min((med[(p, m)] for m in methods if (p, m) in med), default=math.nan)
        for m in methods:
            v = R.get((p, m))
            if not v:
                cells.append("-")
                continue
            q1, q3 = np.quantile(v, [0.25, 0.75])
            c = f"{_fmt(med[(p, m)])} [{_fmt(q1)}-{_fmt(q3)}] n={len(v)}"
            cells.append(f"**{c}**" if _tie(med[(p, m)], best) or med[(p, m)] <= best else c)
        pb = PROBLEMS[p]
        out.append(f"| {p} ({pb.dim}, {pb.budget}) | " + " | ".join(cells) + " |")
    errors = [r for r in rows if r.get("kind") == "regret" and r.get("error")]
    for r in errors:
        out.append(f"\nerror: {r['problem']} {r['method']} seed {r['seed']}: {r['error']}")
    if "digits_mlp" in problems:
        ref = min(r["best"] for r in rows if r.get("kind") == "regret" and r["problem"] == "digits_mlp")
        out.append(f"\ndigits_mlp regret is relative to the best validation cross-entropy any method reached "
                   f"in these rows: {ref:.4f}.")
    secs: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if r.get("kind") == "regret":
            secs.setdefault((r["problem"], r["method"]), []).append(r["seconds"])
    out.append("\nMedian wall seconds per run (objective included): " + "; ".join(
        f"{LABELS.get(m, m)} " + _fmt(statistics.median([s for (p, mm), v in secs.items() if mm == m for s in v]))
        for m in methods))
    if any(k[1] == ours for k in R):
        out += ["", *summary(med, problems, ours)]
    tim = [r for r in rows if r.get("kind") == "timing"]
    if tim:
        out.append("\nCPU seconds per suggestion (Hartmann6, median of the interleaved repeats, one thread; "
                   "wall seconds in brackets):")
        for r in tim:
            out.append(f"  n={r['n']}: " + ", ".join(f"{LABELS.get(m, m)} {s:.3f} ({r.get('wall', {}).get(m, math.nan):.3f})"
                                                 for m, s in r["seconds"].items()))
        out += timing_targets(tim)
    return "\n".join(out)


def summary(med: dict[tuple[str, str], float], problems: list[str], ours: str) -> list[str]:
    out = [f"Summary for {LABELS.get(ours, ours)} (tie: both < 1e-6 or within 5%):", ""]
    peers = [m for m in (*PEERS, "random", "sobol", "ts_tpe") if any((p, m) in med for p in problems) and m != ours]
    for m in peers:
        w = t = lo = 0
        for p in problems:
            if (p, ours) in med and (p, m) in med:
                a, b = med[(p, ours)], med[(p, m)]
                if _tie(a, b):
                    t += 1
                elif a < b:
                    w += 1
                else:
                    lo += 1
        out.append(f"- vs {LABELS.get(m, m)}: {w} wins / {t} ties / {lo} losses")
    ext = [m for m in PEERS if any((p, m) in med for p in problems)]
    ratios, best_ok, n_best = [], 0, 0
    for p in problems:
        pv = [med[(p, m)] for m in ext if (p, m) in med]
        if (p, ours) in med and pv:
            a, b = med[(p, ours)], min(pv)
            ratios.append(math.log(max(a, 1e-6) / max(b, 1e-6)))
            n_best += 1
            best_ok += a <= b or _tie(a, b)
    if ratios:
        out.append(f"- geometric mean of our median regret / the best peer's median (floor 1e-6): "
                   f"{math.exp(sum(ratios) / len(ratios)):.3g} over {len(ratios)} problems")
    out.append("")
    # targets
    rnd = [p for p in problems if (p, ours) in med and (p, "random") in med]
    bad = [f"{p} ({_fmt(med[(p, ours)])} > {_fmt(med[(p, 'random')])})" for p in rnd
           if med[(p, ours)] > med[(p, "random")] and not _tie(med[(p, ours)], med[(p, "random")])]
    out.append(f"{'PASS' if rnd and not bad else 'FAIL'}: median regret <= ts Random's on every problem "
               f"({len(rnd) - len(bad)}/{len(rnd)}){': ' + ', '.join(bad) if bad else ''}")
    gp = [p for p in problems if (p, ours) in med and (p, "gp") in med]
    if gp:
        le = [p for p in gp if med[(p, ours)] <= med[(p, "gp")] or _tie(med[(p, ours)], med[(p, "gp")])]
        far = [f"{p} ({_fmt(med[(p, ours)])} vs {_fmt(med[(p, 'gp')])})" for p in gp
               if max(med[(p, ours)], 1e-6) > 2 * max(med[(p, "gp")], 1e-6)]
        out.append(f"{'PASS' if len(le) >= 0.8 * len(gp) else 'FAIL'}: median <= Optuna GPSampler's on >= 80% "
                   f"of problems ({len(le)}/{len(gp)} = {100 * len(le) / len(gp):.0f}%)")
        out.append(f"{'PASS' if not far else 'FAIL'}: within 2x of GPSampler's median on every problem"
                   f"{': ' + ', '.join(far) if far else ''}")
    if n_best:
        out.append(f"{'PASS' if best_ok >= 0.6 * n_best else 'FAIL'}: median <= the best peer's on >= 60% of "
                   f"problems ({best_ok}/{n_best} = {100 * best_ok / n_best:.0f}%; peers: "
                   f"{', '.join(LABELS[m] for m in ext)})")
    out += tpe_target(med, problems)
    return out


def tpe_target(med: dict[tuple[str, str], float], problems: list[str]) -> list[str]:
    """Issue 12, item 5: our TPE's median regret <= Optuna TPE's (or tied) on at least 70% of the problems."""
    both = [p for p in problems if (p, "ts_tpe") in med and (p, "tpe") in med]
    if not both:
        return []
    ok = [p for p in both if med[(p, "ts_tpe")] <= med[(p, "tpe")] or _tie(med[(p, "ts_tpe")], med[(p, "tpe")])]
    worse = [f"{p} ({_fmt(med[(p, 'ts_tpe')])} vs {_fmt(med[(p, 'tpe')])})" for p in both if p not in ok]
    return [f"{'PASS' if len(ok) >= 0.7 * len(both) else 'FAIL'}: ts TPE's median <= Optuna TPE's on >= 70% of "
            f"problems ({len(ok)}/{len(both)} = {100 * len(ok) / len(both):.0f}%){'; worse on ' + ', '.join(worse) if worse else ''}"]


def timing_targets(tim: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in tim:
        s = r["seconds"]
        if r["n"] == 100 and "gp" in s:
            out.append(f"{'PASS' if s['bayes'] <= 0.5 * s['gp'] else 'FAIL'}: suggestion at n=100 <= 1/2 of "
                       f"GPSampler's ({s['bayes']:.3f} s vs {s['gp']:.3f} s, ratio {s['bayes'] / s['gp']:.2f})")
        if r["n"] == 1000:
            out.append(f"{'PASS' if s['bayes'] < 1.0 else 'FAIL'}: suggestion at n=1000 < 1 s ({s['bayes']:.3f} s)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    ap.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    ap.add_argument("--seeds", type=int, default=5, help="seeds per problem for GP methods (default 5)")
    ap.add_argument("--cheap-seeds", type=int, default=10,
                    help="seeds for Random, Sobol and the TPEs (default 10; the training task: --seeds)")
    ap.add_argument("--slow-seeds", type=int, default=3,
                    help="skopt and BoTorch seeds past this many run after everything else (default 3)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--label", default=None, help="store rows of 'bayes' under this method name (screens)")
    ap.add_argument("--patch", default=None, help="module constants to set in the workers, JSON (screens)")
    ap.add_argument("--ours", default="bayes", help="the method the summary and targets are about")
    ap.add_argument("--timing", action="store_true", help="time suggestions at n=100 and n=1000 and exit")
    ap.add_argument("--out", default=None, help="append rows (JSON lines) here; rows already there are skipped")
    ap.add_argument("--report", nargs="+", default=None, help="print the tables of saved JSON-lines files")
    args = ap.parse_args(argv)
    if args.report:
        rows = []
        for path in args.report:
            if not os.path.exists(path):
                print(f"# {path}: no such file (no rows yet)", file=sys.stderr)
                continue
            with open(path) as fh:
                rows += [json.loads(line) for line in fh if line.strip()]
        print(report(rows, args.ours))
        return 0
    out = open(args.out, "a") if args.out else None

    def emit(row: dict[str, Any]) -> None:
        if out:
            out.write(json.dumps(row) + "\n")
            out.flush()

    if args.timing:
        _init()
        for n, reps, ms in ((100, 15, ["bayes", "gp"]), (1000, 3, ["bayes"])):
            wall, cpu = time_suggestions(n, reps, ms)
            emit({"kind": "timing", "n": n, "seconds": cpu, "wall": wall})
            print(f"timing n={n}: cpu {cpu} wall {wall}", flush=True)
        return 0
    methods = [m for m in args.methods if available(m)]
    for m in set(args.methods) - set(methods):
        print(f"# {LABELS[m]} skipped: not installed / not importable", file=sys.stderr)
    label = args.label or "bayes"
    done = {(p, "bayes" if m == label else m, s) for p, m, s in _done(args.out)}
    todo = jobs(args.problems, methods, args.seeds, args.cheap_seeds, args.slow_seeds, done)
    print(f"# {len(todo)} runs to do ({len(done)} already in {args.out}), {args.jobs} processes", file=sys.stderr)
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.jobs, maxtasksperchild=20) as pool:
        constants = json.loads(args.patch) if args.patch else {}
        for row in pool.imap_unordered(run_one, [(*j, constants) for j in todo]):
            if row["method"] == "bayes":
                row["method"] = label
            emit(row)
            reg = row["regret"] if row["regret"] is not None else row["best"]
            print(f"{row['problem']:24s} {row['method']:10s} seed={row['seed']} regret={reg:.4g} "
                  f"({row['seconds']:.1f}s){' ' + row['error'] if row['error'] else ''}", file=sys.stderr, flush=True)
    if out:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
