"""Search strategies. Each is a pure object implementing :class:`Scheduler`."""

from .base import CONTINUE, Decision, Scheduler
from .bayes import Bayes
from .grid import Grid
from .pbt import PBT
from .random import Random
from .tpe import TPE

__all__ = ["Scheduler", "Decision", "CONTINUE", "Bayes", "Grid", "PBT", "Random", "TPE"]
