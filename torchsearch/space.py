"""Search spaces: the knobs a study turns, and the rules every value obeys.

A space is a dict ``name -> parameter``::

    space = {
        "lr": Float(1e-4, 1.0, log=True),
        "momentum": Float(0.0, 0.99),
        "layers": Int(1, 4),
        "width": PowerOfTwo(16, 512),
        "activation": Choice(["relu", "tanh"]),
    }

Every sample, grid point, Bayesian suggestion and PBT perturbation goes through the parameter
that owns it: integers are rounded and clamped (never truncated), floats are clipped, and a
category stays a category.

Each parameter maps its values to and from the unit interval (``to_unit`` / ``from_unit``).
Log-scaled parameters are linear in log space there, and an integer owns an equal slice of the
interval around its value, so samplers and surrogate models work on ``[0, 1]^d``.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .exceptions import SpaceError

__all__ = ["Parameter", "Float", "Int", "PowerOfTwo", "Choice", "Space"]

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


def _check_bounds(kind: str, low: Any, high: Any) -> None:
    for label, v in (("low", low), ("high", high)):
        if not _is_real(v):
            raise SpaceError(f"{kind}: {label} must be a real number, got {label}={v!r}")
        if not math.isfinite(v):
            raise SpaceError(f"{kind}: {label} must be finite, got {label}={v!r}")
    if low >= high:
        raise SpaceError(f"{kind}: needs low < high, got low={low!r}, high={high!r}")


class Float(Parameter):
    """A real number in ``[low, high]``, uniform or log-uniform (``log=True`` needs low > 0)."""

    def __init__(self, low: float, high: float, *, log: bool = False) -> None:
        _check_bounds("Float", low, high)
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
        u = min(max(float(u), 0.0), 1.0)
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
            raise SpaceError(f"{self!r}: a grid over a Float needs points >= 1, got points={points!r}")
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
        u = min(max(float(u), 0.0), 1.0)
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
        i = int(min(max(float(u), 0.0), 1.0) * len(self.values))
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


class Space(Mapping[str, Parameter]):
    """An ordered mapping ``name -> Parameter`` with helpers that keep every value valid."""

    def __init__(self, params: Mapping[str, Parameter]) -> None:
        if isinstance(params, Space):
            params = params._params
        if not isinstance(params, Mapping):
            raise SpaceError(f"space must be a dict of name -> parameter, got {type(params).__name__}")
        if not params:
            raise SpaceError("space must declare at least one parameter, got {}")
        for name, p in params.items():
            if not isinstance(name, str) or not name:
                raise SpaceError(f"space: parameter names must be non-empty strings, got {name!r}")
            if not isinstance(p, Parameter):
                raise SpaceError(
                    f"space: parameter {name!r} must be Float, Int, PowerOfTwo or Choice, got {p!r}"
                )
        self._params: dict[str, Parameter] = dict(params)

    # Mapping protocol
    def __getitem__(self, name: str) -> Parameter:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"Space({self._params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self._params == other._params

    __hash__ = None  # type: ignore[assignment]

    @property
    def names(self) -> list[str]:
        return list(self._params)

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """One configuration drawn uniformly (log-uniformly where declared)."""
        return {n: p.sample(rng) for n, p in self._params.items()}

    def to_unit(self, params: Mapping[str, Any]) -> np.ndarray:
        """Encode a configuration as a point of ``[0, 1]^d`` (shape ``d``)."""
        self.validate(params)
        return np.array([p.to_unit(params[n]) for n, p in self._params.items()], dtype=float)

    def from_unit(self, u: Sequence[float] | np.ndarray) -> dict[str, Any]:
        """Decode a point of ``[0, 1]^d`` (values outside are clipped) into a valid configuration."""
        u = np.asarray(u, dtype=float).reshape(-1)
        if u.shape[0] != len(self):
            raise SpaceError(f"space: expected a point with {len(self)} coordinates, got {u.shape[0]}")
        return {n: p.from_unit(float(x)) for (n, p), x in zip(self._params.items(), u)}

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check a configuration holds exactly the space's names, each value inside its parameter."""
        if not isinstance(params, Mapping):
            raise SpaceError(f"params must be a dict, got {type(params).__name__}")
        missing = [n for n in self._params if n not in params]
        extra = [n for n in params if n not in self._params]
        if missing or extra:
            raise SpaceError(f"params do not match the space: missing {missing}, unknown {extra}")
        for n, p in self._params.items():
            if not p.contains(params[n]):
                raise SpaceError(f"{type(p).__name__} {n!r}: {params[n]!r} is not in {p!r}")
        return {n: params[n] for n in self._params}

    def clip(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The nearest valid configuration: each value clipped / rounded by its parameter."""
        out = {}
        for n, p in self._params.items():
            if n not in params:
                raise SpaceError(f"params: missing value for parameter {n!r}")
            try:
                out[n] = p.clip(params[n])
            except SpaceError as e:
                raise SpaceError(f"parameter {n!r}: {e}") from None
        return out

    def grid(self, points: int | Mapping[str, int] | None = None) -> Iterator[dict[str, Any]]:
        """Every combination of the parameters' grid values (Floats need a number of points)."""
        axes = []
        for n, p in self._params.items():
            k = points.get(n) if isinstance(points, Mapping) else points
            try:
                axes.append(p.grid(k))
            except SpaceError as e:
                raise SpaceError(f"parameter {n!r}: {e}") from None
        for combo in itertools.product(*axes):
            yield dict(zip(self._params, combo))

    def key(self, params: Mapping[str, Any]) -> str:
        """A canonical string for a configuration (equal configurations, equal keys)."""
        canon = {}
        for n, p in self._params.items():
            v = params[n]
            if isinstance(p, Float):
                v = float(v)
            elif isinstance(p, (Int, PowerOfTwo)):
                v = int(v)
            canon[n] = v
        return json.dumps(canon, sort_keys=True)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {n: p.to_dict() for n, p in self._params.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Mapping[str, Any]]) -> Space:
        return cls({n: parameter_from_dict(v) for n, v in d.items()})


def as_space(space: Space | Mapping[str, Parameter]) -> Space:
    """Accept a Space or a plain dict of parameters."""
    return space if isinstance(space, Space) else Space(space)
