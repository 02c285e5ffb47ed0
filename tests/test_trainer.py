"""trainer.py: trains and evaluates a real model on CPU with Ignite engines."""

from __future__ import annotations

import math

import pytest
import torch
from ignite.engine import Events

import torchsearch as ts
from tests.models import TinyRegression


def test_trainer_lowers_the_loss_and_weights_metrics_by_batch_size():
    torch.manual_seed(0)
    module = TinyRegression({"lr": 0.05})
    trainer = ts.Trainer(module)
    before = trainer.evaluate()["mse"]
    seen = []
    trainer.on_evaluation(lambda tr, m: seen.append((tr.epoch, m["mse"])))
    after = trainer.fit(5)["mse"]
    assert after < 0.5 * before
    assert [e for e, _ in seen] == [1, 2, 3, 4, 5]
    # 64 validation samples in batches of 50 and 14: the batch-size weighted mean is the true mean
    x, y = [torch.cat(t) for t in zip(*module.val_loader)]
    with torch.no_grad():
        true = torch.nn.functional.mse_loss(module.model(x), y).item()
    assert after == pytest.approx(true, rel=1e-6)
    assert trainer.metrics["n"] == pytest.approx((50 * 50 + 14 * 14) / 64)


def test_trainer_modes_no_grad_and_eval_every():
    module = TinyRegression({"lr": 0.01})
    modes = []
    trainer = ts.Trainer(module, eval_every=2)
    trainer.train_engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: modes.append(module.model.training))
    grads = []
    trainer.eval_engine.add_event_handler(
        Events.ITERATION_COMPLETED, lambda e: grads.append((module.model.training, torch.is_grad_enabled())))
    evals = []
    trainer.on_evaluation(lambda tr, m: evals.append(tr.epoch))
    trainer.fit(5)
    assert all(modes) and grads and not any(t for t, _ in grads)
    assert evals == [2, 4, 5]  # every 2 epochs, and after the last one


def test_nan_loss_raises_trial_failed():
    trainer = ts.Trainer(TinyRegression({"lr": 0.01, "nan": True}))
    with pytest.raises(ts.TrialFailed, match="training loss became nan at epoch 1, iteration 1"):
        trainer.fit(1)


def test_stop_ends_training_with_its_reason():
    trainer = ts.Trainer(TinyRegression({"lr": 0.01}))
    trainer.on_evaluation(lambda tr, m: tr.stop("custom", "enough after epoch 2") if tr.epoch == 2 else None)
    trainer.fit(10)
    assert trainer.epoch == 2 and trainer.stop_reason == "enough after epoch 2"


def test_state_dict_round_trip_continues_where_it_stopped():
    torch.manual_seed(1)
    a = ts.Trainer(TinyRegression({"lr": 0.05}))
    a.fit(2)
    state = a.state_dict()
    runs = []
    for _ in range(2):  # two trainers restored from one state train the same next two epochs
        b = ts.Trainer(TinyRegression({"lr": 0.05}))
        b.load_state_dict(state)
        assert b.epoch == 2 and b.metrics == a.metrics
        runs.append(b.fit(4)["mse"])
        assert b.epoch == 4
    assert math.isclose(runs[0], runs[1], rel_tol=1e-9)
    assert runs[0] != state["metrics"]["mse"]


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="eval_every must be an int >= 1, got eval_every=0"):
        ts.Trainer(TinyRegression({"lr": 0.01}), eval_every=0)
    with pytest.raises(ValueError, match="epochs must be an int >= 1, got epochs=0"):
        ts.Trainer(TinyRegression({"lr": 0.01})).fit(0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_pbt_rebuild_on_cuda_keeps_optimizer_state_on_the_gpu():
    """An exploit that rebuilds the module (a structural hyperparameter changed) must leave the
    copied momentum buffers on the GPU with the parameters."""
    from torchsearch._jobs import exploit

    hp = {"lr": 0.05, "width": 8}
    donor = ts.Trainer(TinyRegression({**hp, "width": 16}, device="cuda"), device="cuda")
    donor.module.optimizer = torch.optim.SGD(donor.module.model.parameters(), lr=0.05, momentum=0.9)
    donor.fit(1)
    state = {"module": donor.module.state_dict()}
    module = TinyRegression(hp, device="cuda")
    module.optimizer = torch.optim.SGD(module.model.parameters(), lr=0.05, momentum=0.9)
    trainer = ts.Trainer(module, device="cuda")
    exploit(trainer, state, {**hp, "width": 16})
    buffers = [s["momentum_buffer"] for s in trainer.module.optimizer.state.values()]
    assert buffers and all(b.is_cuda for b in buffers)
    trainer.fit(2)  # trains on without a device mismatch


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_nan_loss_on_cuda_fails_at_the_end_of_the_epoch_without_a_sync_per_iteration():
    trainer = ts.Trainer(TinyRegression({"lr": 0.01, "nan": True}, device="cuda"), device="cuda")
    outputs = []
    trainer.train_engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: outputs.append(e.state.output))
    with pytest.raises(ts.TrialFailed, match=r"training loss became non-finite \(nan or inf\) during epoch 1"):
        trainer.fit(3)
    assert len(outputs) == 6 and all(isinstance(o, torch.Tensor) and o.is_cuda for o in outputs)


def test_state_dict_carries_the_handlers_state_and_a_new_trainer_takes_it_back():
    from torchsearch._state import decode, dumps_state
    from torchsearch.handlers import Patience

    torch.manual_seed(1)
    first = Patience(5, metric="mse", mode="min", min_delta=10.0)  # nothing counts as improving
    a = ts.Trainer(TinyRegression({"lr": 0.05}), handlers=[first])
    a.fit(3)
    assert first.counter == 2
    state = a.state_dict()
    assert state["handlers"] == [dict(first.state_dict())]
    decode(dumps_state(state))  # crosses to another process without unpickling a class
    second = Patience(5, metric="mse", mode="min", min_delta=10.0)
    b = ts.Trainer(TinyRegression({"lr": 0.05}), handlers=[second])
    b.load_state_dict(state)
    assert (second.counter, second.best_score, second.n_evaluations) == (2, first.best_score, 3)
    b.fit(6)  # two more evaluations without improvement: five in a row
    assert b.stop_code == "patience" and b.epoch == 6
    other = ts.Trainer(TinyRegression({"lr": 0.05}))  # other handlers: the states are not forced on them
    other.load_state_dict(state)
    assert other.epoch == 3
