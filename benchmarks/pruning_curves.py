"""Synthetic learning-curve families whose curves cross (benchmarks/pruning.py, part b).

Each family maps a configuration to an accuracy-like curve over epochs 1..max_epochs (higher is
better), plus Gaussian noise per evaluation. The configurations that learn fastest are not the
ones that end best, so a pruner that judges too early keeps the wrong trials:

- ``saturating``: ``a - (a - a0) exp(-t / tau)``; a high learning rate learns fast (small
  ``tau``) but saturates low (``a`` peaks at a moderate rate);
- ``overfit``: saturating, then a decline after a peak epoch that comes early for fast, weakly
  regularised configurations;
- ``late``: a sigmoid whose onset comes late for the configurations that end best.

A seed draws where the best configuration lies (the optimum of ``a``), so seeds differ in
landscape, and the noise of every evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from torchsearch.space import Float, Int, Space

FAMILIES = ("saturating", "overfit", "late")

SPACE = Space({"lr": Float(1e-4, 1.0, log=True), "reg": Float(0.0, 1.0), "width": Int(1, 8)})


@dataclass
class Family:
    name: str
    max_epochs: int
    seed: int
    noise: float = 0.005

    def __post_init__(self) -> None:
        if self.name not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got family={self.name!r}")
        r = np.random.default_rng([self.seed, FAMILIES.index(self.name)])
        self.u_opt = float(r.uniform(0.2, 0.55))    # the best (slowish) learning rate, in [0, 1]
        self.reg_opt = float(r.uniform(0.1, 0.7))
        self.width_opt = int(r.integers(3, 9))

    def asymptote(self, p: dict) -> float:
        u = (math.log10(p["lr"]) + 4) / 4
        return (0.95 - 0.9 * (u - self.u_opt) ** 2 - 0.25 * (p["reg"] - self.reg_opt) ** 2
                - 0.01 * abs(p["width"] - self.width_opt))

    def curve(self, p: dict, number: int) -> np.ndarray:
        """The reported values of configuration ``p`` (trial ``number``) at epochs 1..max_epochs."""
        t = np.arange(1, self.max_epochs + 1, dtype=float)
        u = (math.log10(p["lr"]) + 4) / 4
        a, a0 = self.asymptote(p), 0.1
        scale = self.max_epochs / 27
        if self.name == "saturating":
            tau = scale * (0.7 + 4 * (1 - u) ** 2)
            y = a - (a - a0) * np.exp(-t / tau)
        elif self.name == "overfit":
            tau = scale * (0.7 + 4 * (1 - u) ** 2)
            peak = scale * (4 + 40 * (1 - u) * (0.3 + p["reg"]))
            y = a - (a - a0) * np.exp(-t / tau) - 0.25 * (1 - p["reg"]) * np.maximum(0, t - peak) / self.max_epochs
        else:
            onset = scale * 6 * (1 - u) ** 1.5
            y = a0 + (a - a0) / (1 + np.exp(-(t - onset) / (scale * 2.5)))
        noise = np.random.default_rng([self.seed, 7919, number]).normal(0, self.noise, size=t.shape)
        return y + noise
