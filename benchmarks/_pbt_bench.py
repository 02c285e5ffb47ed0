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
(worker processes; Ray's raylet, gcs_server, agents and actors), the dead ones included: a
process that ended was reaped by its parent, whose ``children`` times hold it.
"""

from __future__ import annotations

import functools
import os
import resource
import sys
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


def train_epoch(m: DigitsPBT) -> dict[str, float]:
    """One epoch of ``m`` in a bare loop over its own training_step and validation_step (CPU):
    the validation metrics as the study reports them (batch-size weighted means)."""
    m.model.train()
    for batch in m.train_loader:
        m.optimizer.zero_grad(set_to_none=True)
        m.training_step(batch).backward()
        m.optimizer.step()
    m.model.eval()
    sums: dict[str, float] = {}
    count = 0
    with torch.no_grad():
        for x, y in m.val_loader:
            for k, v in m.validation_step((x, y)).items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(y)
            count += len(y)
    return {k: v / count for k, v in sums.items()}


def _psutil():
    try:
        import psutil
    except ImportError:  # Ray ships its own copy
        try:
            from ray.thirdparty_files import psutil  # type: ignore[no-redef]
        except ImportError:
            return None
    return psutil


class TreeCpu:
    """CPU seconds (user + system) used by this process and every process below it since
    ``start()``, by process name.

    ``read()`` adds, for this process, its own time and that of the children it reaped (getrusage);
    for each live descendant, its own time and that of the children it reaped (/proc). A descendant
    that ended is counted in its parent's reaped time, so nothing that ran below this process is
    lost (an orphan re-parented to init would be: neither Ray's local start nor worker processes
    leave one). Descendants alive at ``start()`` count from then.
    """

    def __init__(self) -> None:
        self.psutil = _psutil()
        self._base: dict[tuple[int, float], float] = {}
        self._self0 = self._children0 = 0.0

    @staticmethod
    def _own() -> tuple[float, float]:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime

    def _descendants(self) -> dict[tuple[int, float], tuple[str, float]]:
        out = {}
        if self.psutil is None:
            return out
        for p in self.psutil.Process(os.getpid()).children(recursive=True):
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    out[(p.pid, p.create_time())] = (self._label(p), t.user + t.system + t.children_user + t.children_system)
            except (self.psutil.NoSuchProcess, self.psutil.AccessDenied, self.psutil.ZombieProcess):
                continue
        return out

    @staticmethod
    def _label(p) -> str:
        """``raylet``, ``ray::IDLE`` (a Ray worker or actor) ...; a Python process by what it runs."""
        name = p.name()
        if name.startswith("ray::"):
            return "ray::" + name[5:].split(".")[0]
        if name.startswith("python"):
            args = p.cmdline()
            if any("multiprocessing" in a for a in args):
                return "spawned processes"
            scripts = [Path(a).stem for a in args[1:] if a.endswith(".py")]
            return scripts[0] if scripts else name
        return name

    def start(self) -> TreeCpu:
        self._self0, self._children0 = self._own()
        self._base = {k: cpu for k, (_, cpu) in self._descendants().items()}
        return self

    def read(self) -> dict[str, float]:
        """``{"this process": s, "reaped by it": s, <name>: s, ...}``; ``"total"`` sums them."""
        me, kids = self._own()
        out = {"this process": me - self._self0, "reaped by it": kids - self._children0}
        for key, (name, cpu) in self._descendants().items():
            out[name] = out.get(name, 0.0) + cpu - self._base.get(key, 0.0)
        out["total"] = sum(out.values())
        return out
