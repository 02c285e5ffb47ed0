"""_jobs.py: a resumed PBT member continues on the module its process held, or reuses the module
a paused one left behind; either way with the same results as a member rebuilt from its state."""

from __future__ import annotations

import pytest
import torch

import torchsearch as ts
from tests.pbt_models import DropoutRegression
from tests.test_population import SPACE
from torchsearch import _jobs
from torchsearch.schedulers import PBT


def _run(monkeypatch, limit, hold):
    monkeypatch.setattr(_jobs, "_IDLE_LIMIT", limit)
    monkeypatch.setattr(_jobs, "_may_hold", lambda module: hold)
    _jobs._IDLE_MODULES.clear()
    _jobs._HELD.clear()
    setups, loads, held = [], [], []
    original_setup, original_load = DropoutRegression.setup, DropoutRegression.load_state_dict
    original_resume = ts.Trainer.load_state_dict

    def counting_setup(self, hp):
        setups.append(dict(hp))
        original_setup(self, hp)

    def counting_load(self, state):
        loads.append(1)
        return original_load(self, state)

    def counting_resume(self, state, *, restore_rng=True, module=True):
        if not module:
            held.append(1)
        return original_resume(self, state, restore_rng=restore_rng, module=module)

    monkeypatch.setattr(ts.Trainer, "load_state_dict", counting_resume)
    monkeypatch.setattr(DropoutRegression, "setup", counting_setup)
    monkeypatch.setattr(DropoutRegression, "load_state_dict", counting_load)
    study = ts.tune(DropoutRegression, SPACE, scheduler=PBT(population=4, interval=1, seed=3), metric="mse",
                    mode="min", epochs=6, seed=2, verbose=False)
    _jobs._IDLE_MODULES.clear()
    _jobs._HELD.clear()
    trials = [(t.state, t.params, t.metrics) for t in study.trials]
    return trials, [r["operations"] for r in study.lineage()], len(setups), len(loads), len(held)


def test_resumed_members_reuse_a_kept_module_and_train_exactly_as_if_rebuilt(monkeypatch):
    rebuilt, rebuilt_lineage, rebuilt_setups, _, _ = _run(monkeypatch, 0, hold=False)
    reused, reused_lineage, reused_setups, _, _ = _run(monkeypatch, 1, hold=False)
    assert reused == rebuilt  # same params, same metrics at every epoch, same states
    assert reused_lineage == rebuilt_lineage
    assert reused_setups < rebuilt_setups  # modules were reused on resume, not set up again


def test_members_resume_on_the_module_held_at_their_pause_without_loading_it_and_train_exactly_the_same(
        monkeypatch):
    rebuilt, rebuilt_lineage, rebuilt_setups, rebuilt_loads, none_held = _run(monkeypatch, 0, hold=False)
    held, held_lineage, held_setups, held_loads, resumed_held = _run(monkeypatch, 0, hold=True)
    assert held == rebuilt  # same params, same metrics at every epoch, same states
    assert held_lineage == rebuilt_lineage
    assert none_held == 0 and resumed_held >= 5, resumed_held  # many of the 20 resumes (others: exploited)
    assert held_loads == rebuilt_loads - resumed_held  # a held resume loads no weights at all
    assert held_setups < rebuilt_setups


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_small_members_are_held_on_the_gpu_and_resume_there_with_the_same_results(monkeypatch):
    def run(hold):
        if not hold:
            monkeypatch.setattr(_jobs, "_may_hold", lambda module: False)
        _jobs._HELD.clear()
        study = ts.tune(DropoutRegression, SPACE, scheduler=PBT(population=4, interval=1, seed=3), metric="mse",
                        mode="min", epochs=4, seed=2, device="cuda", verbose=False)
        monkeypatch.undo()
        _jobs._HELD.clear()
        return [(t.state, t.params) for t in study.trials], study._coordinator.population.resumes

    held, held_resumes = run(hold=True)
    rebuilt, rebuilt_resumes = run(hold=False)
    assert [s for s, _ in held] == ["completed"] * 4
    assert held_resumes["held"] > 0 and rebuilt_resumes["held"] == 0
    assert held == rebuilt


def test_a_pbt_members_patience_keeps_counting_across_its_turns():
    # population 3 on one slot, interval 1: every evaluation is a separate turn (a new Trainer);
    # "flat" never improves, so Patience(2) must stop each member at its third evaluation
    from tests.pbt_models import FlatMetricRegression
    from torchsearch.handlers import Patience

    study = ts.tune(FlatMetricRegression, SPACE, scheduler=PBT(population=3, interval=1, seed=0), metric="mse",
                    mode="min", epochs=8, seed=0, verbose=False,
                    handlers=lambda: [Patience(2, metric="flat", mode="max")])
    for t in study.trials:
        assert (t.state, t.stop_code) == ("stopped", "patience")
        assert sorted(t.metrics["mse"]) == [1, 2, 3]


def test_a_population_tied_on_its_metric_explores_in_place_and_every_member_trains_each_epoch_once(tmp_path):
    # "flat" is the same for every member at every step: nobody is ahead, so nothing is copied;
    # the bottom by lot perturbs its own params, and its weights and epochs go on as they were
    from tests.pbt_models import FlatMetricRegression

    study = ts.tune(FlatMetricRegression, SPACE, scheduler=PBT(population=4, interval=1, seed=0), metric="flat",
                    mode="max", epochs=5, seed=0, storage=str(tmp_path), verbose=False)
    rows = study.lineage()
    assert rows and all(r["donor"] is None for r in rows)
    assert not any(op.startswith("copy") for r in rows for op in r["operations"])
    for t in study.trials:
        assert t.state == "completed" and sorted(t.metrics["flat"]) == [1, 2, 3, 4, 5]
        mine = [r for r in rows if r["trial"] == t.number]
        if mine:  # the stored params are the last explore's, and the schedule changes at each one
            assert t.params == mine[-1]["new_params"]
            segments = study.schedule(t.number)
            assert [s["params"] for s in segments][-1] == t.params
            assert all(s["trial"] == t.number for s in segments)
            assert len(segments) == len({r["step"] for r in mine}) + 1
