"""The acquisition search: finds known maxima, returns valid mixed points, exhausts small spaces."""

from __future__ import annotations

import numpy as np
import torch

from torchsearch.schedulers._gp.search import Columns, maximize


def _quadratic(target, weights=None):
    t = torch.tensor(target, dtype=torch.float64)
    w = torch.ones(len(target), dtype=torch.float64) if weights is None else torch.tensor(weights)

    def acq(x):
        return -((x - t).square() * w).sum(1)

    def acq_grad(x):
        return acq(x), -2 * (x - t) * w
    return acq, acq_grad


def test_refinement_finds_a_continuous_maximum_to_high_precision():
    cols = Columns(["cont", "cont"], [None, None], [0, 0])
    acq, grad = _quadratic([0.3137, 0.7071])
    E, v = maximize(acq, grad, cols, np.random.default_rng(0), n_candidates=64)
    np.testing.assert_allclose(E[0], [0.3137, 0.7071], atol=1e-5)
    assert np.all(np.diff(v) <= 0)  # best first


def test_mixed_candidates_are_valid_and_integers_are_rounded_to_the_nearest_value():
    centers = (np.arange(5) + 0.5) / 5  # an Int with 5 values
    cols = Columns(["cont", "disc", "cat"], [None, centers, None], [0, 5, 3])
    # best at a disc value between two centres (0.62 -> nearest centre 0.7), category 2
    t = torch.tensor([0.2, 0.62], dtype=torch.float64)

    def acq(x):
        return -(x[:, :2] - t).square().sum(1) + (x[:, 2] == 2).to(x.dtype)

    def acq_grad(x):
        g = torch.zeros_like(x)
        g[:, :2] = -2 * (x[:, :2] - t)
        return acq(x), g
    E, _ = maximize(acq, acq_grad, cols, np.random.default_rng(1), n_candidates=128)
    for e in E:
        assert np.any(np.isclose(e[1], centers))
        assert e[2] in (0.0, 1.0, 2.0)
    assert E[0][1] == centers[3] and E[0][2] == 2.0
    assert abs(E[0][0] - 0.2) < 1e-4


def test_a_small_discrete_space_is_searched_exhaustively():
    centers = (np.arange(4) + 0.5) / 4
    cols = Columns(["disc", "cat"], [centers, None], [4, 3])
    acq, grad = _quadratic([centers[1], 2.0])
    E, v = maximize(acq, grad, cols, np.random.default_rng(0), n_candidates=64)
    assert len(E) == 12 and len({tuple(e) for e in E}) == 12
    np.testing.assert_array_equal(E[0], [centers[1], 2.0])
