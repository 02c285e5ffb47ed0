"""The parameter kinds of a search space: Float, Int, PowerOfTwo, Choice (see ``space.py``).

Each maps its values to and from the unit interval and owns its bounds: ``clip`` rounds and
clamps, ``contains`` checks, ``grid`` lists points. Import them from ``torchsearch`` or
``torchsearch.space``.
"""

from __future__ import annotations

import json
import math
import numbers
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .exceptions import SpaceError

__all__ = ["Parameter", "Float", "Int", "PowerOfTwo", "Choice", "parameter_from_dict"]

_JSON_SCALARS = (str, int, float, bool, type(None))


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


class Parameter:
    """Base class of a search-space parameter. Subclasses: Float, Int, PowerOfTwo, Choice."""

    #: True when the values have an order (everything but Choice).
    ordered: bool = True

    def sample(self, rng: np.random.Generator) -> Any:
        """One value drawn at random (uniform in the unit encoding)."""
        return self.from_unit(float(rng.random()))

    def to_unit(self, value: Any) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def from_unit(self, u: float) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def clip(self, value: Any) -> Any:  # pragma: no cover - abstract
        """The nearest valid value (clipped, rounded); raise SpaceError if there is none."""
        raise NotImplementedError

    def contains(self, value: Any) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def grid(self, points: int | None) -> list[Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def cardinality(self) -> int | None:
        """Number of distinct values, or None for a continuous parameter."""
        return None

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_dict() == other.to_dict()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self) -> str:
        d = self.to_dict()
        kind = d.pop("type")
        return f"{kind}({', '.join(f'{k}={v!r}' for k, v in d.items())})"


_FLOAT_MAX = sys.float_info.max


def _show(v: Any) -> str:
    """``repr(v)``, shortened for integers too long to read (``10**400`` -> ``1.000e+400 (401 digits)``)."""
    if isinstance(v, numbers.Integral) and not isinstance(v, bool) and abs(int(v)) >= 10**20:
        digits = str(abs(int(v)))
        sign = "-" if v < 0 else ""
        return f"{sign}{digits[0]}.{digits[1:4]}e+{len(digits) - 1} ({len(digits)} digits)"
    return repr(v)


def _check_bounds(kind: str, low: Any, high: Any) -> None:
    """Bounds are real numbers that fit in a float (|x| <= 1.8e308), low < high, and the width
    ``high - low`` fits in a float too: the unit encoding and every sampler compute in floats,
    so a wider declaration would give NaN or inf values instead of numbers of the space."""
    for label, v in (("low", low), ("high", high)):
        if not _is_real(v):
            raise SpaceError(f"{kind}: {label} must be a real number, got {label}={_show(v)}")
        try:
            f = float(v)
        except OverflowError:
            f = math.inf
        if math.isnan(f) or (math.isinf(f) and isinstance(v, float)):
            raise SpaceError(f"{kind}: {label} must be finite, got {label}={v!r}")
        if math.isinf(f):
            raise SpaceError(f"{kind}: {label}={_show(v)} is too large: bounds must fit in a float "
                             f"(magnitude at most {_FLOAT_MAX:.4g})")
    if low >= high:
        raise SpaceError(f"{kind}: needs low < high, got low={_show(low)}, high={_show(high)}")
    if math.isinf(float(high) - float(low)):
        raise SpaceError(f"{kind}: the width high - low must fit in a float (at most {_FLOAT_MAX:.4g}), "
                         f"got low={_show(low)}, high={_show(high)}")


def _check_flag(kind: str, label: str, v: Any) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise SpaceError(f"{kind}: {label} must be True or False, got {label}={v!r}")
    return bool(v)


def _unit(kind: Parameter, u: Any) -> float:
    """``u`` clamped into [0, 1]; NaN (a broken sampler) is refused rather than decoded to NaN."""
    u = float(u)
    if math.isnan(u):
        raise SpaceError(f"{kind!r}: from_unit needs a number in [0, 1], got nan")
    return min(max(u, 0.0), 1.0)


class Float(Parameter):
    """A real number in ``[low, high]``, uniform or log-uniform (``log=True`` needs low > 0).

    The bounds and the width ``high - low`` must fit in a float (about 1.8e308): a wider
    declaration is refused, since its unit encoding would decode to inf or NaN.
    """

    def __init__(self, low: float, high: float, *, log: bool = False) -> None:
        _check_bounds("Float", low, high)
        log = _check_flag("Float", "log", log)
        if log and low <= 0:
            raise SpaceError(f"Float: log=True needs low > 0, got low={low!r}")
        self.low, self.high, self.log = float(low), float(high), bool(log)

    def _t(self, x: float) -> float:
        return math.log(x) if self.log else x

    def to_unit(self, value: Any) -> float:
        v = min(max(float(value), self.low), self.high)
        lo, hi = self._t(self.low), self._t(self.high)
        return (self._t(v) - lo) / (hi - lo)

    def from_unit(self, u: float) -> float:
        u = _unit(self, u)
        lo, hi = self._t(self.low), self._t(self.high)
        x = lo + u * (hi - lo)
        v = math.exp(x) if self.log else x
        return min(max(v, self.low), self.high)

    def clip(self, value: Any) -> float:
        if not _is_real(value) or math.isnan(value):
            raise SpaceError(f"{self!r}: value must be a real number, got {value!r}")
        return min(max(float(value), self.low), self.high)

    def contains(self, value: Any) -> bool:
        return _is_real(value) and self.low <= value <= self.high

    def grid(self, points: int | None) -> list[float]:
        if points is None or not isinstance(points, int) or isinstance(points, bool) or points < 1:
            raise SpaceError(f"{self!r}: a grid over a Float needs points >= 1, got points={points!r} "
                             "(pass Grid(points=N), or Grid(points={name: N}) for this parameter)")
        if points == 1:
            return [self.from_unit(0.5)]
        if self.log:
            return [float(v) for v in np.geomspace(self.low, self.high, points)]
        return [float(v) for v in np.linspace(self.low, self.high, points)]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Float", "low": self.low, "high": self.high, "log": self.log}


class Int(Parameter):
    """An integer in ``[low, high]`` on a ``step`` grid, uniform or log-uniform.

    Each value owns an equal share of the unit interval (log-scaled shares with ``log=True``),
    so the end points are as likely as any other value.
    """

    def __init__(self, low: int, high: int, *, log: bool = False, step: int = 1) -> None:
        _check_bounds("Int", low, high)
        for label, v in (("low", low), ("high", high)):
            if not float(v).is_integer():
                raise SpaceError(f"Int: {label} must be an integer, got {label}={v!r}")
        low, high = int(low), int(high)
        log = _check_flag("Int", "log", log)
        if not isinstance(step, numbers.Integral) or isinstance(step, bool) or step <= 0:
            raise SpaceError(f"Int: step must be a positive integer, got step={step!r}")
        if (high - low) % step != 0:
            raise SpaceError(
                f"Int: step must divide high - low, got step={step!r} for low={low}, high={high}"
            )
        if log and low <= 0:
            raise SpaceError(f"Int: log=True needs low > 0, got low={low!r}")
        if log and step != 1:
            raise SpaceError(f"Int: log=True needs step=1, got step={step!r}")
        self.low, self.high, self.log, self.step = low, high, bool(log), int(step)

    @property
    def cardinality(self) -> int:
        return (self.high - self.low) // self.step + 1

    def _edges(self) -> tuple[float, float]:
        half = self.step / 2
        lo, hi = self.low - half, self.high + half
        return (math.log(lo), math.log(hi)) if self.log else (lo, hi)

    def clip(self, value: Any) -> int:
        if not _is_real(value) or math.isnan(value):
            raise SpaceError(f"{self!r}: value must be a real number, got {value!r}")
        v = min(max(float(value), self.low), self.high)
        k = round((v - self.low) / self.step)
        return int(min(max(self.low + k * self.step, self.low), self.high))

    def to_unit(self, value: Any) -> float:
        v = self.clip(value)
        lo, hi = self._edges()
        x = math.log(v) if self.log else float(v)
        return min(max((x - lo) / (hi - lo), 0.0), 1.0)

    def from_unit(self, u: float) -> int:
        u = _unit(self, u)
        lo, hi = self._edges()
        x = lo + u * (hi - lo)
        return self.clip(math.exp(x) if self.log else x)

    def contains(self, value: Any) -> bool:
        return (
            _is_real(value)
            and float(value).is_integer()
            and self.low <= value <= self.high
            and (int(value) - self.low) % self.step == 0
        )

    def grid(self, points: int | None) -> list[int]:
        values = list(range(self.low, self.high + 1, self.step))
        if points is None or points >= len(values):
            return values
        if points < 1:
            raise SpaceError(f"{self!r}: grid needs points >= 1, got points={points!r}")
        space = np.geomspace if self.log else np.linspace
        picked = [self.clip(v) for v in space(self.low, self.high, points)]
        return sorted(set(picked))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Int", "low": self.low, "high": self.high, "log": self.log, "step": self.step}


def _is_power_of_two(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 and (v & (v - 1)) == 0


class PowerOfTwo(Parameter):
    """An integer power of two in ``[low, high]`` (batch sizes, widths): ordered, not a category.

    Modelled on the exponent: 16, 32, 64 are equally spaced.
    """

    def __init__(self, low: int, high: int) -> None:
        _check_bounds("PowerOfTwo", low, high)
        for label, v in (("low", low), ("high", high)):
            if not _is_power_of_two(v):
                raise SpaceError(f"PowerOfTwo: {label} must be a power of two (1, 2, 4, ...), got {label}={v!r}")
        self.low, self.high = int(low), int(high)
        self._k = Int(self.low.bit_length() - 1, self.high.bit_length() - 1)

    @property
    def cardinality(self) -> int:
        return self._k.cardinality

    def clip(self, value: Any) -> int:
        if not _is_real(value) or math.isnan(value) or value <= 0:
            raise SpaceError(f"{self!r}: value must be a positive number, got {value!r}")
        return 2 ** self._k.clip(math.log2(value))

    def to_unit(self, value: Any) -> float:
        return self._k.to_unit(math.log2(self.clip(value)))

    def from_unit(self, u: float) -> int:
        return 2 ** self._k.from_unit(u)

    def contains(self, value: Any) -> bool:
        return _is_power_of_two(value) and self.low <= value <= self.high

    def grid(self, points: int | None) -> list[int]:
        return [2**k for k in self._k.grid(points)]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "PowerOfTwo", "low": self.low, "high": self.high}


class Choice(Parameter):
    """One of a list of values (str, int, float, bool or None), with no order."""

    ordered = False

    def __init__(self, values: Sequence[Any]) -> None:
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise SpaceError(f"Choice: values must be a list, got values={values!r}")
        values = list(values)
        if not values:
            raise SpaceError("Choice: values must not be empty, got values=[]")
        for v in values:
            if not isinstance(v, _JSON_SCALARS) or (isinstance(v, float) and not math.isfinite(v)):
                raise SpaceError(
                    f"Choice: values must be str, int, float, bool or None, got {v!r} in values={values!r}"
                )
        seen: list[Any] = []
        for v in values:
            if any(v == s and type(v) is type(s) for s in seen):
                raise SpaceError(f"Choice: duplicate value {v!r} in values={values!r}")
            seen.append(v)
        self.values = values

    @property
    def cardinality(self) -> int:
        return len(self.values)

    def index(self, value: Any) -> int:
        for i, v in enumerate(self.values):
            if v == value and type(v) is type(value):
                return i
        for i, v in enumerate(self.values):  # 64 == 64.0 read back from JSON
            if v == value:
                return i
        raise SpaceError(f"{self!r}: {value!r} is not one of the values")

    def clip(self, value: Any) -> Any:
        return self.values[self.index(value)]

    def to_unit(self, value: Any) -> float:
        return (self.index(value) + 0.5) / len(self.values)

    def from_unit(self, u: float) -> Any:
        i = int(_unit(self, u) * len(self.values))
        return self.values[min(i, len(self.values) - 1)]

    def contains(self, value: Any) -> bool:
        try:
            self.index(value)
        except SpaceError:
            return False
        return True

    def grid(self, points: int | None) -> list[Any]:
        return list(self.values)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Choice", "values": list(self.values)}


_KINDS: dict[str, type[Parameter]] = {"Float": Float, "Int": Int, "PowerOfTwo": PowerOfTwo, "Choice": Choice}


def parameter_from_dict(d: Mapping[str, Any]) -> Parameter:
    d = dict(d)
    kind = d.pop("type", None)
    if kind not in _KINDS:
        raise SpaceError(f"unknown parameter type {kind!r}; allowed: {sorted(_KINDS)}")
    return _KINDS[kind](**d)
