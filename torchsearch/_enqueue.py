"""Checking what a person queues by hand: ``Study.enqueue(params)`` and ``torchsearch enqueue``.

Torch-free, so that the command line queues trials without importing it. A queued trial may
give only some of the space's parameters (the scheduler fills in the others when it starts);
every value it gives must lie inside its parameter, and every name must be one of the space's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from ._params import Choice, Float, Int, Parameter, PowerOfTwo
from .exceptions import SpaceError
from .space import Space, as_space

__all__ = ["check_params", "parse_assignment", "fill"]


def _allowed(p: Parameter) -> str:
    if isinstance(p, Choice):
        return "one of " + ", ".join(json.dumps(v) for v in p.values)
    if isinstance(p, Float):
        return f"a float in [{p.low:g}, {p.high:g}]" + (" (log scale)" if p.log else "")
    if isinstance(p, Int):
        step = f" in steps of {p.step} from {p.low}" if p.step != 1 else ""
        return f"an integer in [{p.low}, {p.high}]{step}"
    if isinstance(p, PowerOfTwo):
        return f"a power of two in [{p.low}, {p.high}]"
    return repr(p)  # pragma: no cover - every kind is above


def _unknown(name: Any, value: Any, space: Space, where: str) -> SpaceError:
    return SpaceError(f"{where}: unknown parameter {name!r} (given {value!r}); the space's parameters are "
                      f"{', '.join(space.names)}")


def check_params(space: Space | Mapping[str, Parameter], params: Any, *, where: str = "enqueue") -> dict[str, Any]:
    """``params`` checked against ``space`` and put in the space's order (Ints as int, Floats as
    float). Parameters may be left out, not added: an unknown name or a value outside its
    parameter raises :class:`SpaceError` naming the parameter, the value and what is allowed."""
    space = as_space(space)
    if not isinstance(params, Mapping):
        raise SpaceError(f"{where}: params must be a dict of parameter name -> value, got {params!r}")
    if not params:
        raise SpaceError(f"{where}: give at least one parameter (the space's parameters are "
                         f"{', '.join(space.names)})")
    for name, value in params.items():
        if name not in space:
            raise _unknown(name, value, space, where)
    out: dict[str, Any] = {}
    for name, p in space.items():
        if name not in params:
            continue
        value = params[name]
        if not p.contains(value):
            raise SpaceError(f"{where}: {type(p).__name__} {name!r}: {value!r} is not allowed; it must be "
                             f"{_allowed(p)}")
        if isinstance(p, Float):
            value = float(value)
        elif isinstance(p, (Int, PowerOfTwo)):
            value = int(value)
        else:
            value = p.clip(value)  # the declared value (64 for 64.0)
        out[name] = value
    return out


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def parse_assignment(space: Space | Mapping[str, Parameter], text: str, *, where: str = "enqueue") -> tuple[str, Any]:
    """``"name=value"`` -> ``(name, value)``, the value read with its parameter's type (a float,
    an integer, or the Choice value whose text it is: ``relu``, ``64``, ``true``, ``null``).
    The range is not checked here (see :func:`check_params`)."""
    space = as_space(space)
    name, sep, raw = text.partition("=")
    name, raw = name.strip(), raw.strip()
    if not sep or not name:
        raise SpaceError(f"{where}: expected name=value, got {text!r}")
    if name not in space:
        raise _unknown(name, raw, space, where)
    p = space[name]
    if isinstance(p, Choice):
        for v in p.values:  # a string value first: Choice(["1", 1]) reads "1" as the string
            if isinstance(v, str) and v == raw:
                return name, v
        for v in p.values:
            if not isinstance(v, str) and raw.lower() in {str(v).lower(), json.dumps(v)}:
                return name, v
        raise SpaceError(f"{where}: Choice {name!r}: {raw!r} is not allowed; it must be {_allowed(p)}")
    v = _number(raw)
    if v is None:
        raise SpaceError(f"{where}: {type(p).__name__} {name!r}: {raw!r} is not a number; it must be {_allowed(p)}")
    if isinstance(p, (Int, PowerOfTwo)):
        if v != int(v):
            raise SpaceError(f"{where}: {type(p).__name__} {name!r}: {raw!r} is not an integer; it must be "
                             f"{_allowed(p)}")
        return name, int(v)
    return name, v


def fill(space: Space, given: Mapping[str, Any], suggested: Mapping[str, Any] | None,
         sample: Any) -> dict[str, Any]:
    """A whole configuration: the ``given`` values, the rest from ``suggested`` (the scheduler's
    suggestion) or, when the scheduler has none, from ``sample()`` (a draw from the space)."""
    base = dict(suggested) if suggested is not None else dict(sample())
    base.update(given)
    return space.validate(base)
