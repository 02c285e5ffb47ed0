"""What both sides of the PBT comparison share (``pbt_digits.py``, ``_ray_pbt.py``): the module
they train, its data, and how their time and CPU are measured.

Data. scikit-learn's 1797 bundled 8x8 digits (no download), split 80/20 with the seed of
``examples/digits.py``. Each image is also taken shifted by one pixel in the 8 directions (zero
fill), so that validation can be large without downloading anything:

- validation: the 359 held-out digits, each in all 9 positions: 3231 images (1 image = 0.031%;
  the shifts of one digit are not independent, so differences below ~0.3% still say little);
- training, ``short``: the 1438 training digits, each in one position drawn once with a fixed
  seed (same size and epoch cost as ``examples/digits.py``, same distribution as validation);
- training, ``long``: the 1438 training digits in all 9 positions (12942 images, an epoch ~9x
  longer), so that start-up no longer dominates the job.

Standardised with the training set's mean and standard deviation. The module is the digits MLP
of ``examples/digits_pbt.py`` (same space, same in-place hyperparameter changes); its
``validation_step`` also returns ``clock``, the wall-clock time (``time.time()``) of the
evaluation, which both sides report like any metric: the first and last results of either side
are timed where they are computed, by the same code.

CPU. :class:`TreeCpu` counts the CPU seconds of this process and of every process below it
(worker processes; Ray's gcs_server, raylet, agents, workers and actors), sampled while they run
so that the ended ones count too.
"""

from __future__ import annotations

import functools
import os
import resource
import sys
import threading
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parents[1]
PATHS = [str(ROOT), str(ROOT / "examples"), str(ROOT / "benchmarks")]
for _p in reversed(PATHS):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from digits import ACTIVATIONS  # noqa: E402
from digits_pbt import DigitsPBT  # noqa: E402

SHIFTS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]  # (0, 0) is the image itself


def _shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``x``: n x 8 x 8 images moved ``dy`` rows down and ``dx`` columns right, zero fill."""
    out = torch.zeros_like(x)
    rows_out, rows_in = slice(max(dy, 0), 8 + min(dy, 0)), slice(max(-dy, 0), 8 - max(dy, 0))
    cols_out, cols_in = slice(max(dx, 0), 8 + min(dx, 0)), slice(max(-dx, 0), 8 - max(dx, 0))
    out[:, rows_out, cols_out] = x[:, rows_in, cols_in]
    return out


@functools.cache
def bench_tensors(train: str) -> dict[str, torch.Tensor]:
    """Training and validation tensors for ``train`` = "short" or "long" (cached per process)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32).reshape(-1, 8, 8) / 16.0
    y = torch.tensor(y, dtype=torch.long)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))  # as examples/digits.py
    x, y = x[perm], y[perm]
    n_val = len(x) // 5
    xv, yv, xt, yt = x[:n_val], y[:n_val], x[n_val:], y[n_val:]
    x_val = torch.cat([_shifted(xv, dy, dx) for dy, dx in SHIFTS])
    y_val = yv.repeat(len(SHIFTS))
    if train == "short":
        pick = torch.randint(len(SHIFTS), (len(xt),), generator=torch.Generator().manual_seed(1))
        x_train = torch.stack([_shifted(xt[i:i + 1], *SHIFTS[int(k)])[0] for i, k in enumerate(pick)])
        y_train = yt
    elif train == "long":
        x_train = torch.cat([_shifted(xt, dy, dx) for dy, dx in SHIFTS])
        y_train = yt.repeat(len(SHIFTS))
    else:
        raise ValueError(f"bench_tensors: train must be 'short' or 'long', got train={train!r}")
    x_train, x_val = x_train.reshape(len(x_train), 64), x_val.reshape(len(x_val), 64)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-3
    return {"x_train": (x_train - mean) / std, "y_train": y_train, "x_val": (x_val - mean) / std, "y_val": y_val}


class _BenchDigits(DigitsPBT):
    """The digits PBT module on the benchmark's data; evaluations also report their ``clock``."""

    data = "short"

    def setup(self, hp):  # DigitsMLP.setup's model and optimiser, on this data (its own is not loaded)
        act = ACTIVATIONS[hp["activation"]]
        self.model = nn.Sequential(
            nn.Linear(64, hp["width"]), act(), nn.Dropout(hp["dropout"]),
            nn.Linear(hp["width"], hp["width"]), act(), nn.Dropout(hp["dropout"]),
            nn.Linear(hp["width"], 10),
        )
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=hp["lr"], momentum=hp["momentum"])
        d = bench_tensors(self.data)
        self.train_loader = DataLoader(TensorDataset(d["x_train"], d["y_train"]), batch_size=64, shuffle=True)
        self.val_loader = DataLoader(TensorDataset(d["x_val"], d["y_val"]), batch_size=len(d["y_val"]))

    def validation_step(self, batch):
        return {**super().validation_step(batch), "clock": time.time()}


class DigitsShort(_BenchDigits):
    data = "short"


class DigitsLong(_BenchDigits):
    data = "long"


#: name -> (module class, default epochs)
CONFIGS = {"short": (DigitsShort, 30), "long": (DigitsLong, 40)}


def train_epoch(m: DigitsPBT, device: str = "cpu") -> dict[str, float]:
    """One epoch of ``m`` (its model on ``device``) in a bare loop over its own training_step and
    validation_step: the validation metrics as the study reports them (batch-size weighted means)."""
    m.model.train()
    for x, y in m.train_loader:
        m.optimizer.zero_grad(set_to_none=True)
        m.training_step((x.to(device, non_blocking=True), y.to(device, non_blocking=True))).backward()
        m.optimizer.step()
    m.model.eval()
    sums: dict[str, float] = {}
    count = 0
    with torch.no_grad():
        for x, y in m.val_loader:
            for k, v in m.validation_step((x.to(device), y.to(device))).items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(y)
            count += len(y)
    return {k: v / count for k, v in sums.items()}


class TreeCpu:
    """CPU seconds (user + system) used by this process and every process below it between
    ``start()`` and ``read()``, by process name.

    Ray's raylet does not wait for the workers and actors it ends (their times never reach its
    ``children`` times), so every descendant is sampled while it runs: a thread lists /proc every
    ``interval`` seconds, follows parent ids from this process down, and keeps each process's
    last user + system time. A process that ends loses at most its last ``interval`` (its end,
    after its last result), and one that lives less than ``interval`` may be missed. The
    sampler's own CPU is taken out of this process's.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self._tick = os.sysconf("SC_CLK_TCK")
        self._seen: dict[tuple[int, int], tuple[str, float]] = {}  # (pid, start tick) -> (name, cpu seconds)
        self._others: set[int] = set()  # processes not below this one (forgotten every second: a pid is reused)
        self._samples = 0
        self._base: dict[tuple[int, int], float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._self0 = self._sampler = 0.0

    def _stat(self, pid: int) -> tuple[str, int, int, float] | None:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        comm, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        return comm, int(rest[1]), int(rest[19]), (int(rest[11]) + int(rest[12])) / self._tick  # ppid, start, cpu

    def _label(self, pid: int, comm: str) -> str:
        """``raylet``, ``ray::IDLE`` (a Ray worker or actor) ...; a Python process by what it runs."""
        if not comm.startswith(("ray::", "python")):
            return comm
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            args = [comm]
        if comm.startswith("ray::"):  # comm is cut at 15 characters; the title is whole
            title = args[0] if args[0].startswith("ray::") else comm
            return "ray::" + (title[5:].split(".")[0].split() or ["?"])[0]
        if comm.startswith("python"):
            if any("multiprocessing" in a for a in args):
                return "spawned processes"
            scripts = [Path(a).stem for a in args[1:] if a.endswith(".py")]
            return scripts[0] if scripts else comm
        return comm

    def _sample(self) -> None:
        self._samples += 1
        if self._samples % max(1, round(1 / self.interval)) == 0:
            self._others.clear()
        me = os.getpid()
        tree = {me} | {pid for pid, _ in self._seen}
        pending = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            pid = int(entry)
            if pid in self._others:
                continue
            st = self._stat(pid)
            if st is None:
                continue
            comm, ppid, start, cpu = st
            key = (pid, start)
            if key in self._seen or ppid in tree:
                tree.add(pid)
                self._seen[key] = (self._label(pid, comm), cpu)
            else:
                pending.append((key, ppid, comm, cpu))
        grew = True
        while grew:  # a child listed before its parent
            grew = False
            for item in list(pending):
                key, ppid, comm, cpu = item
                if ppid in tree:
                    tree.add(key[0])
                    self._seen[key] = (self._label(key[0], comm), cpu)
                    pending.remove(item)
                    grew = True
        self._others.update(key[0] for key, *_ in pending)

    def _run(self) -> None:
        t0 = time.thread_time()
        while not self._stop.wait(self.interval):
            self._sample()
        self._sampler = time.thread_time() - t0

    def start(self) -> TreeCpu:
        self._sample()
        self._base = {k: cpu for k, (_, cpu) in self._seen.items()}
        me = resource.getrusage(resource.RUSAGE_SELF)
        self._self0 = me.ru_utime + me.ru_stime
        self._thread = threading.Thread(target=self._run, daemon=True, name="TreeCpu")
        self._thread.start()
        return self

    def read(self) -> dict[str, float]:
        """``{"this process": s, <name>: s, ...}``; ``"total"`` sums them."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        me = resource.getrusage(resource.RUSAGE_SELF)
        out = {"this process": me.ru_utime + me.ru_stime - self._self0 - self._sampler}
        for key, (name, cpu) in self._seen.items():
            out[name] = out.get(name, 0.0) + cpu - self._base.get(key, 0.0)
        out["total"] = sum(out.values())
        return out
