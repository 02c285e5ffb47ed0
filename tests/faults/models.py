"""Tiny modules that misbehave on purpose, for the fault-injection tests (importable by workers).

``hp["mode"]``: ``"ok"`` trains at once; ``"slow"`` sleeps 50 ms per training step (a few
seconds per trial); ``"sleep"`` blocks in ``time.sleep`` at its first step (the worker's watch
thread still beats, but the progress counter stops); ``"gil"`` blocks in C holding the GIL (no
thread of the worker runs at all: no heartbeat either). ``setup`` writes a line to
``$TS_FAULT_DIR/setup`` so a test knows a trial has started, and which process runs it.
"""

from __future__ import annotations

import ctypes
import os
import time

from torch import nn

from tests.models import TinyRegression
from tests.pbt_models import DropoutRegression


def _note(mode: str) -> None:
    folder = os.environ.get("TS_FAULT_DIR")
    if folder:
        with open(os.path.join(folder, "setup"), "a") as f:
            f.write(f"{os.getpid()} {mode}\n")


def _misbehave(mode: str) -> None:
    if mode == "slow":
        time.sleep(0.05)
    elif mode == "sleep":
        time.sleep(3600)
    elif mode == "gil":
        ctypes.PyDLL(None).sleep(3600)  # libc sleep(3), called without releasing the GIL


class Faulty(TinyRegression):
    def setup(self, hp):
        super().setup(hp)
        _note(hp["mode"])

    def training_step(self, batch):
        _misbehave(self.hp["mode"])
        return super().training_step(batch)


class SlowMember(DropoutRegression):
    """A PBT member whose steps take 20 ms."""

    def training_step(self, batch):
        time.sleep(0.02)
        x, y = batch
        return nn.functional.mse_loss(self.model(x), y)
