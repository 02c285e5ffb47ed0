"""Small real models on generated data, importable by tests (and by worker processes)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import torchsearch as ts


def regression_data(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    w = torch.tensor([[1.5], [-2.0], [0.5], [1.0]])
    y = x @ w + 0.05 * torch.randn(n, 1, generator=g)
    return x, y


class TinyRegression(ts.TrialModule):
    """Linear regression with a hidden layer; ``hp``: lr (float), optional width, fail, nan_at."""

    def setup(self, hp):
        x, y = regression_data()
        width = int(hp.get("width", 8))
        self.model = nn.Sequential(nn.Linear(4, width), nn.Tanh(), nn.Linear(width, 1))
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=hp["lr"])
        self.train_loader = DataLoader(TensorDataset(x[:192], y[:192]), batch_size=32, shuffle=True)
        self.val_loader = DataLoader(TensorDataset(x[192:], y[192:]), batch_size=50)
        if hp.get("fail"):
            raise RuntimeError("setup failed on purpose")

    def training_step(self, batch):
        x, y = batch
        loss = nn.functional.mse_loss(self.model(x), y)
        if self.hp.get("nan"):
            loss = loss * float("nan")
        return loss

    def validation_step(self, batch):
        x, y = batch
        return {"mse": nn.functional.mse_loss(self.model(x), y), "n": torch.tensor(float(len(x)))}
