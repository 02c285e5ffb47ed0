"""Ignite handlers: stop hopeless runs early, enforce time budgets, and join a study.

They work in a plain Ignite script (attach them to your trainer and evaluator) and inside
``tune(handlers=[...])`` (they attach to each trial's :class:`torchsearch.Trainer`). Every
stop is recorded with a code and a reason by :func:`request_stop`; read it back with
:func:`stop_record` or ``trainer.state.stop_reason``.
"""

from ._stop import request_stop, stop_record
from .divergence import Divergence
from .patience import Patience
from .reporter import Reporter
from .target import Target
from .time_budget import TimeBudget

__all__ = ["Divergence", "Patience", "Reporter", "Target", "TimeBudget", "request_stop", "stop_record"]
