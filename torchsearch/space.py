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
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ._params import Choice, Float, Int, Parameter, PowerOfTwo, parameter_from_dict
from .exceptions import SpaceError

__all__ = ["Parameter", "Float", "Int", "PowerOfTwo", "Choice", "Space"]


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
