"""Run each trial in this process, one after another."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Executor

__all__ = ["InProcess"]


class InProcess(Executor):
    """The default executor: ``submit`` runs the trial to its end before returning."""

    def free_slots(self) -> int:
        return 1

    def submit(self, trial: Any, job: Callable[[Any], Any]) -> None:
        from ..study import finish_with_job

        finish_with_job(self.study, trial, job)

    def n_running(self) -> int:
        return 0

    def wait(self) -> None:
        return None
