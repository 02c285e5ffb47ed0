"""What Bayes fits a GP over: a space's configurations encoded as rows (:class:`_Encoding`), and
the fitted model as a user reads it (:class:`Surrogate`, returned by ``Bayes.surrogate()``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...space import Choice, Float, Space
from .acquisition import ei
from .gp import Posterior
from .search import Columns
from .warp import OutputWarp

__all__ = ["Surrogate"]

_MAX_CENTERS = 100_000  # ordered discrete parameters with more values are searched as floats


class _Encoding:
    """Maps configurations of a space to encoded rows and back (see ``_gp.search.Columns``)."""

    def __init__(self, space: Space) -> None:
        self.space = space
        columns: list[tuple[str, np.ndarray | None, int]] = []
        for p in space.values():
            card = p.cardinality
            if isinstance(p, Choice):
                columns.append(("cat", None, card))
            elif isinstance(p, Float) or card is None or card > _MAX_CENTERS:
                columns.append(("cont", None, 0))
            else:
                centers = np.array(sorted(p.to_unit(v) for v in p.grid(None)), dtype=float)
                columns.append(("disc", centers, card))
        kinds, centers_, sizes = zip(*columns)
        self.cols = Columns(list(kinds), list(centers_), list(sizes))

    def encode(self, params: dict[str, Any]) -> np.ndarray:
        row = []
        for (name, p), kind in zip(self.space.items(), self.cols.kinds):
            row.append(float(p.index(params[name])) if kind == "cat" else p.to_unit(params[name]))
        return np.array(row, dtype=float)

    def decode(self, e: np.ndarray) -> dict[str, Any]:
        out = {}
        for (name, p), kind, x in zip(self.space.items(), self.cols.kinds, e):
            out[name] = p.values[int(x)] if kind == "cat" else p.from_unit(float(x))  # type: ignore[attr-defined]
        return self.space.clip(out)


class Surrogate:
    """A fitted GP over a space, read-only: what :class:`Bayes` would use for its next suggestion.

    ``predict(configs)`` gives the posterior median and a two-sd band of the study value (in
    the study's own units and direction); ``expected_improvement(configs)`` the EI of each
    configuration (in the GP's standardised units); ``next_params`` the configuration that maximises it;
    ``observations`` the finished trials it was fitted on.
    """

    def __init__(self, enc: _Encoding, posterior: Posterior, *, warp: OutputWarp, best: float,
                 sign: float, next_params: dict[str, Any],
                 observations: list[tuple[dict[str, Any], float]]) -> None:
        self._enc = enc
        self._post = posterior
        self._warp, self._best, self._sign = warp, best, sign
        self.next_params = next_params
        #: ``(params, value)`` of every finished trial the GP was fitted on (study units).
        self.observations = observations

    def _x(self, configs: list[dict[str, Any]]) -> torch.Tensor:
        return torch.from_numpy(np.stack([self._enc.encode(c) for c in configs]))

    def predict(self, configs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Posterior median and a band of two standard deviations, ``(mean, lower, upper)``,
        each mapped back through the output warp to the study's units."""
        with torch.no_grad():
            m, v = self._post.mean_var(self._x(configs))
        m, s = m.numpy(), np.sqrt(v.numpy())
        a, b, c = (self._warp.inverse(z) * self._sign for z in (m, m - 2 * s, m + 2 * s))
        return a, np.minimum(b, c), np.maximum(b, c)

    def expected_improvement(self, configs: list[dict[str, Any]]) -> np.ndarray:
        """EI of each configuration, in the GP's own (standardised, warped) units."""
        with torch.no_grad():
            m, v = self._post.mean_var(self._x(configs))
            return ei(m, v, self._best).numpy()
