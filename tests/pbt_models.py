"""Small modules and jobs for the PBT and Processes tests (importable by worker processes)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import torchsearch as ts
from tests.models import regression_data


class DropoutRegression(ts.TrialModule):
    """An MLP with dropout and shuffled batches (uses the RNG), SGD with momentum.

    ``hp``: lr, momentum, dropout, width (optional, default 8), device_metric (report the CUDA
    device index).
    """

    def setup(self, hp):
        x, y = regression_data()
        width = int(hp.get("width", 8))
        self.model = nn.Sequential(nn.Linear(4, width), nn.Tanh(), nn.Dropout(hp.get("dropout", 0.1)),
                                   nn.Linear(width, 1))
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=hp["lr"], momentum=hp.get("momentum", 0.9))
        self.train_loader = DataLoader(TensorDataset(x[:192], y[:192]), batch_size=32, shuffle=True)
        self.val_loader = DataLoader(TensorDataset(x[192:], y[192:]), batch_size=64)

    def apply_hyperparameters(self, hp):
        for m in self.model.modules():
            if isinstance(m, nn.Dropout):
                m.p = hp.get("dropout", 0.1)
        self.set_optimizer_hyperparameters(hp)
        same_shape = int(hp.get("width", 8)) == int(self.hp.get("width", 8))
        self.hp = dict(hp)
        return same_shape

    def training_step(self, batch):
        x, y = batch
        return nn.functional.mse_loss(self.model(x), y)

    def validation_step(self, batch):
        x, y = batch
        out = {"mse": nn.functional.mse_loss(self.model(x), y)}
        if self.device.type == "cuda":
            out["device"] = torch.tensor(float(self.device.index))
            out["pid"] = torch.tensor(float(os.getpid()))
        return out


class FlatMetricRegression(DropoutRegression):
    """DropoutRegression that also reports ``flat``, a metric that never changes."""

    def validation_step(self, batch):
        return {**super().validation_step(batch), "flat": torch.tensor(1.0)}


class RendezvousJob:
    """Each trial announces itself in ``folder`` and waits until ``n`` trials have: it can only
    finish when ``n`` trials run at the same time. Reports its start/end times and pid."""

    def __init__(self, folder: str, n: int, timeout: float = 120.0) -> None:
        self.folder, self.n, self.timeout = folder, n, timeout

    def __call__(self, trial):
        start = time.time()
        Path(self.folder, f"{trial.number}").write_text(str(os.getpid()))
        limit = time.monotonic() + self.timeout
        while len(list(Path(self.folder).iterdir())) < self.n:
            if time.monotonic() > limit:
                raise ts.TrialFailed(f"trial {trial.number} ran alone: no other trial started")
            time.sleep(0.01)
        end = time.time()
        trial.report({"value": float(trial.params["x"]), "start": start, "end": end, "pid": float(os.getpid())},
                     step=0)
        return None


class MisbehavingJob:
    """x == 1: the worker process is killed (SIGKILL); x == 2: the job raises; else reports x."""

    def __call__(self, trial):
        x = trial.params["x"]
        if x == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        if x == 2:
            raise ValueError("bad luck on purpose")
        trial.report({"value": float(x)}, step=0)
        return None


class OrphanPipeJob:
    """x == 1: forks a child that keeps the worker's pipe open (as a DataLoader worker would),
    writes its pid to ``pid_file``, then kills the worker process; else reports x."""

    def __init__(self, pid_file: str) -> None:
        self.pid_file = pid_file

    def __call__(self, trial):
        x = trial.params["x"]
        if x == 1:
            child = os.fork()
            if child == 0:  # holds every descriptor of the worker, its pipe included
                time.sleep(60)
                os._exit(0)
            with open(self.pid_file, "w") as f:
                f.write(str(child))
            os.kill(os.getpid(), signal.SIGKILL)
        trial.report({"value": float(x)}, step=0)
        return None


class SlowJob:
    """Reports every 50 ms for a long time (to be interrupted)."""

    def __call__(self, trial):
        for step in range(10_000):
            trial.report({"value": float(step)}, step=step)
            time.sleep(0.05)
        return None


def failing_worker(conn, device, threads):
    """A worker process that ends before it is ready (as a broken CUDA set-up would)."""
    raise SystemExit(3)


class PausingJob:
    """A PBT member in a few lines: reports its number for 3 steps, hands its step back when told to
    pause and resumes from it. ``kill_on_pause``: that trial's worker process dies (SIGKILL) when
    told to pause (after the coordinator has sent it the next trial)."""

    def __init__(self, kill_on_pause: int | None = None, ignore_pause: int | None = None) -> None:
        self.kill_on_pause = kill_on_pause
        self.ignore_pause = ignore_pause  # that trial reports on after its pause decision (a broken job)

    def __call__(self, trial):
        from types import SimpleNamespace

        resumed = trial.resume_state()
        for step in range((resumed or {}).get("epoch", 0) + 1, 4):
            d = trial.report({"value": float(trial.number)}, step=step, state=lambda: {"epoch": step, "module": {"w": torch.zeros(3)}},
                             final=step == 3)
            if d.action == "pause":
                if trial.number == self.kill_on_pause:
                    os.kill(os.getpid(), signal.SIGKILL)
                if trial.number == self.ignore_pause:
                    continue
                return SimpleNamespace(paused=True)
        return None


class CountingJob:
    """Reports ``steps`` evaluations as fast as it can, then writes how many of its reports
    waited for an answer to ``folder/<number>`` (``bad_at``: that report lacks the metric)."""

    def __init__(self, folder: str, steps: int = 40, bad_at: int | None = None) -> None:
        self.folder, self.steps, self.bad_at = folder, steps, bad_at

    def __call__(self, trial):
        for step in range(1, self.steps + 1):
            metrics = {"other": 1.0} if step == self.bad_at else {"value": float(step)}
            trial.report(metrics, step=step, final=step == self.steps)
        Path(self.folder, str(trial.number)).write_text(str(trial.answered))
        return None


class EndlessJob:
    """Reports every 10 ms until told to stop; never looks at the clock itself."""

    def __call__(self, trial):
        from types import SimpleNamespace

        for step in range(1, 100_000):
            d = trial.report({"value": float(step)}, step=step)
            if d.action == "stop":
                return SimpleNamespace(stop_code=d.code, stop_reason=d.reason)
            time.sleep(0.01)
        return None
