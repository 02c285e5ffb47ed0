"""A coordinator run as its own process by the fault tests: ``python -m tests.faults.coordinator
STORAGE KIND [--epochs N] [--n-trials N] [--workers N] [--trial-timeout S] [--time-budget S]``.

KIND: ``slow`` (Random over lr, every trial slow), ``hang`` (Grid: one slow trial and one that
hangs holding the GIL), ``pbt`` (PBT population 4 of slow members). Prints the end reason.
"""

from __future__ import annotations

import argparse
import signal

import torchsearch as ts
from torchsearch.schedulers import PBT, Grid, Random
from tests.faults.models import Faulty, SlowMember


def main() -> None:
    # Ctrl+C as a terminal delivers it: a process started in the background by a non-interactive
    # shell (a CI runner, `cmd &`) inherits SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler, so the Ctrl+C tests would send a signal nobody hears.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    p = argparse.ArgumentParser()
    p.add_argument("storage")
    p.add_argument("kind", choices=["slow", "hang", "pbt"])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--n-trials", type=int, default=None)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--trial-timeout", type=float, default=None)
    p.add_argument("--time-budget", type=float, default=None)
    a = p.parse_args()
    common = dict(storage=a.storage, epochs=a.epochs, n_trials=a.n_trials, workers=a.workers, seed=0,
                  verbose=False, time_budget=a.time_budget, trial_timeout=a.trial_timeout)
    if a.kind == "slow":
        study = ts.tune(Faulty, {"lr": ts.Float(0.01, 0.1, log=True), "mode": ts.Choice(["slow"])},
                        scheduler=Random(seed=0), metric="mse", mode="min", **common)
    elif a.kind == "hang":
        study = ts.tune(Faulty, {"lr": ts.Choice([0.05]), "mode": ts.Choice(["slow", "gil"])}, scheduler=Grid(),
                        metric="mse", mode="min", **common)
    else:
        space = {"lr": ts.Float(1e-3, 0.3, log=True), "momentum": ts.Float(0.0, 0.95),
                 "dropout": ts.Float(0.0, 0.5)}
        study = ts.tune(SlowMember, space, scheduler=PBT(population=4, interval=1, seed=0), metric="mse",
                        mode="min", **common)
    print(study.end_reason, flush=True)


if __name__ == "__main__":
    main()
