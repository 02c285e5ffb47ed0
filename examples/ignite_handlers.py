"""torchsearch's stopping handlers in a plain Ignite script (no TrialModule, no study).

    python examples/ignite_handlers.py                 # four runs, each stopped by another handler
    python examples/ignite_handlers.py --lr 0.3 --target 0.97 --budget 5

An MLP on scikit-learn's bundled digits, trained with Ignite's own
``create_supervised_trainer`` / ``create_supervised_evaluator``. Four handlers watch each run:

- ``Divergence``: the batch loss, every iteration (NaN/inf at once; its moving average past 10x its best);
- ``Patience``: validation accuracy, no gain > 0.002 in 4 evaluations (not before the 5th);
- ``Target``: validation accuracy reaches the target;
- ``TimeBudget``: seconds of training, counted from the start of the run.

Whichever fires first stops the trainer; the script prints its code and reason.
"""

from __future__ import annotations

import argparse
import time

import torch
from digits import digits_tensors  # examples/digits.py: the data, standardised, split 80/20
from ignite.engine import Events, create_supervised_evaluator, create_supervised_trainer
from ignite.metrics import Accuracy, Loss
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from torchsearch.handlers import Divergence, Patience, Target, TimeBudget, stop_record


def train_once(lr: float, *, epochs: int, target: float, budget: float, seed: int = 0) -> None:
    torch.manual_seed(seed)
    d = digits_tensors()
    train_loader = DataLoader(TensorDataset(d["x_train"], d["y_train"]), batch_size=64, shuffle=True)
    val_loader = DataLoader(TensorDataset(d["x_val"], d["y_val"]), batch_size=512)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    # -- an ordinary Ignite script ------------------------------------------------------------
    trainer = create_supervised_trainer(model, optimizer, loss_fn)
    evaluator = create_supervised_evaluator(model, metrics={"accuracy": Accuracy(), "loss": Loss(loss_fn)})

    @trainer.on(Events.EPOCH_COMPLETED)
    def validate(engine):
        evaluator.run(val_loader)
        m = evaluator.state.metrics
        print(f"  epoch {engine.state.epoch:2d}  val accuracy {m['accuracy']:.4f}  val loss {m['loss']:.4f}")

    # -- torchsearch's handlers -----------------------------------------------------------------
    Divergence(factor=10, smoothing=0.9).attach(trainer)
    Patience(4, metric="accuracy", mode="max", min_delta=0.002, warmup=5).attach(trainer, evaluator)
    Target("accuracy", target, mode="max").attach(trainer, evaluator)
    TimeBudget(budget).attach(trainer)

    print(f"lr={lr:g}: up to {epochs} epochs")
    t0 = time.perf_counter()
    trainer.run(train_loader, max_epochs=epochs)
    record = stop_record(trainer)  # also trainer.state.stop_code / trainer.state.stop_reason
    took = f"{trainer.state.epoch} epochs, {trainer.state.iteration} iterations, {time.perf_counter() - t0:.1f}s"
    if record is None:
        print(f"  -> ran all {epochs} epochs ({took})\n")
    else:
        code, reason = record
        print(f"  -> stopped [{code}] {reason}\n     ({took})\n")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lr", type=float, action="append", help="learning rate (repeat for several runs)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--target", type=float, default=0.98, help="validation accuracy that is good enough")
    p.add_argument("--budget", type=float, default=20.0, help="seconds per run")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.lr:
        runs = [(lr, args.budget) for lr in args.lr]
    else:  # a good lr (target), a timid one (patience), a slow one on a short budget, a blown-up one
        runs = [(0.05, args.budget), (0.003, args.budget), (0.001, 0.25), (10.0, args.budget)]
    for lr, budget in runs:
        train_once(lr, epochs=args.epochs, target=args.target, budget=budget)


if __name__ == "__main__":
    main()
