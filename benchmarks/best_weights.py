"""What keeping the best evaluation's weights costs, on examples/digits.py.

Runs the digits example (random search, in this process) with best-epoch weights kept (as
``tune()`` does) and without (the trial job given no metric: only the final weights, as before
issue 16), alternating the two, ``--repeats`` times each; prints the median wall and CPU seconds
of each, the copies taken (one per report that improved its trial's best) and the time spent
in the best-weights bookkeeping itself (each report's check and copy, timed inside the run:
on a loaded machine the difference of two whole runs is noise next to it).

    python benchmarks/best_weights.py --repeats 3 --trials 6
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torchsearch.tuning as tuning  # noqa: E402
from examples import digits  # noqa: E402
from torchsearch import _best  # noqa: E402

_TrainJob = tuning.TrainJob
COPIES = [0]
SPENT = [0.0]


class _Counting(_best.BestWeights):
    def seen(self, metrics, step, model):  # type: ignore[override]
        t0 = time.perf_counter()
        took = super().seen(metrics, step, model)
        SPENT[0] += time.perf_counter() - t0
        COPIES[0] += took
        return took


def _without(*args, **kwargs):
    kwargs.pop("metric", None)
    kwargs.pop("mode", None)
    return _TrainJob(*args, **kwargs)


def once(keep: bool, trials: int, epochs: int) -> tuple[float, float, int, int, float]:
    tuning.TrainJob = _TrainJob if keep else _without  # type: ignore[misc]
    COPIES[0], SPENT[0] = 0, 0.0
    w0, c0 = time.perf_counter(), time.process_time()
    study = digits.main(["--trials", str(trials), "--epochs", str(epochs), "--quiet", "--seed", "0"])
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    reports = sum(len(t.metrics.get("accuracy", {})) for t in study.trials)
    return wall, cpu, COPIES[0], reports, SPENT[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=15)
    args = ap.parse_args()
    import torchsearch._jobs as jobs

    jobs.BestWeights = _Counting  # count the copies (same work)
    runs: dict[bool, list[tuple[float, float, int, int, float]]] = {True: [], False: []}
    for _ in range(args.repeats):
        for keep in (False, True):
            runs[keep].append(once(keep, args.trials, args.epochs))
    for keep in (False, True):
        r = runs[keep]
        print(f"{'best kept' if keep else 'final only'}: wall {statistics.median(x[0] for x in r):.2f} s, "
              f"CPU {statistics.median(x[1] for x in r):.2f} s (median of {len(r)}; walls "
              f"{', '.join(f'{x[0]:.2f}' for x in r)}), copies {r[0][2]} for {r[0][3]} reports")
    spent = statistics.median(x[4] for x in runs[True])
    wall = statistics.median(x[0] for x in runs[True])
    print(f"best-weights bookkeeping (checks and copies): {spent * 1e3:.1f} ms per run, "
          f"{100 * spent / wall:.3f}% of the run's wall time")


if __name__ == "__main__":
    main()
