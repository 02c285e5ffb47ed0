"""The executor protocol: where trials run. The study loop calls, in order:

``open(study)``; then, while it launches trials, ``free_slots()`` and ``submit(trial, job)``;
``n_running()`` and ``wait()`` (block until at least one running trial finished, handling the
reports that arrive meanwhile); finally ``close()``.

An executor hands each report of a running trial to ``trial.report(metrics, step)`` in the
coordinator process and returns the decision to the trial, and finishes each trial with
``study.tell(...)``. Schedulers never know which executor runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Executor"]


class Executor:
    def open(self, study: Any) -> None:
        self.study = study

    def free_slots(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def submit(self, trial: Any, job: Callable[[Any], Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def n_running(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def wait(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass
