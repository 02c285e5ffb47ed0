"""Run an existing Ignite script as the trials of a study: ask, report, tell.

    python examples/ignite_study.py                          # 8 random trials, in memory
    python examples/ignite_study.py --trials 20 --storage runs/ignite_study
    torchsearch trials runs/ignite_study                     # then look at what was stored

The training code below is a plain Ignite script (``create_supervised_trainer`` /
``create_supervised_evaluator`` on scikit-learn's digits); it is not rewritten as a
TrialModule. Three lines join it to the study: ``study.ask()`` for the hyperparameters,
``Reporter(trial).attach(trainer, evaluator)`` to report each evaluation (and obey a stop
decision), ``study.tell(trial)`` when the run ends. ``Patience`` and ``Divergence`` stop
hopeless runs early; their reasons are stored with the trial.
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

import torchsearch as ts
from torchsearch.handlers import Divergence, Patience, Reporter
from torchsearch.schedulers import Random

SPACE = {
    "lr": ts.Float(1e-3, 3.0, log=True),
    "momentum": ts.Float(0.0, 0.95),
    "width": ts.PowerOfTwo(16, 256),
    "batch_size": ts.Choice([32, 64, 128]),
}


def build(params: dict, seed: int):
    """The user's own Ignite script: model, optimiser, trainer, evaluator, loaders."""
    torch.manual_seed(seed)
    d = digits_tensors()
    train_loader = DataLoader(TensorDataset(d["x_train"], d["y_train"]), batch_size=params["batch_size"],
                              shuffle=True)
    val_loader = DataLoader(TensorDataset(d["x_val"], d["y_val"]), batch_size=512)
    model = nn.Sequential(nn.Linear(64, params["width"]), nn.ReLU(), nn.Linear(params["width"], 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=params["lr"], momentum=params["momentum"])
    loss_fn = nn.CrossEntropyLoss()
    trainer = create_supervised_trainer(model, optimizer, loss_fn)
    evaluator = create_supervised_evaluator(model, metrics={"accuracy": Accuracy(), "loss": Loss(loss_fn)})
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda engine: evaluator.run(val_loader))
    return trainer, evaluator, train_loader


def main(argv: list[str] | None = None) -> ts.Study:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--storage", default=None, help="study folder (SQLite); default: in memory")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()

    study = ts.Study(storage=args.storage, name="ignite_study", space=SPACE, scheduler=Random(seed=args.seed),
                     metric="accuracy", mode="max", seed=args.seed)
    for i in range(args.trials):
        trial = study.ask()                                   # params from the scheduler
        trainer, evaluator, train_loader = build(trial.params, seed=args.seed + i)
        Reporter(trial).attach(trainer, evaluator)            # report each evaluation, obey stops
        Patience(4, metric="accuracy", mode="max", min_delta=1e-3).attach(trainer, evaluator)
        Divergence(factor=10, smoothing=0.9).attach(trainer)
        trainer.run(train_loader, max_epochs=args.epochs)
        study.tell(trial)                                     # completed, stopped (with why) or failed

    print(f"\n{args.trials} trials in {time.perf_counter() - t0:.1f}s")
    for t in study.trials:
        value = f"{t.value:.4f}" if t.has_value() else "-"
        why = t.stop_reason or t.error or f"all {args.epochs} epochs"
        print(f"  trial {t.number}: {t.state:9s} accuracy {value}  lr={t.params['lr']:.3g}  {why}")
    best = study.best_trial
    print(f"best trial {best.number}: accuracy {best.value:.4f} at epoch {best.best_step}, params {best.params}")
    return study


if __name__ == "__main__":
    main()
