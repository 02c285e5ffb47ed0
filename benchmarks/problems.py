"""The Bayesian-optimisation benchmark suite: 23 problems, fixed before any tuning (issue 12).

Each :class:`Problem` has a name, a torchsearch space, a noise-free function ``true(params)``,
an ``objective(seed)`` factory (what the optimiser sees: the noise-free function, or it plus
Gaussian noise drawn from a generator seeded by the run's seed), the known optimum value
(``None`` for the training task) and a budget of evaluations.

Regret is always measured on the noise-free value: ``min_t true(x_t) - optimum`` over every
evaluated point. For ``digits_mlp`` (no known optimum) the reference is the lowest value any
method reached on any seed in the same result file (stated by the report).

Shifted boxes. Where a function's optimum lies at the centre of its usual domain (Ackley,
Rastrigin, Griewank, Levy near it), the domain is shifted, as BO papers do, so the optimum is
off-centre: dimension ``i`` becomes ``[low + s_i w, high + s_i w]`` with ``w = high - low`` and
``s_i = _SHIFTS[i % 10]`` (between -0.31 and +0.29 of the width); the function is unchanged, so
the optimum value is too. Branin, Hartmann, Schwefel, Styblinski-Tang, Michalewicz, Rosenbrock
(on [-5, 10]) and Dixon-Price have off-centre optima in their usual domains and keep them.

The suite (dimension, budget):

- smooth: branin (2, 50), hartmann3 (3, 60), hartmann6 (6, 100)
- multimodal boxes: ackley4 (4, 80), levy6 (6, 100), rastrigin4 (4, 80), schwefel4 (4, 80),
  styblinski_tang5 (5, 100), griewank5 (5, 100), michalewicz5 (5, 100)
- valleys: rosenbrock4 (4, 100), dixon_price6 (6, 100)
- high dimension: ackley10 (10, 150), styblinski_tang20 (20, 200),
  hartmann6_in20 (20, 200: Hartmann6 on 6 of 20 inputs, the other 14 ignored)
- noisy (noise-free regret): hartmann6_noisy (sd 0.1), styblinski_tang5_noisy (sd 2.0),
  branin_noisy (sd 1.0)
- integer-heavy: int_styblinski6 (6 integers in [-5, 5], 60)
- mixed: mixed_log (2 floats, a log float, an integer, a 3-way category; 60),
  mixed_two_cats (2 floats, an integer, two categories of 4 and 3 values; 80),
  mixed_trap (2 floats, an integer, a 3-way category whose best value hides in a narrow well
  of the category that looks worst early; 60)
- training: digits_mlp (a 1-hidden-layer MLP on sklearn's bundled digits, 5 epochs; knobs
  lr, width, weight decay, dropout, optimizer; the value is the validation cross-entropy; 30)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import torchsearch as ts

__all__ = ["PROBLEMS", "Problem"]

Params = dict[str, Any]
_SHIFTS = (0.23, -0.31, 0.17, -0.12, 0.29, -0.21, 0.08, -0.27, 0.14, -0.05)


@dataclass
class Problem:
    name: str
    space: dict[str, ts.Parameter]
    true: Callable[[Params], float]
    optimum: float | None
    budget: int
    noise: float = 0.0
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def dim(self) -> int:
        return len(self.space)

    def objective(self, seed: int) -> Callable[[Params], float]:
        """What an optimiser sees: the noise-free function, plus N(0, noise^2) when noisy."""
        if not self.noise:
            return self.true
        rng = np.random.default_rng([seed, 12345])

        def f(p: Params) -> float:
            return self.true(p) + self.noise * float(rng.normal())
        return f


def _vec(p: Params, d: int) -> np.ndarray:
    return np.array([p[f"x{i}"] for i in range(d)], dtype=float)


def _box(d: int, low: float, high: float, shift: bool) -> dict[str, ts.Parameter]:
    w = high - low
    out: dict[str, ts.Parameter] = {}
    for i in range(d):
        s = _SHIFTS[i % len(_SHIFTS)] * w if shift else 0.0
        out[f"x{i}"] = ts.Float(low + s, high + s)
    return out


# -- functions on a vector (the usual definitions, e.g. Surjanovic & Bingham's library) -----
def branin_x(x: np.ndarray) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return float((x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2 + 10 * (1 - t) * math.cos(x[0]) + 10)


_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann3_x(x: np.ndarray) -> float:
    return -float(_H_ALPHA @ np.exp(-(_H3_A * (x - _H3_P) ** 2).sum(1)))


def hartmann6_x(x: np.ndarray) -> float:
    return -float(_H_ALPHA @ np.exp(-(_H6_A * (x - _H6_P) ** 2).sum(1)))


def ackley_x(x: np.ndarray) -> float:
    d = len(x)
    return float(-20 * np.exp(-0.2 * np.sqrt((x**2).sum() / d)) - np.exp(np.cos(2 * np.pi * x).sum() / d)
                 + 20 + math.e)


def levy_x(x: np.ndarray) -> float:
    w = 1 + (x - 1) / 4
    return float(np.sin(np.pi * w[0]) ** 2 + ((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:-1] + 1) ** 2)).sum()
                 + (w[-1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[-1]) ** 2))


def rastrigin_x(x: np.ndarray) -> float:
    return float(10 * len(x) + (x**2 - 10 * np.cos(2 * np.pi * x)).sum())


def schwefel_x(x: np.ndarray) -> float:
    return float(418.9828872724338 * len(x) - (x * np.sin(np.sqrt(np.abs(x)))).sum())


def styblinski_tang_x(x: np.ndarray) -> float:
    return float(0.5 * (x**4 - 16 * x**2 + 5 * x).sum())


_ST_MIN = -39.16616570377142  # per dimension, at x = -2.903534


def griewank_x(x: np.ndarray) -> float:
    i = np.arange(1, len(x) + 1)
    return float((x**2).sum() / 4000 - np.prod(np.cos(x / np.sqrt(i))) + 1)


def michalewicz_x(x: np.ndarray, m: int = 10) -> float:
    i = np.arange(1, len(x) + 1)
    return -float((np.sin(x) * np.sin(i * x**2 / np.pi) ** (2 * m)).sum())


def rosenbrock_x(x: np.ndarray) -> float:
    return float((100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum())


def dixon_price_x(x: np.ndarray) -> float:
    i = np.arange(2, len(x) + 1)
    return float((x[0] - 1) ** 2 + (i * (2 * x[1:] ** 2 - x[:-1]) ** 2).sum())


def _on(fx: Callable[[np.ndarray], float], d: int) -> Callable[[Params], float]:
    def f(p: Params) -> float:
        return fx(_vec(p, d))
    f.__name__ = fx.__name__.removesuffix("_x")
    return f


def _hartmann6_in20(p: Params) -> float:
    # Hartmann6 on inputs x3, x7, x11, x12, x16, x19; the other 14 do nothing
    return hartmann6_x(np.array([p[f"x{i}"] for i in (3, 7, 11, 12, 16, 19)]))


# -- mixed problems ---------------------------------------------------------------------
_MIXED_SHIFT = {"a": (1.5, -2.0, 12, 0.3), "b": (-2.5, 1.5, 7, 0.0), "c": (3.0, 3.0, 3, 0.6)}


def mixed_log(p: Params) -> float:
    """Each category moves the optimum of (x1, x2, n) and adds an offset; lr is best at 10^-2.5.
    Minimum 0 at c="b", x1=-2.5, x2=1.5, n=7, lr=10^-2.5 (the old benchmarks/bo.py ``mixed``)."""
    a, b, n_opt, off = _MIXED_SHIFT[p["c"]]
    return ((p["x1"] - a) ** 2 + 0.5 * (p["x2"] - b) ** 2 + 0.05 * (p["n"] - n_opt) ** 2
            + 0.5 * (math.log10(p["lr"]) + 2.5) ** 2 + off)


_OPT = {"sgd": (0.0, 2.0), "adam": (-2.0, -1.0), "rmsprop": (3.0, -3.0), "adagrad": (-3.5, 3.0)}
_ACT = {"relu": (0.5, 0.0, 4), "tanh": (-1.0, 0.4, 10), "gelu": (1.5, 0.15, 15)}


def mixed_two_cats(p: Params) -> float:
    """Two categories that interact: ``opt`` places the float optimum, ``act`` moves it along
    x1, sets the integer optimum and adds an offset; every pair but adam+gelu pays 0.2, and relu (offset 0) looks
    better than gelu (0.15) elsewhere. Minimum 0.15 at opt="adam", act="gelu", x1=-0.5, x2=-1, n=15."""
    ox, oy = _OPT[p["opt"]]
    dx, act_off, n_opt = _ACT[p["act"]]
    pair = 0.0 if (p["opt"], p["act"]) == ("adam", "gelu") else 0.2
    return ((p["x1"] - ox - dx) ** 2 + (p["x2"] - oy) ** 2 + 0.02 * (p["n"] - n_opt) ** 2
            + act_off + pair)


def mixed_trap(p: Params) -> float:
    """A trap: category "a" is a broad shallow bowl (min 0.8, good almost everywhere), "b" a
    mediocre one (min 1.2), "c" is 3 almost everywhere but hides a narrow well reaching 0 at
    x1=2.5, x2=1.5, n=8 (width 1.2 in a [-5, 5] box). Early random points make "a" look best.
    Minimum 0 at c="c"."""
    x1, x2, n = p["x1"], p["x2"], p["n"]
    if p["c"] == "a":
        return 0.8 + 0.05 * ((x1 - 1) ** 2 + (x2 + 1) ** 2) + 0.02 * (n - 3) ** 2
    if p["c"] == "b":
        return 1.2 + 0.1 * ((x1 + 2) ** 2 + (x2 - 2) ** 2) + 0.02 * (n - 6) ** 2
    r2 = (x1 - 2.5) ** 2 + (x2 - 1.5) ** 2
    return 3.0 - 3.0 * math.exp(-r2 / (2 * 1.2**2)) + 0.05 * (n - 8) ** 2


def int_styblinski6(p: Params) -> float:
    return styblinski_tang_x(_vec(p, 6))


# -- a real training task -------------------------------------------------------------------
_DIGITS: dict[str, Any] = {}


def digits_mlp(p: Params) -> float:
    """Validation cross-entropy of a 64-width-10 MLP on sklearn's digits (1,437 train / 360
    validation, fixed split), after 5 epochs of minibatch 64, torch seed 0 (deterministic)."""
    import torch

    if not _DIGITS:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        idx = np.random.default_rng(0).permutation(len(X))
        X = torch.tensor(X / 16.0, dtype=torch.float32)
        y = torch.tensor(y, dtype=torch.long)
        tr, va = idx[:1437], idx[1437:]
        _DIGITS.update(Xtr=X[tr], ytr=y[tr], Xva=X[va], yva=y[va])
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, p["width"]), torch.nn.ReLU(), torch.nn.Dropout(p["dropout"]),
                                torch.nn.Linear(p["width"], 10))
    cls = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[p["optimizer"]]
    kw = {"momentum": 0.9} if p["optimizer"] == "sgd" else {}
    opt = cls(model.parameters(), lr=p["lr"], weight_decay=p["weight_decay"], **kw)
    Xtr, ytr = _DIGITS["Xtr"], _DIGITS["ytr"]
    for _ in range(5):
        model.train()
        perm = torch.randperm(len(Xtr), generator=g)
        for s in range(0, len(Xtr), 64):
            b = perm[s:s + 64]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(Xtr[b]), ytr[b])
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        v = float(torch.nn.functional.cross_entropy(model(_DIGITS["Xva"]), _DIGITS["yva"]))
    return v if math.isfinite(v) else 10.0


def _problems() -> dict[str, Problem]:
    P = Problem
    sx = {n: ts.Float(-5, 5) for n in ("x1", "x2")}
    out = [
        P("branin", {"x0": ts.Float(-5, 10), "x1": ts.Float(0, 15)}, _on(branin_x, 2), 0.397887357729739, 50,
          tags=("smooth",)),
        P("hartmann3", _box(3, 0, 1, False), _on(hartmann3_x, 3), -3.86278214782076, 60, tags=("smooth",)),
        P("hartmann6", _box(6, 0, 1, False), _on(hartmann6_x, 6), -3.32236801141551, 100, tags=("smooth",)),
        P("ackley4", _box(4, -10, 10, True), _on(ackley_x, 4), 0.0, 80, tags=("multimodal",)),
        P("levy6", _box(6, -10, 10, True), _on(levy_x, 6), 0.0, 100, tags=("multimodal",)),
        P("rastrigin4", _box(4, -5.12, 5.12, True), _on(rastrigin_x, 4), 0.0, 80, tags=("multimodal",)),
        P("schwefel4", _box(4, -500, 500, False), _on(schwefel_x, 4), 0.0, 80, tags=("multimodal",)),
        P("styblinski_tang5", _box(5, -5, 5, False), _on(styblinski_tang_x, 5), 5 * _ST_MIN, 100,
          tags=("multimodal",)),
        P("griewank5", _box(5, -600, 600, True), _on(griewank_x, 5), 0.0, 100, tags=("multimodal",)),
        P("michalewicz5", _box(5, 0, math.pi, False), _on(michalewicz_x, 5), -4.687658179, 100,
          tags=("multimodal",)),
        P("rosenbrock4", _box(4, -5, 10, False), _on(rosenbrock_x, 4), 0.0, 100, tags=("valley",)),
        P("dixon_price6", _box(6, -10, 10, False), _on(dixon_price_x, 6), 0.0, 100, tags=("valley",)),
        P("ackley10", _box(10, -10, 10, True), _on(ackley_x, 10), 0.0, 150, tags=("high-d", "multimodal")),
        P("styblinski_tang20", _box(20, -5, 5, False), _on(styblinski_tang_x, 20), 20 * _ST_MIN, 200,
          tags=("high-d", "multimodal")),
        P("hartmann6_in20", _box(20, 0, 1, False), _hartmann6_in20, -3.32236801141551, 200,
          tags=("high-d", "smooth")),
        P("hartmann6_noisy", _box(6, 0, 1, False), _on(hartmann6_x, 6), -3.32236801141551, 100, noise=0.1,
          tags=("noisy", "smooth")),
        P("styblinski_tang5_noisy", _box(5, -5, 5, False), _on(styblinski_tang_x, 5), 5 * _ST_MIN, 100,
          noise=2.0, tags=("noisy", "multimodal")),
        P("branin_noisy", {"x0": ts.Float(-5, 10), "x1": ts.Float(0, 15)}, _on(branin_x, 2), 0.397887357729739,
          50, noise=1.0, tags=("noisy", "smooth")),
        P("int_styblinski6", {f"x{i}": ts.Int(-5, 5) for i in range(6)}, int_styblinski6, 6 * -39.0, 60,
          tags=("integer",)),
        P("mixed_log", {**sx, "lr": ts.Float(1e-4, 1, log=True), "n": ts.Int(0, 20),
                        "c": ts.Choice(["a", "b", "c"])}, mixed_log, 0.0, 60, tags=("mixed",)),
        P("mixed_two_cats", {**sx, "n": ts.Int(0, 20), "opt": ts.Choice(list(_OPT)),
                             "act": ts.Choice(list(_ACT))}, mixed_two_cats, 0.15, 80, tags=("mixed",)),
        P("mixed_trap", {**sx, "n": ts.Int(0, 10), "c": ts.Choice(["a", "b", "c"])}, mixed_trap, 0.0, 60,
          tags=("mixed",)),
        P("digits_mlp", {"lr": ts.Float(1e-4, 1.0, log=True), "width": ts.PowerOfTwo(8, 512),
                         "weight_decay": ts.Float(1e-6, 1e-1, log=True), "dropout": ts.Float(0.0, 0.6),
                         "optimizer": ts.Choice(["adam", "sgd"])}, digits_mlp, None, 30,
          tags=("training", "mixed")),
    ]
    return {p.name: p for p in out}


PROBLEMS = _problems()
