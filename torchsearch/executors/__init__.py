"""Where trials run."""

from typing import Any as _Any

from .base import Executor
from .inprocess import InProcess
from .processes import Processes

__all__ = ["Executor", "InProcess", "Processes", "Ray"]


def __getattr__(name: str) -> _Any:
    if name == "Ray":  # imported on first use: importing torchsearch never imports Ray
        from .ray import Ray

        return Ray
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
