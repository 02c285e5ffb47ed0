"""Tune an MLP on scikit-learn's bundled 8x8 digits (no download).

    python examples/digits.py                      # random search, 12 trials x 15 epochs
    python examples/digits.py --scheduler grid --trials 8 --epochs 10 --storage runs/digits

Searches lr (log), momentum, width (power of two), dropout and activation; reports the best
configuration and its validation accuracy, and loads its trained weights back.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import torchsearch as ts

_DATA: dict[str, torch.Tensor] = {}


def digits_tensors() -> dict[str, torch.Tensor]:
    """The digits data set, standardised, split 80/20 with a fixed seed (cached per process)."""
    if not _DATA:
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        x = torch.tensor(x, dtype=torch.float32) / 16.0
        y = torch.tensor(y, dtype=torch.long)
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
        x, y = x[perm], y[perm]
        n_val = len(x) // 5
        mean, std = x[n_val:].mean(0), x[n_val:].std(0) + 1e-3
        x = (x - mean) / std
        _DATA.update(x_train=x[n_val:], y_train=y[n_val:], x_val=x[:n_val], y_val=y[:n_val])
    return _DATA


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}


class DigitsMLP(ts.TrialModule):
    def setup(self, hp):
        d = digits_tensors()
        act = ACTIVATIONS[hp["activation"]]
        self.model = nn.Sequential(
            nn.Linear(64, hp["width"]), act(), nn.Dropout(hp["dropout"]),
            nn.Linear(hp["width"], hp["width"]), act(), nn.Dropout(hp["dropout"]),
            nn.Linear(hp["width"], 10),
        )
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=hp["lr"], momentum=hp["momentum"])
        self.train_loader = DataLoader(TensorDataset(d["x_train"], d["y_train"]), batch_size=64, shuffle=True)
        self.val_loader = DataLoader(TensorDataset(d["x_val"], d["y_val"]), batch_size=256)

    def training_step(self, batch):
        x, y = batch
        return nn.functional.cross_entropy(self.model(x), y)

    def validation_step(self, batch):
        x, y = batch
        logits = self.model(x)
        return {"accuracy": (logits.argmax(1) == y).float().mean(), "loss": nn.functional.cross_entropy(logits, y)}


SPACE = {
    "lr": ts.Float(1e-3, 1.0, log=True),
    "momentum": ts.Float(0.0, 0.95),
    "width": ts.PowerOfTwo(16, 256),
    "dropout": ts.Float(0.0, 0.5),
    "activation": ts.Choice(["relu", "tanh", "elu"]),
}


def make_scheduler(name: str, seed: int):
    # imported here, not at the top: a worker or Ray actor that imports this module for DigitsMLP
    # does not load the schedulers (Bayes brings scipy's statistics, ~1 s per process)
    from torchsearch.schedulers import PBT, Bayes, Grid, Random

    if name == "random":
        return Random(seed=seed)
    if name == "sobol":
        return Random(sobol=True, seed=seed)
    if name == "grid":
        return Grid(points=2, shuffle=True, seed=seed)
    if name == "bayes":
        return Bayes(seed=seed)
    if name == "pbt":
        # PBT changes these during training; width and activation are drawn once per member
        return PBT(population=8, interval=2, hyperparams=["lr", "momentum", "dropout"], seed=seed)
    raise SystemExit(f"unknown scheduler {name!r}")


def main(argv: list[str] | None = None) -> ts.Study:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scheduler", default="random", choices=["random", "sobol", "grid", "bayes", "pbt"])
    p.add_argument("--trials", type=int, default=12, help="number of trials (default 12)")
    p.add_argument("--epochs", type=int, default=15, help="epochs per trial (default 15)")
    p.add_argument("--time-budget", type=float, default=None, help="seconds for the whole study")
    p.add_argument("--storage", default=None, help="study folder (SQLite); default: in memory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    t0 = time.perf_counter()
    study = ts.tune(DigitsMLP, SPACE, scheduler=make_scheduler(args.scheduler, args.seed), metric="accuracy",
                    mode="max", epochs=args.epochs, n_trials=args.trials, time_budget=args.time_budget,
                    storage=args.storage, seed=args.seed, verbose=not args.quiet)
    best = study.best_trial
    print(f"\n{len(study.trials)} trials in {time.perf_counter() - t0:.1f}s ({study.end_reason})")
    print(f"best trial {best.number}: accuracy={best.value:.4f} at epoch {best.best_step}")
    print(f"params: {best.params}")
    module = study.load_module(DigitsMLP)
    d = digits_tensors()
    module.model.eval()
    with torch.no_grad():
        acc = (module.model(d["x_val"]).argmax(1) == d["y_val"]).float().mean().item()
    print(f"reloaded best weights: validation accuracy {acc:.4f} (its best epoch, {best.best_step})")
    return study


if __name__ == "__main__":
    main()
