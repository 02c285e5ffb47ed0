"""Population-based training of the digits MLP, across worker processes (or GPUs).

    python examples/digits_pbt.py                                   # 8 members, 2 CPU workers
    python examples/digits_pbt.py --devices cuda                    # one worker per visible GPU
    python examples/digits_pbt.py --devices cuda --per-device 4     # four members per GPU
    python examples/digits_pbt.py --workers 0                       # in this process, one slot
    torchsearch lineage runs/digits_pbt --trial 3                   # who copied whom, when

PBT explores lr, momentum and dropout while training (changed in place: the optimiser's
param_groups and the Dropout modules); the width is drawn once per member and copied from the
donor on exploit (the module is rebuilt then). At the end it prints the best member's lineage
and hyperparameter schedule, reloads its weights, and replays its schedule from scratch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torchsearch as ts  # noqa: E402
from digits import DigitsMLP, digits_tensors  # noqa: E402
from torchsearch.schedulers import PBT  # noqa: E402

SPACE = {
    "lr": ts.Float(1e-3, 0.5, log=True),
    "momentum": ts.Float(0.0, 0.95),
    "dropout": ts.Float(0.0, 0.5),
    "width": ts.PowerOfTwo(32, 128),
    "activation": ts.Choice(["relu"]),
}
HYPERPARAMS = ["lr", "momentum", "dropout"]  # what PBT changes during training


class DigitsPBT(DigitsMLP):
    """The digits MLP, with dropout changed in place when PBT explores it."""

    def apply_hyperparameters(self, hp):
        same_shape = hp["width"] == self.hp["width"] and hp["activation"] == self.hp["activation"]
        for m in self.model.modules():
            if isinstance(m, nn.Dropout):
                m.p = hp["dropout"]
        self.set_optimizer_hyperparameters(hp)  # lr, momentum
        self.hp = dict(hp)
        return same_shape  # False: rebuild (the donor had another width)


def accuracy(module: ts.TrialModule) -> float:
    d = digits_tensors()
    module.model.eval()
    with torch.no_grad():
        return (module.model(d["x_val"].to(module.device)).argmax(1).cpu() == d["y_val"]).float().mean().item()


def main(argv: list[str] | None = None) -> ts.Study:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--interval", type=int, default=2, help="evaluations between exploit/explore decisions")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--devices", default="cpu", help="'cpu', 'cuda' (every GPU) or 'cuda:0,cuda:1'")
    p.add_argument("--workers", type=int, default=2, help="CPU workers (0: run in this process)")
    p.add_argument("--per-device", type=int, default=1)
    p.add_argument("--storage", default=None, help="study folder (SQLite); default: in memory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    parallel = {}
    if args.devices != "cpu":
        parallel = {"devices": args.devices, "per_device": args.per_device}
    elif args.workers > 0:
        parallel = {"devices": "cpu", "workers": args.workers}
    t0 = time.perf_counter()
    study = ts.tune(DigitsPBT, SPACE, scheduler=PBT(population=args.population, interval=args.interval,
                                                    hyperparams=HYPERPARAMS, seed=args.seed),
                    metric="accuracy", mode="max", epochs=args.epochs, storage=args.storage, seed=args.seed,
                    verbose=not args.quiet, **parallel)
    best = study.best_trial
    # a member is ready every `interval` evaluations; a copy carries the donor's epoch count, so a
    # member that exploited evaluates (and is ready) less often: the copied epochs were trained by its donor
    ready = sum(len(t.metrics.get("accuracy", {})) // args.interval for t in study.trials)
    print(f"\n{len(study.trials)} members x {args.epochs} epochs in {time.perf_counter() - t0:.1f}s "
          f"({len(study.lineage())} exploits at {ready} decision points)")
    print(f"best trial {best.number}: accuracy={best.value:.4f} at epoch {best.best_step}; final params {best.params}")
    print("its lineage:")
    for row in study.lineage(best.number):
        print(f"  step {row['step']} (goes on from step {row['donor_step']}): {'; '.join(row['operations'])}")
    print("the schedule behind its weights:")
    for seg in study.schedule(best.number):
        hp = {k: round(v, 4) if isinstance(v, float) else v for k, v in seg["params"].items() if k in HYPERPARAMS}
        print(f"  trial {seg['trial']} steps {seg['start']}..{seg['end'] or 'end'}: {hp}")
    module = study.load_module(DigitsPBT)
    print(f"reloaded its final weights: validation accuracy {accuracy(module):.4f}")
    trainer = study.replay(DigitsPBT, best.number)
    print(f"replayed its schedule from scratch ({trainer.epoch} epochs): validation accuracy "
          f"{accuracy(trainer.module):.4f}")
    return study


if __name__ == "__main__":
    main()
