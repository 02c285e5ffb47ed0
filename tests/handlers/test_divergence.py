"""handlers/divergence.py: a blown-up learning rate is caught within the first epoch."""

from __future__ import annotations

import pytest
from ignite.engine import Events

from tests.handlers.conftest import make_engines
from torchsearch.handlers import Divergence, stop_record


def test_learning_rate_of_ten_is_stopped_within_the_first_epoch():
    trainer, evaluator, train = make_engines(lr=10.0, batch_size=64)
    losses = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: losses.append(e.state.output))
    Divergence(factor=10).attach(trainer)
    trainer.run(train, max_epochs=5)
    assert trainer.state.epoch == 1 and trainer.state.iteration < len(train)
    code, reason = stop_record(trainer)
    assert code == "divergence"
    assert losses[-1] > 10 * min(losses[:-1])  # it stopped on the first loss past 10 x the best
    assert all(loss <= 10 * min(losses[: i + 1]) for i, loss in enumerate(losses[:-1]))
    assert reason.startswith("divergence: loss ") and f"(epoch 1, iteration {trainer.state.iteration})" in reason


def test_a_sane_learning_rate_is_left_alone():
    trainer, evaluator, train = make_engines(lr=0.1, n_train=512)
    Divergence(factor=10).attach(trainer)
    trainer.run(train, max_epochs=3)
    assert trainer.state.epoch == 3 and stop_record(trainer) is None


def test_nan_loss_stops_at_the_first_iteration_even_in_warmup():
    trainer, evaluator, train = make_engines(nan=True)
    Divergence(factor=10, warmup=100).attach(trainer)
    trainer.run(train, max_epochs=2)
    assert trainer.state.iteration == 1
    assert stop_record(trainer) == ("non_finite", "divergence: loss is nan (epoch 1, iteration 1)")


def test_ceiling_applies_only_after_warmup():
    trainer, evaluator, train = make_engines(lr=0.0, batch_size=64)  # loss stays near 2.3
    Divergence(ceiling=1.0, warmup=4).attach(trainer)
    trainer.run(train, max_epochs=1)
    assert trainer.state.iteration == 5 and trainer.state.stop_code == "divergence"
    assert "> ceiling 1 (epoch 1, iteration 5)" in trainer.state.stop_reason


def test_watching_a_validation_metric_on_the_evaluator():
    trainer, evaluator, train = make_engines(lr=0.0, n_train=128)
    Divergence(metric="loss", ceiling=1.0).attach(trainer, evaluator)
    trainer.run(train, max_epochs=3)
    assert trainer.state.epoch == 1
    assert trainer.state.stop_reason.endswith("> ceiling 1 (epoch 1)")


def test_output_transform_picks_the_loss_from_a_richer_output():
    trainer, evaluator, train = make_engines(nan=True)
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: setattr(e.state, "output", {"loss": e.state.output}))
    Divergence(output_transform=lambda out: out["loss"]).attach(trainer)
    trainer.run(train, max_epochs=1)
    assert trainer.state.stop_code == "non_finite"


def test_state_dict_round_trip():
    d = Divergence(factor=5)
    d.load_state_dict({"best": 0.25, "n_events": 7})
    assert d.state_dict() == {"best": 0.25, "average": None, "n_events": 7}


@pytest.mark.parametrize("kwargs, match", [
    (dict(factor=1.0), r"Divergence: factor must be a finite number > 1, got factor=1.0"),
    (dict(factor=float("inf")), r"factor must be a finite number > 1, got factor=inf"),
    (dict(ceiling="big"), r"ceiling must be a finite number, got ceiling='big'"),
    (dict(warmup=-3), r"warmup must be an int >= 0, got warmup=-3"),
    (dict(smoothing=1.0), r"smoothing must be in \[0, 1\), got smoothing=1.0"),
    (dict(metric="loss", output_transform=lambda o: o), r"give metric= or output_transform=, not both"),
])
def test_bad_arguments_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Divergence(**kwargs)


def scripted_trainer(losses):
    """A real Engine whose 'loss' at iteration i is losses[i - 1]."""
    from ignite.engine import Engine

    return Engine(lambda engine, batch: losses[engine.state.iteration - 1])


def test_smoothing_ignores_one_lucky_batch_but_not_a_blow_up():
    lucky = [1.0, 0.05, 1.0, 1.0, 1.0, 1.0]  # one batch at 0.05 sets a low best; ordinary batches are 20x it
    raw = scripted_trainer(lucky)
    Divergence(factor=10).attach(raw)
    raw.run(range(len(lucky)), max_epochs=1)
    assert raw.state.iteration == 3 and raw.state.stop_code == "divergence"

    smooth = scripted_trainer(lucky)
    Divergence(factor=10, smoothing=0.9).attach(smooth)
    smooth.run(range(len(lucky)), max_epochs=1)
    assert smooth.state.iteration == len(lucky) and smooth.state.stop_code is None

    blow_up = scripted_trainer([1.0, 1.0, 100.0, 1e4, 1e6])
    Divergence(factor=10, smoothing=0.9).attach(blow_up)
    blow_up.run(range(5), max_epochs=1)
    assert blow_up.state.iteration == 3  # average 10.9 > 10 x 1.0
    assert blow_up.state.stop_reason == "divergence: loss (smoothed) 10.9 > 10 x best 1 (epoch 1, iteration 3)"


def test_without_limits_it_checks_every_value_of_a_structured_output_as_terminate_on_nan_does():
    import numpy as np
    import torch

    outputs = [(torch.ones(3), {"loss": 0.5, "name": "batch"}), [torch.zeros(2, 2), np.ones(2)],
               {"aux": (1.0, np.array([1.0, np.inf]))}, 1.0]
    trainer = scripted_trainer(outputs)
    d = Divergence().attach(trainer)
    trainer.run(range(len(outputs)), max_epochs=1)
    assert trainer.state.iteration == 3 and d.n_events == 3  # the inf inside a numpy array, two levels down
    assert stop_record(trainer) == ("non_finite", "divergence: loss is inf (epoch 1, iteration 3)")


def test_an_output_of_finite_values_and_strings_trains_on():
    import torch

    outputs = [(1.0, torch.tensor(1.0), "abc"), [torch.rand(4, 4), 0.0]]
    trainer = scripted_trainer(outputs)
    Divergence().attach(trainer)
    trainer.run(range(len(outputs)), max_epochs=1)
    assert trainer.state.iteration == 2 and stop_record(trainer) is None


def test_factor_and_ceiling_need_one_number_and_say_how_to_pick_it():
    import torch

    trainer = scripted_trainer([(torch.tensor(0.5), torch.tensor(0.1))])
    Divergence(factor=10).attach(trainer)
    with pytest.raises(ValueError, match=r"factor= and ceiling= need one number; pick it with output_transform=\)"):
        trainer.run(range(1), max_epochs=1)


@pytest.mark.parametrize("output, stops", [
    (complex(1, 1), False), (complex(float("nan"), 0), True), (complex(1, float("inf")), True),
])
def test_a_complex_output_stops_when_its_real_or_imaginary_part_is_not_finite_as_in_ignite(output, stops):
    import torch

    for out in (output, torch.tensor(output), torch.tensor([output]), torch.tensor([1 + 0j, output])):
        trainer = scripted_trainer([out, out])
        Divergence().attach(trainer)
        trainer.run(range(2), max_epochs=1)
        assert trainer.state.iteration == (1 if stops else 2), out
        if stops:
            assert trainer.state.stop_code == "non_finite"
            assert trainer.state.stop_reason == f"divergence: loss is {output} (epoch 1, iteration 1)"
        else:
            assert stop_record(trainer) is None


def test_factor_on_a_complex_output_says_it_needs_a_real_number():
    import torch

    trainer = scripted_trainer([torch.tensor(1 + 1j)])
    Divergence(factor=10).attach(trainer)
    with pytest.raises(ValueError, match=r"must be a real number or a one-element real tensor, got a torch.complex64"):
        trainer.run(range(1), max_epochs=1)


@pytest.mark.parametrize("output", [None, [1.0, None], {"loss": 1.0, "model": object()}])
def test_an_output_that_is_no_number_raises_type_error_naming_it_as_terminate_on_nan_does(output):
    from ignite.handlers import TerminateOnNan

    ignite_trainer = scripted_trainer([output])
    ignite_trainer.add_event_handler(Events.ITERATION_COMPLETED, TerminateOnNan())
    with pytest.raises(TypeError):
        ignite_trainer.run(range(1), max_epochs=1)

    trainer = scripted_trainer([output])
    Divergence().attach(trainer)
    with pytest.raises(TypeError, match=r"Divergence: the watched output .* must be a number, a tensor or array, or a "
                                        r"list, tuple or dict of them .*; found (None|<object .*>) of type "
                                        r"(NoneType|object)\. Pick the loss with output_transform="):
        trainer.run(range(1), max_epochs=1)
