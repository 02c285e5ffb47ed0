"""A task where the best hyperparameters change during training: PBT vs Random, same budget.

Noisy linear regression: y = w.x + noise (50 inputs, |w| large, label noise variance 1.0),
learnt online (fresh samples every step, 125 steps of 16 per epoch) by a linear model with
plain SGD.
Early on, a large
learning rate makes fast progress; later, the gradient noise of that same rate holds the loss
on a floor set by the rate, and only a smaller rate goes lower. So the best learning rate
*falls* during training, and no fixed value keeps up: it is either slow at the start or stuck
on a high floor at the end. Random search can only pick fixed rates; PBT can lower the rate of
the members that are ahead when lowering it pays off (an annealing schedule found by search).

Both get the same budget: ``--population`` trials x ``--epochs`` epochs (PBT: a population of
that size; Random: that many trials), in this process, over ``--seeds`` seeds. Reported: the
best validation excess MSE of each study (the model's MSE against the noiseless targets
x.w: what it adds to the noise; 0 is perfect, lower is better), and the learning-rate schedule PBT found.

    python benchmarks/pbt_schedule.py --seeds 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torchsearch as ts  # noqa: E402
from torchsearch.schedulers import PBT, Random  # noqa: E402

SPACE = {"lr": ts.Float(1e-4, 0.05, log=True)}
_DATA: dict[str, torch.Tensor] = {}


def data() -> dict[str, torch.Tensor]:
    if not _DATA:
        g = torch.Generator().manual_seed(0)
        w = 3.0 * torch.randn(50, 1, generator=g)
        x = torch.randn(12000, 50, generator=g)
        y = x @ w + torch.randn(12000, 1, generator=g)
        _DATA.update(w=w, x_val=x[2000:], y_val=y[2000:], clean_val=(x @ w)[2000:])
    return _DATA


class Stream:
    """An epoch of ``steps`` fresh batches (x, x.w + noise), drawn with torch's RNG: no sample is
    seen twice, so the only floor on the error is SGD's own noise, which the rate sets."""

    def __init__(self, w: torch.Tensor, steps: int, batch_size: int) -> None:
        self.w, self.steps, self.batch_size = w, steps, batch_size

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        for _ in range(self.steps):
            x = torch.randn(self.batch_size, len(self.w))
            yield x, x @ self.w + torch.randn(self.batch_size, 1)


class NoisyRegression(ts.TrialModule):
    def setup(self, hp):
        d = data()
        self.model = nn.Linear(50, 1)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=hp["lr"])
        self.train_loader = Stream(d["w"], steps=125, batch_size=16)
        self.val_loader = [(d["x_val"], d["y_val"], d["clean_val"])]

    def training_step(self, batch):
        x, y = batch
        return nn.functional.mse_loss(self.model(x), y)

    def validation_step(self, batch):
        x, y, clean = batch
        pred = self.model(x)
        # excess risk: the model's error against the noiseless targets (what it adds to the noise)
        return {"mse": nn.functional.mse_loss(pred, y), "excess": nn.functional.mse_loss(pred, clean)}


def run(scheduler, population: int, epochs: int, seed: int) -> ts.Study:
    return ts.tune(NoisyRegression, SPACE, scheduler=scheduler, metric="excess", mode="min", epochs=epochs,
                   n_trials=population, seed=seed, verbose=False)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--interval", type=int, default=2)
    p.add_argument("--seeds", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    data()
    print(f"noisy linear regression (label noise variance 1.0 is the floor), SGD batch 16; "
          f"budget {args.population} trials x {args.epochs} epochs; best validation excess MSE per study, {args.seeds} seeds")
    results: dict[str, list[float]] = {"random": [], "pbt": []}
    lrs: list[float] = []
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        rnd = run(Random(seed=seed), args.population, args.epochs, seed)
        pbt = run(PBT(population=args.population, interval=args.interval, seed=seed), args.population, args.epochs,
                  seed)
        results["random"].append(rnd.best_trial.value)
        results["pbt"].append(pbt.best_trial.value)
        lrs.append(rnd.best_trial.params["lr"])
        best = pbt.best_trial
        sched = " -> ".join(f"{seg['params']['lr']:.3g}@{seg['start']}" for seg in pbt.schedule(best.number))
        print(f"seed {seed}: random {rnd.best_trial.value:.4f} (lr {rnd.best_trial.params['lr']:.3g})  "
              f"pbt {best.value:.4f}  lr schedule behind PBT's best: {sched}", flush=True)
    r, q = results["random"], results["pbt"]
    wins = sum(b < a for a, b in zip(r, q))
    print(f"median best excess MSE: random {statistics.median(r):.4f}, pbt {statistics.median(q):.4f}; "
          f"PBT lower in {wins}/{len(r)} seeds ({time.perf_counter() - t0:.0f}s)")


if __name__ == "__main__":
    main()
