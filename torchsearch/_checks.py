"""Argument checks shared by ``tune``, ``optimize`` and ``Study``: each raises at once with the
argument's name, the value given and what is allowed (a bad seed or budget used to surface
only inside every trial, or to mean something else: ``time_budget=nan`` meant no budget)."""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["check_seed", "check_seconds", "check_count"]

#: Seeds are stored in SQLite (signed 64-bit integers) and fed to numpy's SeedSequence (>= 0).
SEED_MAX = 2**63 - 1


def check_seed(seed: Any, where: str) -> int | None:
    """``seed`` as an int in ``[0, 2**63 - 1]``, or None."""
    if seed is None:
        return None
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"{where}: seed must be an int in [0, 2**63 - 1] or None, got seed={seed!r}")
    return int(seed)


def check_seconds(value: Any, name: str, where: str) -> float | None:
    """``value`` as a finite number of seconds > 0, or None (no limit)."""
    if value is None:
        return None
    if (not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value)
            or not value > 0):
        raise ValueError(f"{where}: {name} must be a finite number of seconds > 0 or None (no limit), "
                         f"got {name}={value!r}")
    return float(value)


def check_count(value: Any, name: str, where: str) -> int | None:
    """``value`` as an int >= 1, or None (no limit)."""
    if value is None:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{where}: {name} must be an int >= 1 or None, got {name}={value!r}")
    return int(value)
