"""Run each trial in this process, one after another."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Executor

__all__ = ["InProcess"]


_HERE = "this process"


class InProcess(Executor):
    """The default executor: ``submit`` runs the trial to its end before returning.

    A paused PBT trial's module stays in this process; resumed, the trial continues on it
    (its kept state is not loaded again unless the coordinator changed it meanwhile)."""

    def free_slots(self) -> int:
        return 1

    def submit(self, trial: Any, job: Callable[[Any], Any]) -> None:
        launch = self.host.launch(trial, _HERE)
        trial.resume_held = launch.cached  # the job goes on with the module it kept here
        trial.held_here = launch.keep_cached
        self.host.run_here(trial, job, _HERE)

    def n_running(self) -> int:
        return 0

    def wait(self) -> None:
        return None
