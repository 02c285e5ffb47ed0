"""Search strategies. Each is a pure object implementing :class:`Scheduler`."""

import importlib as _importlib
from typing import Any as _Any

from .base import CONTINUE, Decision, Scheduler

__all__ = ["Scheduler", "Decision", "CONTINUE", "Bayes", "Grid", "PBT", "Random", "TPE"]

# imported on first use: a worker process that unpickles a Decision (schedulers.base) does not
# import scipy (Random's and TPE's Sobol points, the GP of Bayes) for nothing
_LAZY = {"Bayes": ".bayes", "Grid": ".grid", "PBT": ".pbt", "Random": ".random", "TPE": ".tpe"}


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
