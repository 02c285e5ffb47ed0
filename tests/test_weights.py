"""Best-epoch weights: a trial's kept weights are those of the evaluation whose value is its value."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import torchsearch as ts
from torchsearch._best import KEY, BestWeights
from torchsearch._jobs import TrainJob
from torchsearch.schedulers.base import CONTINUE, Decision


class Overshoot(ts.TrialModule):
    """``y = w x`` trained towards ``w = 2`` but validated against ``w = 1``: the validation loss
    falls, then rises as ``w`` passes 1. With ``lr=0.15`` (the weight moves 30% of the way per
    epoch): ``w`` = 0.6, 1.02, 1.31, 1.52, ... so the best epoch is 2, not the last."""

    def setup(self, hp):
        x = torch.tensor([[1.0], [-1.0]])
        self.model = nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            self.model.weight.zero_()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=hp["lr"])
        self.train_loader = DataLoader(TensorDataset(x, 2 * x), batch_size=2)
        self.val_loader = DataLoader(TensorDataset(x, x), batch_size=2)

    def training_step(self, batch):
        x, y = batch
        return nn.functional.mse_loss(self.model(x), y)

    def validation_step(self, batch):
        x, y = batch
        return {"loss": nn.functional.mse_loss(self.model(x), y), "w": self.model.weight.detach().sum()}


def _val_loss(module) -> float:
    x, y = next(iter(module.val_loader))
    with torch.no_grad():
        return float(nn.functional.mse_loss(module.model(x), y))


class _Trial:
    """A trial handle that answers every report (for the job alone, no study)."""

    def __init__(self, params, decisions=None):
        self.number, self.params = 0, dict(params)
        self.reports: list[tuple[int, dict]] = []
        self._decisions = dict(decisions or {})
        self.states: list[dict] = []

    def report(self, metrics, step, *, state=None, final=False):
        self.reports.append((step, dict(metrics)))
        decision = self._decisions.get(step, CONTINUE)
        if decision.checkpoint and state is not None:
            self.states.append(state())
        return decision


def test_the_job_returns_the_best_evaluations_weights_beside_the_final_ones():
    trial = _Trial({"lr": 0.15})
    result = TrainJob(Overshoot, epochs=5, metric="loss", mode="min")(trial)
    losses = {step: m["loss"] for step, m in trial.reports}
    best_step = min(losses, key=losses.get)
    assert best_step == 2 and losses[5] > 10 * losses[2]  # the example of the issue: best != last
    assert result.best_step == 2
    module = Overshoot({"lr": 0.15})
    module.load_state_dict(result.best_state_dict)
    assert _val_loss(module) == pytest.approx(losses[2], rel=1e-6)
    module.load_state_dict(result.state_dict)
    assert _val_loss(module) == pytest.approx(losses[5], rel=1e-6)


def test_when_the_last_evaluation_is_the_best_only_the_final_weights_travel():
    trial = _Trial({"lr": 0.15})
    result = TrainJob(Overshoot, epochs=2, metric="loss", mode="min")(trial)
    assert result.best_step == 2 and result.best_state_dict is None and result.state_dict is not None


def test_max_mode_keeps_the_highest_evaluation():
    trial = _Trial({"lr": 0.15})
    result = TrainJob(Overshoot, epochs=4, metric="w", mode="max")(trial)  # w rises every epoch
    assert result.best_step == 4 and result.best_state_dict is None


def test_without_the_study_metric_the_job_keeps_the_final_weights_only():
    result = TrainJob(Overshoot, epochs=3)(_Trial({"lr": 0.15}))
    assert result.best_step is None and result.best_state_dict is None and result.state_dict is not None


def test_weights_are_copied_only_when_a_report_improves_the_best():
    best = BestWeights("loss", "min")
    model = nn.Linear(1, 1)
    for step, loss in enumerate([3.0, 2.0, 2.0, 5.0, float("nan"), 1.0, 4.0], start=1):
        best.seen({"loss": loss}, step, model)
    assert best.copies == 3 and best.step == 6 and best.value == 1.0


def test_a_kept_state_carries_the_best_so_a_resumed_trial_still_knows_it():
    # the best is at epoch 2; the trial's state is kept at epoch 3 (a PBT checkpoint, an ASHA
    # pause): it carries the epoch-2 weights, and a job resumed from it returns them at the end
    keep = Decision(checkpoint=True)
    first = _Trial({"lr": 0.15}, {2: keep, 3: keep})
    TrainJob(Overshoot, epochs=3, metric="loss", mode="min")(first)
    at2, at3 = first.states
    assert at2[KEY]["step"] == 2 and at2[KEY]["model"] is None  # its own module holds the best: no second copy
    assert at3[KEY]["step"] == 2 and at3[KEY]["model"] is not None

    class Resumed(_Trial):
        def resume_state(self):
            return at3

    second = Resumed({"lr": 0.15})
    result = TrainJob(Overshoot, epochs=5, metric="loss", mode="min")(second)
    assert [s for s, _ in second.reports] == [4, 5]
    assert result.best_step == 2
    module = Overshoot({"lr": 0.15})
    module.load_state_dict(result.best_state_dict)
    best_loss = min(m["loss"] for _, m in first.reports)
    assert _val_loss(module) == pytest.approx(best_loss, rel=1e-6)


def test_a_state_whose_weights_were_replaced_while_paused_loses_its_best_weights_rather_than_lie():
    keep = Decision(checkpoint=True)
    first = _Trial({"lr": 0.15}, {2: keep})
    TrainJob(Overshoot, epochs=2, metric="loss", mode="min")(first)
    (state,) = first.states
    state["module"]["model"]["weight"] = torch.tensor([[1.9]])  # an exploit at the pause put a donor's weights there

    class Resumed(_Trial):
        def resume_state(self):
            return state

    result = TrainJob(Overshoot, epochs=3, metric="loss", mode="min")(Resumed({"lr": 0.15}))
    assert result.best_step is None and result.best_state_dict is None


# -- through a study: in this process and in worker processes -------------------------------------------

SPACE = {"lr": ts.Float(0.14, 0.16)}


def _losses(trial) -> dict[int, float]:
    return dict(trial.metrics["loss"])


@pytest.mark.parametrize("workers", [None, 2], ids=["in-process", "workers=2"])
def test_load_module_gives_the_weights_of_the_trials_best_evaluation(tmp_path, workers):
    # the example: the best trial's value is its best epoch's, and the module loaded
    # for it evaluates to that value; which="last" gives the final epoch's weights
    study = ts.tune(Overshoot, SPACE, metric="loss", mode="min", epochs=5, n_trials=2, seed=0,
                    storage=tmp_path, workers=workers, verbose=False)
    best = study.best_trial
    losses = _losses(best)
    assert best.best_step == 2 and best.value == pytest.approx(losses[2]) and losses[5] > 10 * losses[2]
    assert _val_loss(study.load_module(Overshoot)) == pytest.approx(best.value, rel=1e-6)
    assert _val_loss(study.load_module(Overshoot, which="last")) == pytest.approx(losses[5], rel=1e-6)
    # only the best trial keeps weights: its best and its last
    assert len(list((tmp_path / "checkpoints").glob("*.pt"))) == 2


def test_when_the_best_evaluation_is_the_last_one_file_serves_both(tmp_path):
    study = ts.tune(Overshoot, SPACE, metric="loss", mode="min", epochs=2, n_trials=1, seed=0, storage=tmp_path,
                    verbose=False)
    assert len(list((tmp_path / "checkpoints").glob("*.pt"))) == 1
    best, last = study.load_module(Overshoot), study.load_module(Overshoot, which="last")
    assert torch.equal(best.model.weight, last.model.weight)


def test_load_module_refuses_an_unknown_which(tmp_path):
    study = ts.tune(Overshoot, SPACE, metric="loss", mode="min", epochs=1, n_trials=1, seed=0, verbose=False)
    with pytest.raises(ValueError, match=r"which must be 'best' or 'last', got which='final'"):
        study.load_module(Overshoot, which="final")
