"""A PBT coordinator run as its own process by ``test_pbt_kill.py``: ``python -m
tests.faults.pbt_kill STORAGE [--workers N] [--epochs N]``. Population 4, a decision at every
evaluation; each member reports the learning rate and momentum it trained with, so that a test
can check every report against the lineage stored before it. Prints the end reason.
"""

from __future__ import annotations

import argparse
import time

import torch

import torchsearch as ts
from torchsearch.schedulers import PBT
from tests.pbt_models import DropoutRegression

SPACE = {"lr": ts.Float(1e-3, 0.3, log=True), "momentum": ts.Float(0.0, 0.95), "dropout": ts.Float(0.0, 0.5)}


class HonestMember(DropoutRegression):
    """A member whose steps take 20 ms and whose evaluations report the ``lr`` and ``momentum``
    its optimiser trained the epoch with (a metric, so stored with the report)."""

    def training_step(self, batch):
        time.sleep(0.02)
        return super().training_step(batch)

    def validation_step(self, batch):
        group = self.optimizer.param_groups[0]
        return {**super().validation_step(batch), "lr": torch.tensor(group["lr"], dtype=torch.float64),
                "momentum": torch.tensor(group["momentum"], dtype=torch.float64)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("storage")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=8)
    a = p.parse_args()
    study = ts.tune(HonestMember, SPACE, scheduler=PBT(population=4, interval=1, quantile=0.5, seed=0),
                    metric="mse", mode="min", epochs=a.epochs, storage=a.storage, seed=0, verbose=False,
                    **(dict(devices="cpu", workers=a.workers) if a.workers else {}))
    print(study.end_reason, flush=True)


if __name__ == "__main__":
    main()
