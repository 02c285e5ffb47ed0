"""Pruners at equal total epochs: best value against epochs spent (issue 14).

    python benchmarks/pruning.py synthetic --seeds 20           # part (b): synthetic curve families
    python benchmarks/pruning.py synthetic --seeds 3 --quick    # a smoke run
    python benchmarks/pruning.py real --seeds 3                 # part (a): a real training task

Part (b) (``synthetic``): the three curve families of ``pruning_curves.py`` (curves that cross:
the configurations that learn fastest do not end best), ``--epochs`` per full trial (27), on 4
simulated workers (``pruning_sim.py``). Every method gets the same budget of ``B = N * epochs
/ 3`` epochs (N = ``--n-full``, 27), where a full-length Random search of N trials would take
``3B``; "Random (full, 3x)" is that search. Reported per family: the median over seeds of the
best value reported within the budget, how often each method reaches the 3x Random search's best
(the issue's target: ASHA with 1/3 of the epochs reaches it in median), and a plot of the
median best value against epochs spent (``benchmarks/pruning_synthetic.png``). The PASS/FAIL
lines (``pruning_targets.py``, both parts) give both readings of "median over seeds": the median
of the per-seed differences (the verdict) and the difference of the medians.

Part (a) (``real``): see ``pruning_real.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from pruning_curves import FAMILIES, Family  # noqa: E402


def synthetic(args: argparse.Namespace) -> None:
    from pruning_sim import methods

    E, N, W = args.epochs, args.n_full, args.workers
    B = N * E // 3
    if args.report:  # only summarise stored rows
        rows = [json.loads(line) for line in open(args.report)]
        report(rows, tuple(dict.fromkeys(r["family"] for r in rows)), B, E, N)
        return
    rows = []
    curves: dict[tuple[str, str], list[np.ndarray]] = {}
    families = FAMILIES if args.family == "all" else (args.family,)
    for fam in families:
        for seed in range(args.seeds):
            f = Family(fam, E, seed)
            table = methods(E, seed)
            if args.quick:
                table = {k: v for k, v in table.items() if "Bayes" not in k}
            if args.only:
                keep = set(args.only.split(","))
                table = {k: v for k, v in table.items() if k in keep or k == "Random (full)"}
            runs = {"Random (full, 3x)": lambda f, b, w: table["Random (full)"](f, 3 * b, w)}
            runs.update(table)
            for name, run in runs.items():
                t = time.perf_counter()
                tr = run(f, B, W)
                wall = time.perf_counter() - t
                rows.append({"family": fam, "seed": seed, "method": name, "best": tr.best, "trials": tr.trials,
                             "full": tr.full, "spent": tr.spent, "wall_s": wall})
                if name != "Random (full, 3x)":
                    curves.setdefault((fam, name), []).append(tr.curve[:B])
            print(f"{fam} seed {seed} done", file=sys.stderr, flush=True)
    out = Path(args.out) if args.out else HERE / ("pruning_synthetic.jsonl" if not args.only else "pruning_synthetic_extra.jsonl")
    with out.open("w") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    report(rows, families, B, E, N)
    if not args.only:
        plot(curves, families, B, HERE / "pruning_synthetic.png")


def report(rows: list[dict], families: tuple[str, ...], B: int, E: int, N: int) -> None:
    names = list(dict.fromkeys(r["method"] for r in rows))
    seeds = sorted({r["seed"] for r in rows})
    print(f"\nbudget {B} epochs per method (N={N} full trials of {E} epochs would take {3 * B}); "
          f"{len(seeds)} seeds; median best value (share of seeds reaching the 3x full Random search's best)")
    head = f"{'method':36s}" + "".join(f"{f:>22s}" for f in families) + f"{'trials':>8s}{'full':>6s}{'ms/run':>8s}"
    print(head)
    ref = {(r["family"], r["seed"]): r["best"] for r in rows if r["method"] == "Random (full, 3x)"}
    for name in names:
        cells = []
        mine = [r for r in rows if r["method"] == name]
        for fam in families:
            vals = [r for r in mine if r["family"] == fam]
            med = statistics.median(r["best"] for r in vals)
            hit = sum(r["best"] >= ref[(fam, r["seed"])] for r in vals) / len(vals)
            cells.append(f"{med:.4f} ({hit:4.0%})")
        trials = statistics.median(r["trials"] for r in mine)
        full = statistics.median(r["full"] for r in mine)
        wall = statistics.median(r["wall_s"] for r in mine) * 1000
        print(f"{name:36s}" + "".join(f"{c:>22s}" for c in cells) + f"{trials:8.0f}{full:6.0f}{wall:8.1f}")
    # the targets: both readings of "median over seeds" (pruning_targets; the verdict is the paired one)
    from pruning_targets import target_lines

    print()
    for t in target_lines(rows, families, N):
        print(t)


def plot(curves: dict[tuple[str, str], list[np.ndarray]], families: tuple[str, ...], B: int, path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot", file=sys.stderr)
        return
    fig, axes = plt.subplots(1, len(families), figsize=(6 * len(families), 4.5), squeeze=False)
    for ax, fam in zip(axes[0], families):
        for (f, name), cs in curves.items():
            if f != fam:
                continue
            arr = np.array(cs)
            med = np.nanmedian(arr, axis=0)
            style = "-" if not name.startswith(("Optuna", "Ray")) else "--"
            ax.plot(np.arange(1, len(med) + 1), med, style, label=name, lw=1.2)
        ax.set_title(f"{fam}: median over seeds")
        ax.set_xlabel("epochs spent (all trials)")
        ax.set_ylabel("best value so far")
        lo = np.nanmedian(np.array([c for (f, _), cs in curves.items() if f == fam for c in cs])[:, B // 10])
        ax.set_ylim(bottom=lo)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="part", required=True)
    s = sub.add_parser("synthetic", help="part (b): synthetic curve families, simulated workers")
    s.add_argument("--seeds", type=int, default=20)
    s.add_argument("--epochs", type=int, default=27)
    s.add_argument("--n-full", type=int, default=27)
    s.add_argument("--workers", type=int, default=4)
    s.add_argument("--family", default="all", choices=("all", *FAMILIES))
    s.add_argument("--quick", action="store_true", help="leave out Bayes (the slowest)")
    s.add_argument("--only", default=None, help="comma-separated method names (no plot; rows to pruning_synthetic_extra.jsonl)")
    s.add_argument("--out", default=None, help="where the rows go (default: pruning_synthetic.jsonl, or "
                   "pruning_synthetic_extra.jsonl with --only)")
    s.add_argument("--report", default=None, help="only summarise the rows in this file")
    r = sub.add_parser("real", help="part (a): a real training task")
    r.add_argument("rest", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    if args.part == "synthetic":
        synthetic(args)
    else:
        import pruning_real
        pruning_real.main(args.rest)


if __name__ == "__main__":
    main()
