"""Search strategies. Each is a pure object implementing :class:`Scheduler`."""

from .base import CONTINUE, Decision, Scheduler
from .grid import Grid
from .random import Random

__all__ = ["Scheduler", "Decision", "CONTINUE", "Grid", "Random"]
