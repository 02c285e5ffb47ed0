"""``zoom(study)``: a narrower space around a study's best trials.

Named ``_zoom`` so that importing it never replaces ``torchsearch.zoom`` (the function) with
the module.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from ._importance import finished_values
from ._params import Choice, Float, Int, Parameter, PowerOfTwo
from .exceptions import SpaceError
from .space import Space, as_space

__all__ = ["zoom"]


def _is_fraction(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and 0 < x <= 1


def zoom(study: Any, top: float = 0.25, *, margin: float = 0.1) -> Space:
    """A narrower :class:`~torchsearch.Space` around the best ``top`` fraction of a study's trials.

    The best trials are the best ``ceil(top * n)`` of the ``n`` completed and stopped trials
    with a finite value (lowest first for ``mode="min"``); failed trials and NaN values do not
    count. For each parameter:

    - Float, Int, PowerOfTwo: the smallest range holding the best trials' values, widened by
      ``margin`` on each side and clipped to the original bounds. The margin is a fraction of
      the original range as the parameter encodes it: of its log range for ``log=True`` (and
      for PowerOfTwo), so ``margin=0.1`` on ``Float(1e-5, 1, log=True)`` adds half a decade.
      An Int keeps its step and log scale and a PowerOfTwo stays powers of two; a parameter
      whose best trials share one value still gets a range (an Int or PowerOfTwo at least
      one step to a side, where its bounds allow).
    - Choice: the values the best trials used, in their original order. When they all used
      one value the Choice keeps that one value (the parameter is then fixed).

    The study is anything with ``.trials``, ``.space`` and ``.mode`` (a :class:`~torchsearch.Study`,
    or a stored study reopened). The result is usable wherever a dict space is.

    Raises:
        ValueError: ``top`` or ``margin`` outside ``(0, 1]``, or fewer than 2 trials with a value.
    """
    if not _is_fraction(top):
        raise ValueError(f"zoom: top must be a fraction in (0, 1], got top={top!r}")
    if not _is_fraction(margin):
        raise ValueError(f"zoom: margin must be a fraction in (0, 1], got margin={margin!r}")
    if not hasattr(study, "mode"):
        raise TypeError(f"zoom: needs a study (with .trials, .space and .mode), got {study!r}")
    mode = study.mode
    if mode not in ("min", "max"):
        raise ValueError(f"zoom: the study's mode must be 'min' or 'max', got mode={mode!r}")
    trials, values = finished_values(study, None, "zoom")
    if len(trials) < 2:
        raise ValueError(
            f"zoom: needs at least 2 completed or stopped trials with a finite value, the study has {len(trials)}")
    k = max(1, math.ceil(round(top * len(trials), 9)))
    ranked = sorted(range(len(trials)), key=lambda i: values[i], reverse=mode == "max")
    best = [trials[i].params for i in ranked[:k]]
    space = as_space(study.space)
    out: dict[str, Parameter] = {}
    for name, p in space.items():
        seen = [b[name] for b in best]
        try:
            out[name] = _narrow(p, seen, margin)
        except SpaceError as e:
            raise SpaceError(f"zoom: parameter {name!r}: {e}") from None
    return Space(out)


def _narrow(p: Parameter, seen: list[Any], margin: float) -> Parameter:
    """``p`` cut to the values ``seen`` at the top, widened by ``margin`` of its unit range."""
    if isinstance(p, Choice):
        kept = {p.index(v) for v in seen}
        return Choice([v for i, v in enumerate(p.values) if i in kept])
    units = [p.to_unit(v) for v in seen]
    lo = p.from_unit(max(0.0, min(units) - margin))
    hi = p.from_unit(min(1.0, max(units) + margin))
    values = [p.clip(v) for v in seen]
    lo, hi = min(lo, min(values)), max(hi, max(values))  # never lose a best value to rounding
    if isinstance(p, Float):
        lo, hi = max(p.low, _round_out(lo, down=True)), min(p.high, _round_out(hi, down=False))
        if not lo < hi:
            raise SpaceError(f"the range around {lo!r} is empty; use a larger margin")
        return Float(lo, hi, log=p.log)
    if isinstance(p, Int):
        if lo == hi:
            lo, hi = max(p.low, lo - p.step), min(p.high, hi + p.step)
        return Int(lo, hi, log=p.log, step=p.step)
    if isinstance(p, PowerOfTwo):
        if lo == hi:
            lo, hi = max(p.low, lo // 2), min(p.high, hi * 2)
        return PowerOfTwo(lo, hi)
    raise SpaceError(f"cannot zoom a {type(p).__name__}")  # pragma: no cover - every kind is above


def _round_out(x: float, *, down: bool, digits: int = 4) -> float:
    """``x`` rounded outwards to ``digits`` significant digits (3.0000000000000004 -> 3.0),
    so that a zoomed Float reads cleanly and still holds every value it held."""
    if x == 0 or not math.isfinite(x):
        return x
    e = math.floor(math.log10(abs(x))) - digits + 1
    k = math.floor(x / 10.0**e) if down else math.ceil(x / 10.0**e)
    return k / 10 ** -e if e < 0 else float(k * 10**e)
