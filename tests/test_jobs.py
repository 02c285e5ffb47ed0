"""_jobs.py: a resumed PBT member may reuse the module a paused one left behind, with the same results."""

from __future__ import annotations

import torchsearch as ts
from tests.pbt_models import DropoutRegression
from tests.test_population import SPACE
from torchsearch import _jobs
from torchsearch.schedulers import PBT


def _run(monkeypatch, limit):
    monkeypatch.setattr(_jobs, "_IDLE_LIMIT", limit)
    _jobs._IDLE_MODULES.clear()
    setups = []
    original = DropoutRegression.setup

    def counting_setup(self, hp):
        setups.append(dict(hp))
        original(self, hp)

    monkeypatch.setattr(DropoutRegression, "setup", counting_setup)
    study = ts.tune(DropoutRegression, SPACE, scheduler=PBT(population=4, interval=1, seed=3), metric="mse",
                    mode="min", epochs=6, seed=2, verbose=False)
    _jobs._IDLE_MODULES.clear()
    return [(t.state, t.params, t.metrics) for t in study.trials], study.lineage(), len(setups)


def test_resumed_members_reuse_a_kept_module_and_train_exactly_as_if_rebuilt(monkeypatch):
    rebuilt, rebuilt_lineage, rebuilt_setups = _run(monkeypatch, 0)
    reused, reused_lineage, reused_setups = _run(monkeypatch, 1)
    assert reused == rebuilt  # same params, same metrics at every epoch, same states
    assert [r["operations"] for r in reused_lineage] == [r["operations"] for r in rebuilt_lineage]
    assert reused_setups < rebuilt_setups  # modules were reused on resume, not set up again
