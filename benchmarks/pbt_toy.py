"""The toy problem of Jaderberg et al. 2017 (Figure 2), run through torchsearch end to end.

Maximise Q(theta) = 1.2 - (theta0^2 + theta1^2) by gradient ascent on the surrogate
Q^(theta | h) = 1.2 - (h0 theta0^2 + h1 theta1^2), with two population members starting at
theta = (0.9, 0.9) with h = (1, 0) and (0, 1). Each member is a real TrialModule trained by the
Ignite Trainer (SGD, lr 0.02, 4 steps per epoch, one evaluation of Q per epoch), the population
takes turns on one in-process slot (PBT pauses and resumes them), and exploits copy the weights
(theta) and optimiser state through memory.

Four strategies, over --seeds seeds:
  pbt           exploit + explore (the default PBT: x0.8/x1.2, resample 25%)
  exploit-only  copy the better member, never change h (perturb=(1.0,), no resampling)
  explore-only  perturb your own h, never copy
  neither       each member trains alone with its initial h

Without exploration h stays (1, 0) / (0, 1): one coordinate of theta never moves and Q plateaus
at 1.2 - 0.81 = 0.39. PBT must reach Q >= 1.19.

    python benchmarks/pbt_toy.py --seeds 12 --epochs 40
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torchsearch as ts  # noqa: E402
from torchsearch.schedulers import PBT, Decision  # noqa: E402

SPACE = {"h0": ts.Float(0.0, 1.0), "h1": ts.Float(0.0, 1.0)}
INITIAL = [{"h0": 1.0, "h1": 0.0}, {"h0": 0.0, "h1": 1.0}]
STEPS_PER_EPOCH = 4


class Theta(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([0.9, 0.9]))


class Toy(ts.TrialModule):
    def setup(self, hp):
        self.model = Theta()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.02)
        self.h = torch.tensor([hp["h0"], hp["h1"]])
        self.train_loader = [torch.zeros(1)] * STEPS_PER_EPOCH
        self.val_loader = [torch.zeros(1)]

    def apply_hyperparameters(self, hp):
        self.h = torch.tensor([hp["h0"], hp["h1"]])
        self.hp = dict(hp)
        return True

    def training_step(self, batch):
        theta = self.model.theta
        return (self.h * theta**2).sum()  # minimising this ascends the surrogate Q^

    def validation_step(self, batch):
        return {"Q": 1.2 - (self.model.theta.detach() ** 2).sum()}


class ExploreOnly(PBT):
    """Every ``interval`` evaluations, perturb your own h (donor None: keep your own theta)."""

    def setup(self, space, *, mode, seed=None):
        super().setup(space, mode=mode, seed=seed)
        self._count: dict[int, int] = {}
        self._params: dict[int, dict] = {}

    def on_trial_start(self, number, params):
        super().on_trial_start(number, params)
        self._params[number] = dict(params)

    def on_report(self, number, step, value):
        self._count[number] = self._count.get(number, 0) + 1
        if self._count[number] % self.interval:
            return Decision()
        new, ops = self.explore(self._params[number])
        self._params[number] = new
        return Decision("exploit", reason="explore only", code="explore", donor=None, params=new,
                        operations=tuple(ops))


class Neither(PBT):
    """Population members take turns, but nobody copies or explores."""

    def on_report(self, number, step, value):
        d = super().on_report(number, step, value)
        return Decision("pause", code="pause", checkpoint=True) if d.action == "pause" else \
            Decision("continue", checkpoint=d.checkpoint)

    def on_resume(self, number):
        # a deferred ready point is ranked on resume (PBT.on_resume): here it is only marked taken,
        # so no exploit or explore reaches the member that way either
        m = self._members.get(number)
        if m is not None:
            m.paused = m.pending = False
        return None


def make(strategy: str, seed: int):
    common = dict(population=2, interval=1, initial=INITIAL, seed=seed)
    if strategy == "pbt":
        return PBT(**common)
    if strategy == "exploit-only":
        return PBT(perturb=(1.0,), resample_probability=0.0, **common)
    if strategy == "explore-only":
        return ExploreOnly(**common)
    if strategy == "neither":
        return Neither(**common)
    raise SystemExit(f"unknown strategy {strategy!r}")


def run(strategy: str, seed: int, epochs: int) -> tuple[float, int, float]:
    """Best Q of the population, number of exploits, first evaluation where some member had Q >= 1.19."""
    study = ts.tune(Toy, SPACE, scheduler=make(strategy, seed), metric="Q", mode="max", epochs=epochs, seed=seed,
                    verbose=False)
    first = min((step for t in study.trials for step, q in t.metrics["Q"].items() if q >= 1.19), default=math.inf)
    return study.best_trial.value, len(study.lineage()), first


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=12)
    p.add_argument("--epochs", type=int, default=40, help=f"evaluations per member ({STEPS_PER_EPOCH} steps each)")
    p.add_argument("--strategies", default="pbt,exploit-only,explore-only,neither")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print(f"toy PBT (Jaderberg et al. 2017, Fig. 2): population 2, {args.epochs} evaluations x {STEPS_PER_EPOCH} "
          f"steps, {args.seeds} seeds; best Q of the population (max 1.2)")
    print(f"{'strategy':<14}{'median':>8}{'min':>8}{'max':>8}{'>=1.19':>8}{'reached at':>11}{'exploits':>10}"
          f"{'time':>8}")
    for strategy in args.strategies.split(","):
        t0 = time.perf_counter()
        results = [run(strategy, seed, args.epochs) for seed in range(args.seeds)]
        qs = [q for q, _, _ in results]
        hits = sum(q >= 1.19 for q in qs)
        reached = statistics.median([r for _, _, r in results])
        print(f"{strategy:<14}{statistics.median(qs):8.4f}{min(qs):8.4f}{max(qs):8.4f}{hits:>5}/{len(qs):<2}"
              f"{reached:>11.0f}{statistics.median([n for _, n, _ in results]):10.0f}{time.perf_counter() - t0:7.1f}s")
    print("reached at: median evaluation where a member first had Q >= 1.19 (inf: never)")


if __name__ == "__main__":
    main()
