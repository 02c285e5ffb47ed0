"""How TPE sees a space: one column per parameter, each in the parameter's own scale.

- ``cont``: a Float (and an Int or PowerOfTwo with more than ``MAX_TABLE`` values) as its unit
  encoding (``Parameter.to_unit``: linear, or linear in the logarithm for ``log=True``);
- ``ord``: an Int or PowerOfTwo with few values, as the index ``0 .. K-1`` of its value; its
  kernels live on the values' unit centres (so a log-scaled Int or a PowerOfTwo is modelled on
  the log / the exponent), with the unit interval cut half-way between neighbours;
- ``cat``: a Choice, as the index of its value.

A decoded row always goes through the space (``Space.clip``): integers rounded and clamped by
their parameter, categories kept categories.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...space import Choice, Float, Space
from .parzen import View

__all__ = ["Encoding", "MAX_TABLE"]

MAX_TABLE = 128  # ordered discrete parameters with more values are modelled as continuous


class Encoding:
    """Rows of a space (``n x d`` float arrays) to and from configurations.

    ``cont``: the indices of continuous columns; ``ords``: ``(column, centres)`` of each ordered
    discrete column (sorted unit centres, one per value); ``cats``: ``(column, K)`` of each
    categorical column.
    """

    def __init__(self, space: Space) -> None:
        self.space = space
        self.d = len(space)
        self.kinds: list[str] = []
        cont: list[int] = []
        self.ords: list[tuple[int, np.ndarray]] = []
        self.cats: list[tuple[int, int]] = []
        self._values: list[list[Any] | None] = []
        self._index: list[dict[Any, int] | None] = []
        for j, p in enumerate(space.values()):
            card = p.cardinality
            if isinstance(p, Choice):
                self.kinds.append("cat")
                self.cats.append((j, card))
                self._values.append(list(p.values))
                self._index.append(None)
            elif isinstance(p, Float) or card is None or card > MAX_TABLE:
                self.kinds.append("cont")
                cont.append(j)
                self._values.append(None)
                self._index.append(None)
            else:
                values = sorted(p.grid(None), key=p.to_unit)
                self.kinds.append("ord")
                self.ords.append((j, np.array([p.to_unit(v) for v in values], dtype=float)))
                self._values.append(values)
                self._index.append({int(v): k for k, v in enumerate(values)})
        self.cont = np.array(cont, dtype=int)
        self.view = View(self.cont, self.ords, self.cats)

    def n_points(self) -> float:
        """How many distinct configurations the space has (inf with a continuous column)."""
        n = 1.0
        for p in self.space.values():
            if p.cardinality is None:
                return math.inf
            n *= p.cardinality
        return n

    def encode(self, params: dict[str, Any]) -> np.ndarray:
        row = np.empty(self.d, dtype=float)
        for j, ((name, p), kind) in enumerate(zip(self.space.items(), self.kinds)):
            v = params[name]
            if kind == "cont":
                row[j] = p.to_unit(v)
            elif kind == "ord":
                row[j] = self._index[j][int(p.clip(v))]  # type: ignore[index]
            else:
                row[j] = p.index(v)  # type: ignore[attr-defined]
        return row

    def decode(self, row: np.ndarray) -> dict[str, Any]:
        out = {}
        for j, ((name, p), kind) in enumerate(zip(self.space.items(), self.kinds)):
            if kind == "cont":
                out[name] = p.from_unit(float(row[j]))
            else:
                values = self._values[j]
                out[name] = values[min(max(int(round(row[j])), 0), len(values) - 1)]  # type: ignore[index,arg-type]
        return self.space.clip(out)
