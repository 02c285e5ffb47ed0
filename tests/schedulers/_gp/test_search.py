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


def test_subset_moves_keep_the_anchor_but_redraw_one_or_two_columns_over_their_whole_range():
    from torchsearch.schedulers._gp.search import _subset_moves

    centers = (np.arange(11) + 0.5) / 11
    cols = Columns(["cont"] * 5 + ["disc", "cat"], [None] * 5 + [centers, None], [0] * 5 + [11, 3])
    anchor = np.array([[0.1, 0.1, 0.1, 0.1, 0.1, centers[0], 0.0]])
    M = _subset_moves(cols, anchor, np.random.default_rng(0), 400)
    changed = (M != anchor).sum(1)
    assert changed.max() <= 2 and (changed >= 1).mean() > 0.9  # a redraw may land on the same value
    assert np.all(np.isin(M[:, 5], centers)) and set(np.unique(M[:, 6])) == {0.0, 1.0, 2.0}
    moved = M[:, 0][M[:, 0] != 0.1]
    assert moved.min() < 0.1 and moved.max() > 0.9  # far jumps, not a neighbourhood


def test_a_jump_of_one_coordinate_far_from_the_anchors_is_found():
    # the acquisition peaks where the anchor's first coordinate moves from 0.05 to 0.95 (a
    # narrow ridge in 8 dimensions that quasi-random points almost never hit)
    from torchsearch.schedulers._gp import search

    d = 8
    cols = Columns(["cont"] * d, [None] * d, [0] * d)
    target = np.full(d, 0.05)
    target[0] = 0.95
    t = torch.tensor(target)

    def acq(x):
        return torch.exp(-((x - t) / 0.03).square().sum(1))

    def acq_grad(x):
        a = acq(x)
        return a, a.unsqueeze(1) * (-2 * (x - t) / 0.03**2)
    anchors = np.full((1, d), 0.05)
    E, _ = search.maximize(acq, acq_grad, cols, np.random.default_rng(1), n_candidates=256, anchors=anchors)
    np.testing.assert_allclose(E[0], target, atol=1e-3)


def test_a_coordinate_the_acquisition_barely_rewards_keeps_its_start_instead_of_the_bound():
    # log-acquisition peaked in x0, almost flat in x1 with a tilt towards the bound x1 = 1 (what
    # the posterior variance does along an input with a long lengthscale)
    cols = Columns(["cont", "cont"], [None, None], [0, 0])

    def acq(x):
        return -50.0 * (x[:, 0] - 0.3).square() + 0.01 * x[:, 1]

    def acq_grad(x):
        g = torch.zeros_like(x)
        g[:, 0] = -100.0 * (x[:, 0] - 0.3)
        g[:, 1] = 0.01
        return acq(x), g

    E, _ = maximize(acq, acq_grad, cols, np.random.default_rng(0), n_candidates=64)
    assert E[0][1] == 1.0  # plain gradient ascent: the bound
    E, v = maximize(acq, acq_grad, cols, np.random.default_rng(0), n_candidates=64, revert_tol=0.05)
    assert E[0][1] < 0.99  # the indifferent one is back where its refinement started
    # what was given up for it is within the tolerance (a move worth < 0.05 of x0 may be undone too)
    assert v[0] >= acq(torch.tensor([[0.3, 1.0]], dtype=torch.float64)).item() - 0.05
    assert abs(E[0][0] - 0.3) < 0.04


def test_a_rewarded_move_to_the_bound_is_kept():
    cols = Columns(["cont", "cont"], [None, None], [0, 0])

    def acq(x):
        return -50.0 * (x[:, 0] - 0.3).square() + 3.0 * x[:, 1]

    def acq_grad(x):
        g = torch.zeros_like(x)
        g[:, 0] = -100.0 * (x[:, 0] - 0.3)
        g[:, 1] = 3.0
        return acq(x), g

    E, _ = maximize(acq, acq_grad, cols, np.random.default_rng(0), n_candidates=64, revert_tol=0.05)
    assert E[0][1] == 1.0


def test_revert_edge_limits_the_revert_to_coordinates_that_ended_at_a_bound():
    # x1 has a small interior optimum (worth < revert_tol): reverting every small move (edge 0.5)
    # sends it back to its start, while the bound-only revert keeps the interior move; a drift
    # to the bound is still undone with the edge limit (previous test's landscape)
    cols = Columns(["cont", "cont"], [None, None], [0, 0])

    def acq(x):
        return -50.0 * (x[:, 0] - 0.3).square() - 0.2 * (x[:, 1] - 0.6).square()

    def acq_grad(x):
        g = torch.zeros_like(x)
        g[:, 0] = -100.0 * (x[:, 0] - 0.3)
        g[:, 1] = -0.4 * (x[:, 1] - 0.6)
        return acq(x), g

    kw = dict(n_candidates=64, revert_tol=0.05, max_iter=50, polish_iter=100)
    E_all, _ = maximize(acq, acq_grad, cols, np.random.default_rng(0), revert_edge=0.5, **kw)
    E_edge, _ = maximize(acq, acq_grad, cols, np.random.default_rng(0), revert_edge=0.01, **kw)
    assert abs(E_edge[0][1] - 0.6) < 0.01
    assert abs(E_all[0][1] - 0.6) > 0.05

    def tilt(x):
        return -50.0 * (x[:, 0] - 0.3).square() + 0.01 * x[:, 1]

    def tilt_grad(x):
        g = torch.zeros_like(x)
        g[:, 0] = -100.0 * (x[:, 0] - 0.3)
        g[:, 1] = 0.01
        return tilt(x), g

    E, _ = maximize(tilt, tilt_grad, cols, np.random.default_rng(0), n_candidates=64, revert_tol=0.05,
                    revert_edge=0.01)
    assert E[0][1] < 0.99


def _tilted(x):
    # peaked in x0 at 0.3, almost flat in x1 with a tilt towards the bound x1 = 1
    return -50.0 * (x[:, 0] - 0.3).square() + 0.01 * x[:, 1]


def _tilted_grad(x):
    g = torch.zeros_like(x)
    g[:, 0] = -100.0 * (x[:, 0] - 0.3)
    g[:, 1] = 0.01
    return _tilted(x), g


def test_revert_to_puts_an_indifferent_coordinate_at_the_given_points_value():
    cols = Columns(["cont", "cont"], [None, None], [0, 0])
    incumbent = np.array([0.31, 0.42])
    E, v = maximize(_tilted, _tilted_grad, cols, np.random.default_rng(0), n_candidates=64, revert_tol=0.05,
                    revert_edge=0.01, revert_to=incumbent)
    assert E[0][1] == 0.42  # the incumbent's x1, not the bound and not a quasi-random start
    assert abs(E[0][0] - 0.3) < 0.02  # the rewarded coordinate keeps its refined value
    assert v[0] >= _tilted(torch.tensor([[0.3, 1.0]], dtype=torch.float64)).item() - 0.05


def test_revert_cols_leaves_the_other_columns_where_the_refinement_put_them():
    cols = Columns(["cont", "cont"], [None, None], [0, 0])
    E, _ = maximize(_tilted, _tilted_grad, cols, np.random.default_rng(0), n_candidates=64, revert_tol=0.05,
                    revert_cols=np.array([True, False]))
    assert E[0][1] == 1.0  # x1 may not be reverted: it stays at the bound
