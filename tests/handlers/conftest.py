"""Real Ignite engines on a real small model (scikit-learn's bundled digits, no download)."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Engine, Events, create_supervised_evaluator, create_supervised_trainer
from ignite.metrics import Accuracy, Loss
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

_DIGITS: dict[str, torch.Tensor] = {}


def digits() -> dict[str, torch.Tensor]:
    if not _DIGITS:
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        x = torch.tensor(x, dtype=torch.float32) / 16.0
        y = torch.tensor(y, dtype=torch.long)
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
        x, y = x[perm], y[perm]
        x = (x - x[360:].mean(0)) / (x[360:].std(0) + 1e-3)
        _DIGITS.update(x_train=x[360:], y_train=y[360:], x_val=x[:360], y_val=y[:360])
    return _DIGITS


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_engines(lr: float = 0.1, *, seed: int = 0, nan: bool = False, batch_size: int = 128,
                 n_train: int | None = None):
    """(trainer, evaluator, train_loader): an MLP on digits with SGD at ``lr``.

    ``nan=True`` makes every training loss NaN. The evaluator computes accuracy and loss.
    """
    torch.manual_seed(seed)
    d = digits()
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.SGD(model.parameters(), lr=lr)

    def loss_fn(logits, y):
        loss = nn.functional.cross_entropy(logits, y)
        return loss * float("nan") if nan else loss

    trainer = create_supervised_trainer(model, opt, loss_fn)
    evaluator = create_supervised_evaluator(
        model, metrics={"accuracy": Accuracy(), "loss": Loss(nn.functional.cross_entropy)})
    n = n_train or len(d["x_train"])
    train = DataLoader(TensorDataset(d["x_train"][:n], d["y_train"][:n]), batch_size=batch_size, shuffle=True,
                       generator=torch.Generator().manual_seed(seed))
    val = DataLoader(TensorDataset(d["x_val"], d["y_val"]), batch_size=360)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda e: evaluator.run(val))
    return trainer, evaluator, train


def scripted(scores: list[float]):
    """A score function that returns ``scores[trainer epoch - 1]`` (set after attaching)."""
    holder: dict[str, Engine] = {}

    def score(engine: Engine) -> float:
        return scores[holder["trainer"].state.epoch - 1]

    return score, holder


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
