"""Pruners: stop (or pause until promoted) the trials that fall behind their peers.

``Median``, ``ASHA`` and ``Hyperband`` go in ``tune(..., pruner=...)`` or
``Study(..., pruner=...)``, with any scheduler and any executor. They are pure decisions on
reports, like schedulers (see :mod:`torchsearch.pruners.base`).
"""

from .asha import ASHA
from .base import Pruner
from .hyperband import Hyperband
from .median import Median

__all__ = ["Pruner", "Median", "ASHA", "Hyperband"]
