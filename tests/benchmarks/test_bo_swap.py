"""bo_swap: the encodings the swaps translate between, the report's regrets, and the reverse swap's
search (our GP, BoTorch's optimize_acqf) handing out valid, unseen points. No BoTorch model fits."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("botorch")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import torch  # noqa: E402

import torchsearch as ts  # noqa: E402
from bo_peers import OneHot  # noqa: E402
from bo_swap import BotSearchBayes, onehot_torch, per_seed  # noqa: E402
from torchsearch.schedulers._gp.surrogate import _Encoding  # noqa: E402

SPACE = {"lr": ts.Float(1e-4, 1.0, log=True), "width": ts.PowerOfTwo(8, 512), "c": ts.Choice(["a", "b", "c"]),
         "n": ts.Int(0, 20)}


def test_our_encoding_maps_to_the_botorch_loops_one_hot_inputs():
    """The swapped search scores our rows with BoTorch's model: same ordered values, categories one-hot."""
    enc, oh = _Encoding(ts.Space(SPACE)), OneHot(SPACE)
    rng = np.random.default_rng(0)
    configs = [ts.Space(SPACE).sample(rng) for _ in range(20)]
    E = torch.from_numpy(np.stack([enc.encode(c) for c in configs]))
    want = np.stack([oh.encode(c) for c in configs])
    np.testing.assert_allclose(onehot_torch(enc.cols, E).numpy(), want)


def test_one_hot_is_differentiable_in_the_ordered_columns_only():
    enc = _Encoding(ts.Space(SPACE))
    E = torch.from_numpy(np.stack([enc.encode(ts.Space(SPACE).sample(np.random.default_rng(1)))])).requires_grad_(True)
    w = torch.arange(1.0, OneHot(SPACE).d + 1, dtype=torch.float64)
    (g,) = torch.autograd.grad((onehot_torch(enc.cols, E) * w).sum(), E)
    # columns: lr -> 1, width -> 2, c -> 3..5 (no gradient through the index), n -> 6
    assert g[0].tolist() == [1.0, 2.0, 0.0, 6.0]


def test_per_seed_regret_and_the_relative_regret_of_a_problem_without_optimum():
    rows = [{"kind": "regret", "problem": "digits_mlp", "method": "a", "seed": 0, "best": 0.05, "regret": None,
             "error": None},
            {"kind": "regret", "problem": "digits_mlp", "method": "b", "seed": 0, "best": 0.02, "regret": None,
             "error": None},
            {"kind": "regret", "problem": "rastrigin4", "method": "a", "seed": 7, "best": 3.0, "regret": 3.0,
             "error": None}]
    S = per_seed(rows, ["digits_mlp", "rastrigin4"], seeds=5)
    assert S[("digits_mlp", "a")] == {0: pytest.approx(0.03)}
    assert S[("digits_mlp", "b")] == {0: 0.0}
    assert ("rastrigin4", "a") not in S  # seed 7 is past --seeds 5


def test_reverse_swap_suggests_valid_unseen_points_in_a_mixed_space():
    """Our GP with optimize_acqf as the search: integers rounded, categories searched per value,
    never a point already evaluated."""
    space = {"x": ts.Float(-5, 5), "n": ts.Int(0, 4), "c": ts.Choice(["a", "b"])}

    def f(p: dict) -> float:
        return (p["x"] - 1.0) ** 2 + (p["n"] - 3) ** 2 + (0.0 if p["c"] == "b" else 2.0)

    sch = BotSearchBayes(seed=0, n_startup=6)
    study = ts.optimize(f, space, scheduler=sch, n_trials=12, seed=0)
    params = [t.params for t in study.trials]
    keys = [ts.Space(space).key(p) for p in params]
    assert len(set(keys)) == len(keys)
    assert all(isinstance(p["n"], int) and 0 <= p["n"] <= 4 for p in params)
    assert min(f(p) for p in params[6:]) < min(f(p) for p in params[:6])  # the model-based half improves


def test_constant_mean_swap_fits_the_losses_minus_their_gls_constant():
    """ours_constmean: the GP sees the standardised losses minus c = 1'K^-1 y / 1'K^-1 1 (a learnt
    constant prior mean, as BoTorch's ConstantMean), and EI's threshold moves with it."""
    from bo_swap import ConstMeanBayes

    space = ts.Space({"x": ts.Float(0, 1), "y": ts.Float(0, 1)})
    sch = ConstMeanBayes(seed=0, n_startup=4)
    sch.setup(space, mode="min")
    rng = np.random.default_rng(0)
    for i in range(12):
        p = space.sample(rng)
        sch.on_trial_start(i, p)
        sch.on_complete(i, 5.0 + (p["x"] - 0.3) ** 2 + (p["y"] - 0.6) ** 2, "completed")
    post, warp, best = sch._fit(np.random.default_rng(1))
    numbers, y = sch._training()
    raw = torch.from_numpy(warp(y))  # the standardised losses before the shift
    assert sch._c > 0.5  # a bowl seen from above: the level away from the data is worse than the mean
    torch.testing.assert_close(post.y, raw - sch._c)
    assert best == pytest.approx(float(raw.min()) - sch._c)
