"""ASHA's pause and promotion with trials on a CUDA GPU: in this process and in worker processes
that share one GPU, a promoted trial resumes on the GPU exactly where it paused."""

from __future__ import annotations

import pytest
import torch

import torchsearch as ts
from torchsearch.pruners import ASHA
from torchsearch.schedulers import Random
from tests.models import TinyRegression

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

SPACE = {"lr": ts.Float(1e-3, 0.3, log=True)}


def run(pruner, **kw):
    return ts.tune(TinyRegression, SPACE, scheduler=Random(seed=0), pruner=pruner, metric="mse", mode="min",
                   epochs=9, n_trials=9, seed=0, verbose=False, **kw)


def curves(study):
    return {t.number: t.metrics["mse"] for t in study.trials}


@pytest.mark.parametrize("where", [{"device": "cuda"}, {"devices": "cuda", "per_device": 2}],
                         ids=["in-process", "two-workers-one-gpu"])
def test_asha_promotion_on_the_gpu_resumes_exactly_where_the_trial_paused(where):
    twins = curves(run(None, **where))
    study = run(ASHA(), **where)
    assert any(t.stop_code == "pruned" for t in study.trials)
    assert max(max(t.metrics["mse"]) for t in study.trials) == 9  # someone was promoted to the end
    for t in study.trials:
        mine = t.metrics["mse"]
        assert sorted(mine) == list(range(1, max(mine) + 1)), f"trial {t.number} trained an epoch twice or skipped one"
        for step, v in mine.items():
            assert v == pytest.approx(twins[t.number][step], rel=1e-5), (t.number, step)
