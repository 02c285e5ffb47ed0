"""The coordinator's side of PBT in this process: exploit copies, pause/resume, lineage, schedule."""

from __future__ import annotations

import time

import pytest
import torch

import torchsearch as ts
from torchsearch._jobs import exploit
from torchsearch._population import decode, dumps_state, encode, loads_state
from torchsearch.schedulers import PBT
from torchsearch.storage import Storage
from tests.pbt_models import DropoutRegression

HP = {"lr": 0.05, "momentum": 0.9, "dropout": 0.1}


def trainer(hp, seed):
    torch.manual_seed(seed)
    return ts.Trainer(DropoutRegression(dict(hp)))


def weights(tr):
    return [p.detach().clone() for p in tr.module.model.parameters()]


def test_exploit_copies_weights_and_optimiser_exactly_then_trials_diverge():
    donor, recipient = trainer(HP, 1), trainer({**HP, "lr": 0.01}, 2)
    donor.fit(2)
    recipient.fit(1)
    new = {**HP, "lr": 0.2, "dropout": 0.3}
    exploit(recipient, loads_state(dumps_state(donor.state_dict())), new)
    assert all(torch.equal(a, b) for a, b in zip(weights(donor), weights(recipient)))
    d_opt, r_opt = donor.module.optimizer, recipient.module.optimizer
    for p_d, p_r in zip(d_opt.param_groups[0]["params"], r_opt.param_groups[0]["params"]):
        assert torch.equal(d_opt.state[p_d]["momentum_buffer"], r_opt.state[p_r]["momentum_buffer"])
    assert r_opt.param_groups[0]["lr"] == 0.2 and d_opt.param_groups[0]["lr"] == 0.05
    assert recipient.module.model[2].p == 0.3
    assert recipient.epoch == 1  # the recipient keeps its own timeline
    donor.fit(3)
    recipient.fit(2)
    assert not all(torch.equal(a, b) for a, b in zip(weights(donor), weights(recipient)))


def test_exploit_in_place_keeps_the_optimiser_object_and_a_shape_change_rebuilds_the_module():
    donor, recipient = trainer({**HP, "width": 16}, 1), trainer(HP, 2)
    opt = recipient.module.optimizer
    same = trainer(HP, 3)
    exploit(recipient, loads_state(dumps_state(same.state_dict())), {**HP, "lr": 0.07})
    assert recipient.module.optimizer is opt and opt.param_groups[0]["lr"] == 0.07
    exploit(recipient, loads_state(dumps_state(donor.state_dict())), {**HP, "width": 16})
    assert recipient.module.model[0].out_features == 16
    assert all(torch.equal(a, b) for a, b in zip(weights(donor), weights(recipient)))
    recipient.fit(2)  # trains on with the rebuilt module


def test_an_explored_layer_width_that_the_donors_weights_do_not_fit_fails_with_a_clear_error():
    import pytest

    from torchsearch.exceptions import TrialFailed

    donor, recipient = trainer({**HP, "width": 16}, 1), trainer(HP, 2)
    with pytest.raises(TrialFailed, match=r"params \{'width': 19\}.*PBT\(hyperparams=\[\.\.\.\]\)"):
        exploit(recipient, loads_state(dumps_state(donor.state_dict())), {**HP, "width": 19})


def test_default_apply_hyperparameters_sets_param_groups_and_asks_for_a_rebuild_otherwise():
    module = DropoutRegression(dict(HP))
    applied = ts.TrialModule.apply_hyperparameters(module, {**HP, "lr": 0.3, "momentum": 0.5})
    assert applied is True
    assert module.optimizer.param_groups[0]["lr"] == 0.3 and module.optimizer.param_groups[0]["momentum"] == 0.5
    assert ts.TrialModule.apply_hyperparameters(module, {**HP, "lr": 0.3, "dropout": 0.4}) is False


def test_pause_and_resume_continue_exactly_where_training_stopped():
    straight = trainer(HP, 5)
    straight.fit(4)
    paused = trainer(HP, 5)
    paused.fit(2)
    state = dumps_state(paused.state_dict())
    torch.manual_seed(123)  # another process, another RNG: the state restores it
    resumed = trainer(HP, 99)
    resumed.load_state_dict(loads_state(state))
    assert resumed.epoch == 2
    resumed.fit(4)
    assert all(torch.equal(a, b) for a, b in zip(weights(straight), weights(resumed)))
    # the same on the module its process held (a fresh Trainer, no weights loaded)
    held = trainer(HP, 5)
    held.fit(2)
    rest = {k: v for k, v in held.state_dict().items() if k != "module"}
    torch.manual_seed(321)
    again = ts.Trainer(held.module)
    again.load_state_dict(rest, module=False)
    again.fit(4)
    assert all(torch.equal(a, b) for a, b in zip(weights(straight), weights(again)))


class RecordingPBT(PBT):
    """PBT that remembers the decisions it made (to compare with the stored lineage)."""

    def setup(self, space, *, mode, seed=None):
        super().setup(space, mode=mode, seed=seed)
        self.made = []

    def on_report(self, number, step, value):
        d = super().on_report(number, step, value)
        self.made.append((number, step, d))
        return d

    def on_resume(self, number):
        d = super().on_resume(number)
        if d is not None:
            self.made.append((number, None, d))
        return d


SPACE = {"lr": ts.Float(1e-3, 0.3, log=True), "momentum": ts.Float(0.0, 0.95), "dropout": ts.Float(0.0, 0.5)}


def test_population_larger_than_one_slot_takes_turns_and_lineage_matches_the_exploits():
    scheduler = RecordingPBT(population=4, interval=2, seed=0)
    study = ts.tune(DropoutRegression, SPACE, scheduler=scheduler, metric="mse", mode="min", epochs=8, seed=1,
                    verbose=False)
    trials = study.trials
    assert len(trials) == 4 and all(t.state == "completed" for t in trials)
    assert all(sorted(t.metrics["mse"]) == list(range(1, 9)) for t in trials)
    actions = [d.action for _, _, d in scheduler.made]
    assert "pause" in actions
    # exploits: while running, while pausing (the trial yields its slot), or on resume
    exploits = [(n, s, d) for n, s, d in scheduler.made if d.donor is not None and (s is None or s < 8)]
    assert exploits
    rows = study.lineage()
    assert [(r["trial"], r["donor"], r["new_params"], tuple(r["operations"])) for r in rows] == [
        (n, d.donor, d.params, d.operations) for n, s, d in exploits]
    assert all(r["step"] == s for r, (_, s, _) in zip(rows, exploits) if s is not None)
    for t in trials:  # the stored params are the ones the trial ended with
        mine = [r for r in rows if r["trial"] == t.number]
        if mine:
            assert t.params == mine[-1]["new_params"]


def test_schedule_follows_the_donors_and_the_best_weights_load():
    study = ts.tune(DropoutRegression, SPACE, scheduler=PBT(population=4, interval=1, seed=3), metric="mse",
                    mode="min", epochs=6, seed=2, verbose=False)
    for t in study.trials:
        segments = study.schedule(t.number)
        assert segments[0]["start"] == 0 and segments[-1]["trial"] == t.number and segments[-1]["end"] is None
        assert segments[-1]["params"] == t.params
        for seg in segments:
            ts.space.as_space(SPACE).validate(seg["params"])
    exploited = {r["trial"] for r in study.lineage()}
    assert exploited, "this seed exploits at least once"
    n = next(iter(exploited))
    assert len(study.schedule(n)) >= 2
    module = study.load_module(DropoutRegression)
    assert isinstance(module.model, torch.nn.Module)


def test_kept_states_are_written_durably_in_the_background_and_deleted_when_dropped(tmp_path):
    study = ts.Study(space=SPACE, metric="mse", mode="min", storage=str(tmp_path), verbose=False)
    tr = trainer(HP, 0)
    pop = study._population
    pop.keep(7, 1, tr.state_dict())
    pop._writer.flush()
    key = pop.key(7)
    on_disk = Storage(str(tmp_path)).load_checkpoint(key)  # weights_only=True
    assert torch.equal(on_disk["module"]["model"]["0.weight"], tr.module.model[0].weight)
    pop.drop(7)
    pop.close()
    assert not (tmp_path / "checkpoints" / f"{key}.pt").exists()


def test_durable_copies_of_a_trial_are_throttled_to_its_latest_state_and_flushed_at_the_end(tmp_path):
    from torchsearch._population import _DurableWriter, _Kept

    class CountingStorage(Storage):
        writes: list = []

        def save_checkpoint(self, key, state):
            self.writes.append(key)
            return super().save_checkpoint(key, state)

    storage = CountingStorage(str(tmp_path))
    writer = _DurableWriter(storage, min_interval=60.0)
    trained = trainer(HP, 0)
    states = []
    for step in range(1, 6):  # five ready points of one trial within a minute: one write, then the latest
        trained.fit(step)
        states.append(trained.state_dict())
        writer.put("t-0", _Kept(step, wire=dumps_state(states[-1])))
        if step == 1:
            deadline = time.monotonic() + 10
            while not storage.writes and time.monotonic() < deadline:
                time.sleep(0.01)
    time.sleep(0.2)
    assert storage.writes == ["t-0"], "a trial's file is not rewritten within min_interval"
    writer.put("t-1", _Kept(1, wire=dumps_state(states[0])))  # another trial is not held back
    deadline = time.monotonic() + 10
    while len(storage.writes) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert storage.writes == ["t-0", "t-1"]
    writer.flush()
    writer.close()
    assert storage.writes == ["t-0", "t-1", "t-0"]
    on_disk = storage.load_checkpoint("t-0")  # the wire format, read back without unpickling classes
    assert on_disk["epoch"] == 5
    assert torch.equal(on_disk["module"]["model"]["0.weight"], states[-1]["module"]["model"]["0.weight"])


def test_a_trainer_state_travels_with_a_small_skeleton_and_restores_every_rng():
    import random

    import numpy as np

    tr = trainer(HP, 0)
    tr.fit(1)
    random.seed(5)
    np.random.seed(5)
    blob = dumps_state(tr.state_dict())
    head = int.from_bytes(blob[:8], "little")
    assert head < 4000, f"the pickled skeleton is {head} bytes: RNG words must travel as tensors, not ints"
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    random.seed(6)
    np.random.seed(6)
    torch.manual_seed(6)
    tr.load_state_dict(loads_state(blob))
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


def two_members(own_epochs):
    """A PBT study's population, a donor trained 2 epochs and a member trained ``own_epochs``."""
    study = ts.Study(space=SPACE, scheduler=PBT(population=2, interval=1, seed=0), metric="mse", mode="min",
                     verbose=False)
    donor, own = trainer(HP, 1), trainer({**HP, "lr": 0.01}, 2)
    donor.fit(2)
    own.fit(own_epochs)
    return study, study._population, donor, own


def test_a_pause_that_exploits_takes_the_donors_weights_even_if_the_donor_ends_before_the_state_arrives():
    from torchsearch._active import ActiveTrial
    from torchsearch.schedulers.base import Decision

    study, pop, donor, own = two_members(own_epochs=2)
    pop.keep(0, 2, donor.state_dict())
    n = study.storage.add_trial(study._id, dict(HP))
    active = ActiveTrial(study, n, dict(HP))
    new = {**HP, "lr": 0.06}
    decision = pop.on_decision(active, Decision("pause", donor=0, params=new, operations=("copy trial 0 (step 2)",)),
                               2, None, False)  # a worker's trial: its state comes in a later message
    assert decision.action == "pause" and decision.donor == 0
    pop.drop(0)  # the donor finishes meanwhile
    rest = {k: v for k, v in own.state_dict().items() if k != "module"}  # what the worker sends
    pop.receive(active, 2, dumps_state(rest))
    kept = pop.state(n)
    assert torch.equal(kept["module"]["model"]["0.weight"], donor.module.model[0].weight)
    assert kept["epoch"] == 2 and active.params == new
    pop.close()


def test_wire_format_round_trips_every_dtype_and_shape_and_refuses_classes():
    import pickle

    import pytest

    from torchsearch._population import decode, encode

    state = {"a": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.tensor(3, dtype=torch.int64),
             "c": [torch.tensor([True, False]), torch.ones(2, dtype=torch.bfloat16)], "d": (1, "x", None, 2.5),
             "e": torch.empty(0, 4)}
    back = decode(encode(state))
    for k in ("a", "b", "e"):
        assert back[k].dtype == state[k].dtype and torch.equal(back[k], state[k])
    assert torch.equal(back["c"][0], state["c"][0]) and torch.equal(back["c"][1], state["c"][1])
    assert back["d"] == state["d"]
    head = pickle.dumps((ts.Trainer, []), protocol=5)
    with pytest.raises(pickle.UnpicklingError, match="must not reference"):
        decode(len(head).to_bytes(8, "little") + head)


class InterruptedJob(ts._jobs.TrainJob):
    """Raises KeyboardInterrupt (as Ctrl+C would) at the ``limit``-th report of the study."""

    def __init__(self, *args, limit, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit, self.count = limit, 0

    def __call__(self, trial, device=None):
        job = self

        class Counting:
            def __getattr__(self, name):
                return getattr(trial, name)

            def report(self, *args, **kwargs):
                job.count += 1
                if job.count >= job.limit:
                    raise KeyboardInterrupt
                return trial.report(*args, **kwargs)

        return super().__call__(Counting(), device)


def test_an_interrupted_pbt_study_resumes_its_paused_members_from_their_durable_states(tmp_path):
    import pytest

    def study():
        return ts.Study(space=SPACE, scheduler=PBT(population=4, interval=1, seed=0), metric="mse", mode="min",
                        storage=str(tmp_path), seed=0, verbose=False)

    first = study()
    with pytest.raises(KeyboardInterrupt):
        first.run(InterruptedJob(DropoutRegression, epochs=4, seed=0, limit=7))
    before = {t.number: t for t in first.trials}
    paused = [n for n, t in before.items() if t.state == "paused"]
    # every member had a kept state: the one running at Ctrl+C stays paused too (none is stopped)
    assert paused == [0, 1, 2, 3]
    assert {p.name for p in (tmp_path / "checkpoints").iterdir()} >= {f"default-state-{n}.pt" for n in paused}
    again = study()
    again.run(ts._jobs.TrainJob(DropoutRegression, epochs=4, seed=0))
    after = {t.number: t for t in again.trials}
    assert len(after) == 4  # no member was started again from scratch
    for n in paused:
        assert after[n].state == "completed" and sorted(after[n].metrics["mse"]) == [1, 2, 3, 4]


def test_replacing_an_entry_of_encoded_states_copies_bytes_and_decodes_as_the_rebuilt_dict():
    from torchsearch._state import replace_entry

    own = {"epoch": 4, "module": {"w": torch.randn(50, 7)}, "rng": {"torch": torch.arange(5, dtype=torch.uint8)},
           "odd": [torch.tensor([True, False, True]), torch.empty(0, 3)]}
    donor = {"epoch": 9, "module": {"w": torch.randn(3, 3), "opt": {"m": torch.randn(11, dtype=torch.float64),
                                                                     "n": (torch.tensor(2), "sgd")}},
             "rng": {"torch": torch.zeros(4000, dtype=torch.uint8)}}
    blob = replace_entry(encode(own), "module", encode(donor))
    back = decode(blob)
    assert back["epoch"] == 4 and torch.equal(back["rng"]["torch"], own["rng"]["torch"])
    assert torch.equal(back["odd"][0], own["odd"][0]) and back["odd"][1].shape == (0, 3)
    assert torch.equal(back["module"]["w"], donor["module"]["w"])
    assert torch.equal(back["module"]["opt"]["m"], donor["module"]["opt"]["m"])
    assert back["module"]["opt"]["n"][1] == "sgd" and int(back["module"]["opt"]["n"][0]) == 2
    # only what the result refers to travels: neither own's old module nor the donor's RNG
    assert len(blob) < len(encode({**own, "module": donor["module"]})) + 64
    without_module = {k: v for k, v in own.items() if k != "module"}  # a pause that exploits sends this
    assert torch.equal(decode(replace_entry(encode(without_module), "module", encode(donor)))["module"]["w"],
                       donor["module"]["w"])
    with pytest.raises(ValueError, match="donor's must have 'module'"):
        replace_entry(encode(own), "module", encode({"epoch": 1}))


def test_a_pause_that_exploits_between_worker_states_merges_them_without_decoding():
    study, pop, donor, own = two_members(own_epochs=3)
    pop.keep(0, 2, blob=dumps_state(donor.state_dict()))  # as a worker process sends it
    rest = {k: v for k, v in own.state_dict().items() if k != "module"}
    pop.keep(1, 3, blob=dumps_state(rest), donor=pop._kept[0])
    assert pop._kept[1]._packed is None  # merged as bytes
    kept = pop.state(1)
    assert torch.equal(kept["module"]["model"]["0.weight"], donor.module.model[0].weight)
    assert kept["epoch"] == 3
    own.load_state_dict(kept)  # a whole trainer state again
    pop.close()
