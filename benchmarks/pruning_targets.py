"""The PASS/FAIL lines of issue 14's targets, shared by both parts of benchmarks/pruning.py.

"Median over seeds" has two readings, and both are printed:

- **paired**: the median over seeds of the per-seed difference (ours minus the reference on the
  same seed). It asks "on a typical seed, does ours reach it?";
- **medians**: the difference of the two medians (the median of ours minus the median of the
  reference). It asks "is our typical value as good as theirs?".

The verdict (the last word of each line) uses the **paired** reading; the other reading's verdict
is printed beside it, so the owner can choose. ``wins/ties/losses`` count the seeds.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping

# our rows judged against 3x full-length Random, and against the peers (those present are used)
THIRD = ("Random+ASHA (promote)", "Random+ASHA (stop)", "Random+ASHA (promote) quantile",
         "Random+ASHA (stop) quantile", "Random+Hyperband", "Random+Hyperband quantile")
OURS_VS_PEERS = ("Random+ASHA (promote)", "Random+ASHA (promote) quantile")
PEERS = ("Optuna TPE+SuccessiveHalving", "Ray ASHAScheduler")


def compare(mine: Mapping[int, float], ref: Mapping[int, float]) -> dict[str, float]:
    """Both readings of "ours >= the reference, median over seeds" on the seeds both have."""
    seeds = sorted(set(mine) & set(ref))
    diffs = [mine[s] - ref[s] for s in seeds]
    return {"paired": statistics.median(diffs),
            "medians": statistics.median(mine[s] for s in seeds) - statistics.median(ref[s] for s in seeds),
            "wins": sum(d > 0 for d in diffs), "ties": sum(d == 0 for d in diffs), "losses": sum(d < 0 for d in diffs),
            "seeds": len(seeds)}


def line(what: str, c: Mapping[str, float]) -> str:
    """One target line: both readings, the seeds' count, the verdict by the paired reading."""
    def v(x: float) -> str:
        return "PASS" if x >= 0 else "FAIL"
    return (f"target: {what}: median of per-seed differences {c['paired']:+.4f} ({c['wins']}/{c['ties']}/"
            f"{c['losses']} seeds won/tied/lost) -> {v(c['paired'])}; difference of medians {c['medians']:+.4f} "
            f"-> {v(c['medians'])}; verdict (paired): {v(c['paired'])}")


def target_lines(rows: Iterable[Mapping], groups: Iterable[str | None], N: int) -> list[str]:
    """``rows``: dicts with ``method``, ``seed``, ``best`` (and ``family`` when grouped);
    ``groups``: the families (``[None]``: one group)."""
    rows = list(rows)
    out = []
    for g in groups:
        best: dict[str, dict[int, float]] = {}
        for r in rows:
            if g is None or r.get("family") == g:
                best.setdefault(r["method"], {})[r["seed"]] = r["best"]
        where = f", {g}" if g is not None else ""
        ref = best.get("Random (full, 3x)")
        for name in THIRD:
            if ref and name in best:
                out.append(line(f"{name} at 1/3 of the epochs >= full Random's best (N={N}){where}",
                                compare(best[name], ref)))
        for name in OURS_VS_PEERS:
            for peer in PEERS:
                if name in best and peer in best:
                    out.append(line(f"our {name} >= {peer} at equal epochs{where}", compare(best[name], best[peer])))
    return out
