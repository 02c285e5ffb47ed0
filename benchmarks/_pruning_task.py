"""The real task of benchmarks/pruning.py part (a): an MLP on scikit-learn's bundled digits
(no download) with 30% of the training labels replaced at random, so that training long at a
high learning rate memorises the noise and validation accuracy falls back: fast learners lead
early and are overtaken later (the learning curves cross)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import torchsearch as ts

_DATA: dict[str, torch.Tensor] = {}


def data() -> dict[str, torch.Tensor]:
    if not _DATA:
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        x = torch.tensor(x, dtype=torch.float32) / 16.0
        y = torch.tensor(y, dtype=torch.long)
        g = torch.Generator().manual_seed(0)
        perm = torch.randperm(len(x), generator=g)
        x, y = x[perm], y[perm]
        n_val = 797
        xt, yt = x[n_val:].clone(), y[n_val:].clone()
        noisy = torch.rand(len(yt), generator=g) < 0.3
        yt[noisy] = torch.randint(0, 10, (int(noisy.sum()),), generator=g)
        mean, std = xt.mean(0), xt.std(0) + 1e-3
        _DATA.update(x_train=(xt - mean) / std, y_train=yt, x_val=(x[:n_val] - mean) / std, y_val=y[:n_val])
    return _DATA


class NoisyDigits(ts.TrialModule):
    def setup(self, hp):
        d = data()
        w = hp["width"]
        self.model = nn.Sequential(nn.Linear(64, w), nn.ReLU(), nn.Dropout(hp["dropout"]),
                                   nn.Linear(w, w), nn.ReLU(), nn.Dropout(hp["dropout"]), nn.Linear(w, 10))
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=hp["lr"], momentum=0.9,
                                         weight_decay=hp["weight_decay"])
        self.train_loader = DataLoader(TensorDataset(d["x_train"], d["y_train"]), batch_size=64, shuffle=True)
        self.val_loader = DataLoader(TensorDataset(d["x_val"], d["y_val"]), batch_size=800)

    def training_step(self, batch):
        x, y = batch
        return nn.functional.cross_entropy(self.model(x), y)

    def validation_step(self, batch):
        x, y = batch
        return {"accuracy": (self.model(x).argmax(1) == y).float().mean()}


SPACE = {
    "lr": ts.Float(1e-4, 0.3, log=True),
    "weight_decay": ts.Float(1e-6, 1e-2, log=True),
    "width": ts.PowerOfTwo(16, 512),
    "dropout": ts.Float(0.0, 0.6),
}


def train_epoch(m: NoisyDigits) -> float:
    """One epoch of ``m`` in a plain loop; its validation accuracy after it."""
    m.model.train()
    for b in m.train_loader:
        m.optimizer.zero_grad()
        m.training_step(b).backward()
        m.optimizer.step()
    m.model.eval()
    with torch.no_grad():
        return float(sum(m.validation_step(b)["accuracy"] for b in m.val_loader) / len(m.val_loader))


def curve(params: dict, epochs: int, seed: int = 0) -> list[float]:
    """Train ``params`` for ``epochs`` in a plain loop; validation accuracy after each epoch."""
    torch.manual_seed(seed)
    m = NoisyDigits(params)
    return [train_epoch(m) for _ in range(epochs)]
