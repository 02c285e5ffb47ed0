"""Two Bayes variants of the BO suite side by side: per-problem medians, lower / tied / higher,
geometric mean of the ratio, and the problems where one of them fails a seed badly.

    python benchmarks/bo_compare.py benchmarks/bo_results_screen.jsonl bayes_v9 bayes_v21 bayes_v13
    python benchmarks/bo_compare.py FILE A B --problems mixed_log hartmann6_noisy

The base column is the base's median over all its seeds; every other cell, and the counts, use
the seeds both labels have for a problem (so a partial run is compared on its own seeds); digits_mlp relative to the best row of any method in the file, as bo_suite's report; a
tie as there (both < 1e-6 or within 5%).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bo_suite import _fmt, _tie  # noqa: E402
from problems import PROBLEMS  # noqa: E402


def per_seed(rows: list[dict]) -> dict[tuple[str, str], dict[int, float]]:
    reg = [r for r in rows if r.get("kind") == "regret" and not r.get("error")]
    ref = {p: min((r["best"] for r in reg if r["problem"] == p), default=math.nan)
           for p, pb in PROBLEMS.items() if pb.optimum is None}
    out: dict[tuple[str, str], dict[int, float]] = {}
    for r in reg:
        v = r["regret"] if r["regret"] is not None else max(r["best"] - ref[r["problem"]], 0.0)
        out.setdefault((r["problem"], r["method"]), {})[r["seed"]] = v
    return out


def compare(S: dict[tuple[str, str], dict[int, float]], base: str, others: list[str],
            problems: list[str]) -> list[str]:
    out = ["| problem | " + " | ".join([base, *others]) + " |", "|---" * (len(others) + 2) + "|"]
    stats = {o: [0, 0, 0, []] for o in others}
    for p in problems:
        if (p, base) not in S:
            continue
        cells = [f"{_fmt(statistics.median(S[(p, base)].values()))} (n={len(S[(p, base)])})"]
        for o in others:
            seeds = sorted(set(S.get((p, o), {})) & set(S[(p, base)]))
            if not seeds:
                cells.append("-")
                continue
            a = statistics.median(S[(p, base)][s] for s in seeds)
            b = statistics.median(S[(p, o)][s] for s in seeds)
            st = stats[o]
            st[1 if _tie(a, b) else (0 if b < a else 2)] += 1
            st[3].append(math.log(max(b, 1e-6) / max(a, 1e-6)))
            seeds_txt = " ".join(_fmt(S[(p, o)][s]) for s in seeds)
            cells.append(f"{_fmt(b)} (n={len(seeds)}: {seeds_txt})")
        out.append(f"| {p} | " + " | ".join(cells) + " |")
    out.append("")
    for o, (lo, t, hi, logs) in stats.items():
        gm = math.exp(sum(logs) / len(logs)) if logs else math.nan
        out.append(f"{o} against {base}: {lo} lower / {t} tied / {hi} higher medians over {len(logs)} problems, "
                   f"geometric mean ratio {gm:.2f} (floor 1e-6; same seeds)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("base")
    ap.add_argument("others", nargs="+")
    ap.add_argument("--problems", nargs="+", default=list(PROBLEMS))
    args = ap.parse_args(argv)
    with open(args.file) as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    print("\n".join(compare(per_seed(rows), args.base, args.others, args.problems)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
