"""What pruning costs: per report, and per pause and promotion (issue 14 targets).

    python benchmarks/pruning_overhead.py

(1) Per report: ``Study`` in memory, ask / report / tell, 200 trials x 27 reports of a synthetic
    curve, without a pruner and with each pruner (ask/tell trials are never paused: ASHA judges
    them with its stop rule), the time inside ``trial.report`` only. The difference is what
    pruning adds to a report; and the pruner's
    own ``on_report`` alone, with 2000 trials already in its rungs.
(2) Per pause and its resume, in this process (``tune``, the digits MLP of benchmarks/_pruning_task,
    1 slot): the coordinator's and the trainer's work for a pause decision (the trainer's state
    taken and kept), the pause, the resume (for ASHA: the promotion query and resume; for PBT: the
    first-in-first-out resume) and the state loaded back into the trainer, timed around those calls,
    summed and divided by the number of pauses; width fixed at 128 (one state size). PBT: population 4, interval 3, on 1 slot (every
    ready point pauses); ASHA: promote=True, 27 trials of 9 epochs.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import torchsearch as ts  # noqa: E402
from torchsearch.pruners import ASHA, Hyperband, Median  # noqa: E402
from torchsearch.schedulers import PBT, Random  # noqa: E402


def per_report(pruner, trials=200, epochs=27, seed=0) -> float:
    st = ts.Study(space={"x": ts.Float(0, 1)}, mode="max", scheduler=Random(seed=seed), pruner=pruner, epochs=epochs,
                  seed=seed, verbose=False)
    n, spent = 0, 0.0
    for _ in range(trials):
        trial = st.ask()
        x = trial.params["x"]
        for e in range(1, epochs + 1):
            t = time.perf_counter()
            d = trial.report({"value": x * (1 - 0.5 ** e)}, e)
            spent += time.perf_counter() - t
            n += 1
            if d.action == "stop":
                break
        st.tell(trial)
    return spent / n * 1e3


def pruner_alone(pruner, trials=2000, epochs=27) -> float:
    import numpy as np

    pruner.setup(mode="max", max_epochs=epochs, metric="value")
    rng = np.random.default_rng(0)
    xs = rng.random(trials)
    n, spent = 0, 0.0
    for i, x in enumerate(xs):
        pruner.on_trial_start(i, {})
        for e in range(1, epochs + 1):
            t = time.perf_counter()
            d = pruner.on_report(i, e, float(x * (1 - 0.5 ** e)), can_pause=False)
            spent += time.perf_counter() - t
            n += 1
            if d.action == "stop":
                break
        pruner.on_complete(i, float(x), "completed")
    return spent / n * 1e3


class Timer:
    """Wraps methods and sums the time spent in them while ``on`` says so."""

    def __init__(self) -> None:
        self.spent = 0.0
        self.pauses = 0

    def wrap(self, owner, name, count=False, only_pause=False):
        orig = getattr(owner, name)
        timer = self

        def wrapped(*a, **kw):
            t = time.perf_counter()
            out = orig(*a, **kw)
            dt = time.perf_counter() - t
            if only_pause:
                decision = a[2] if len(a) > 2 else kw.get("decision")
                if getattr(decision, "action", None) != "pause":
                    return out
            timer.spent += dt
            if count:
                timer.pauses += 1
            return out

        setattr(owner, name, wrapped)
        return orig


def pause_cost(kind: str, seed: int = 0) -> tuple[float, int]:
    import torchsearch._population as pop
    import torchsearch.pruners._hook as hook
    import torchsearch.trainer as trainer_mod
    from _pruning_task import SPACE, NoisyDigits

    timer = Timer()
    saved = [(pop.Population, "on_decision", timer.wrap(pop.Population, "on_decision", only_pause=True)),
             (pop.Population, "pause", timer.wrap(pop.Population, "pause", count=True)),
             (pop.Population, "resume_next", timer.wrap(pop.Population, "resume_next")),
             (hook.PrunerHook, "promote", timer.wrap(hook.PrunerHook, "promote")),
             (trainer_mod.Trainer, "load_state_dict", timer.wrap(trainer_mod.Trainer, "load_state_dict"))]
    space = {**SPACE, "width": ts.Choice([128])}  # one state size on both sides
    try:
        if kind == "pbt":
            ts.tune(NoisyDigits, space, scheduler=PBT(population=4, interval=3, seed=seed), metric="accuracy",
                    mode="max", epochs=9, seed=seed, verbose=False)
        else:
            ts.tune(NoisyDigits, space, scheduler=Random(seed=seed), pruner=ASHA(), metric="accuracy", mode="max",
                    epochs=9, n_trials=27, seed=seed, verbose=False)
    finally:
        for owner, name, orig in saved:
            setattr(owner, name, orig)
    # PBT's resume_next is timed whether or not it found a paused trial; ASHA's promote likewise
    return timer.spent * 1e3, timer.pauses


def main() -> None:
    import torch

    torch.set_num_threads(1)
    print("(1) per report, ask/report/tell in memory, 200 trials x up to 27 reports (median of 5 runs):")
    base = statistics.median(per_report(None) for _ in range(5))
    print(f"  no pruner          {base:.3f} ms per report")
    for make in (lambda: Median(), lambda: ASHA(), lambda: Hyperband()):
        ms = statistics.median(per_report(make()) for _ in range(5))
        print(f"  {make().describe():60s} {ms:.3f} ms per report ({ms - base:+.3f} ms)")
    print("  the pruner's on_report alone, 2000 trials (its rungs fill up as it goes):")
    for make in (lambda: Median(), lambda: ASHA(), lambda: Hyperband()):
        print(f"  {make().describe():60s} {pruner_alone(make()):.4f} ms per report")
    print("(2) one pause and its resume, in this process (coordinator + trainer work around them):")
    for kind in ("pbt", "asha"):
        runs = [pause_cost(kind, seed) for seed in range(5)]
        per = sorted(r[0] / max(r[1], 1) for r in runs)
        total = sum(r[0] for r in runs) / sum(r[1] for r in runs)
        print(f"  {kind:5s} {total:.2f} ms per pause and resume over {sum(r[1] for r in runs)} pauses "
              f"(per run: {', '.join(f'{x:.2f}' for x in per)} ms)")


if __name__ == "__main__":
    main()
