"""Where trials run."""

from .base import Executor
from .inprocess import InProcess
from .processes import Processes

__all__ = ["Executor", "InProcess", "Processes"]
