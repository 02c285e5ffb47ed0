"""Where trials run."""

from .base import Executor
from .inprocess import InProcess

__all__ = ["Executor", "InProcess"]
