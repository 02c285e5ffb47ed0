"""Why ASHA at 1/3 of the epochs misses full-length Random's best (issue 14, item 5).

    python benchmarks/pruning_asha_why.py --seeds 20 [--real benchmarks/pruning_real.jsonl]

(1) How well an early epoch ranks configurations: Spearman correlation between the value at
epoch 1, 3, 9 and the trial's best over all 27 epochs (what the target compares), for 200
random configurations per family and seed (median over seeds); on the real task from the
full-length Random runs stored in ``pruning_real.jsonl`` (one trial's 27 epochs after another).

(2) Where ASHA's epochs go (budget B = 243 = 1/3 of 27 full trials, 4 simulated workers, the
same runs as ``pruning.py synthetic``): epochs spent on trials that stopped at each depth
(1 epoch, 2-3, 4-9, 10-26 = promoted past rung 9 but cut by the end of the budget, 27 = full),
and an oracle: the best value any configuration ASHA started would have reached if trained in
full, against the best ASHA found and the 3x full Random search's best. When the oracle is at or
above the 3x search's best, ASHA drew a good enough configuration and pruned it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from pruning_curves import FAMILIES, SPACE, Family  # noqa: E402

CHECK = (1, 3, 9)


def correlations(fam: str, seed: int, E: int, n: int = 200) -> list[float]:
    f = Family(fam, E, seed)
    rng = np.random.default_rng([seed, 99])
    curves = np.array([f.curve(SPACE.sample(rng), 10_000 + i) for i in range(n)])
    best = curves.max(axis=1)
    return [float(spearmanr(curves[:, k - 1], best)[0]) for k in CHECK]


def real_correlations(path: Path, E: int) -> tuple[list[float], int]:
    rows = [json.loads(line) for line in path.open()]
    curves = []
    for r in rows:
        if r["method"] == "Random (full, 3x)" and r["E"] == E:
            v = r["values"]
            curves += [v[i:i + E] for i in range(0, len(v) - E + 1, E)]
    c = np.array(curves)
    best = c.max(axis=1)
    return [float(spearmanr(c[:, k - 1], best)[0]) for k in CHECK], len(c)


def depth(e: int, E: int) -> str:
    return "1" if e <= 1 else "2-3" if e <= 3 else "4-9" if e <= 9 else f"10-{E - 1}" if e < E else str(E)


def where_epochs_go(fam: str, seed: int, E: int, B: int, name: str) -> dict:
    from pruning_sim import methods

    f = Family(fam, E, seed)
    table = methods(E, seed)
    tr = table[name](f, B, 4)
    ref = table["Random (full)"](f, 3 * B, 4).best
    spent: dict[str, int] = {}
    for n, e in tr.epochs.items():
        spent[depth(e, E)] = spent.get(depth(e, E), 0) + e
    oracle = max(float(f.curve(tr.params[n], n).max()) for n in tr.epochs)
    first = {n: float(f.curve(tr.params[n], n)[0]) for n in tr.epochs}
    best_n = max(tr.epochs, key=lambda n: float(f.curve(tr.params[n], n).max()))
    rank1 = 1 + sum(v > first[best_n] for v in first.values())  # the oracle-best config's rank at epoch 1
    return {"spent": spent, "found": tr.best, "oracle": oracle, "ref": ref, "trials": len(tr.epochs),
            "rank1": rank1, "best_epochs": tr.epochs[best_n]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=27)
    ap.add_argument("--real", default=str(HERE / "pruning_real.jsonl"))
    ap.add_argument("--methods", default="Random+ASHA (promote),Random+ASHA (stop),Random+Hyperband")
    args = ap.parse_args()
    E = args.epochs
    B = 27 * E // 3
    print(f"(1) Spearman correlation of the value at epoch {', '.join(map(str, CHECK))} with the trial's best over "
          f"{E} epochs (median over {args.seeds} seeds, 200 random configurations each)")
    for fam in FAMILIES:
        cs = np.array([correlations(fam, s, E) for s in range(args.seeds)])
        med = np.median(cs, axis=0)
        print(f"  {fam:11s} " + "  ".join(f"epoch {k}: {m:+.2f}" for k, m in zip(CHECK, med)))
    real = Path(args.real)
    if real.exists():
        cs, n = real_correlations(real, E)
        print(f"  {'real':11s} " + "  ".join(f"epoch {k}: {m:+.2f}" for k, m in zip(CHECK, cs))
              + f"   ({n} full-length Random trials of NoisyDigits)")
    print(f"\n(2) where the epochs go at B = {B} (median over {args.seeds} seeds; epochs by how far each trial got)")
    for name in args.methods.split(","):
        for fam in FAMILIES:
            rs = [where_epochs_go(fam, s, E, B, name) for s in range(args.seeds)]
            keys = ["1", "2-3", "4-9", f"10-{E - 1}", str(E)]
            sp = "  ".join(f"{k:>5s}: {statistics.median(r['spent'].get(k, 0) for r in rs):5.0f}" for k in keys)
            found = statistics.median(r["found"] for r in rs)
            oracle = statistics.median(r["oracle"] for r in rs)
            ref = statistics.median(r["ref"] for r in rs)
            covered = sum(r["oracle"] >= r["ref"] for r in rs)
            print(f"  {name:22s} {fam:11s} {sp}   found {found:.4f}  oracle {oracle:.4f} (>= 3x on "
                  f"{covered}/{len(rs)} seeds)  3x Random {ref:.4f}  oracle-best config: rank at epoch 1 "
                  f"{statistics.median(r['rank1'] for r in rs):.0f} of {statistics.median(r['trials'] for r in rs):.0f}, "
                  f"trained {statistics.median(r['best_epochs'] for r in rs):.0f} epochs")


if __name__ == "__main__":
    main()
