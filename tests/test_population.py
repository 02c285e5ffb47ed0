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


def test_exploit_copies_weights_optimiser_and_epoch_count_then_trials_diverge():
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
    assert recipient.epoch == 2  # the recipient goes on from the donor's epoch: one timeline, no epoch twice
    donor.fit(3)
    recipient.fit(3)
    assert recipient.epoch == 3
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
    assert all(max(t.metrics["mse"]) == 8 for t in trials)  # (a copy skips the donor's epochs: see assert_bookkeeping)
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
    pop = study._coordinator.population
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
    return study, study._coordinator.population, donor, own


def test_a_pause_that_exploits_takes_the_donors_weights_even_if_the_donor_ends_before_the_state_arrives():
    from torchsearch._active import ActiveTrial
    from torchsearch.schedulers.base import Decision

    study, pop, donor, own = two_members(own_epochs=2)
    pop.keep(0, 2, donor.state_dict())
    n = study.storage.add_trial(study._id, dict(HP))
    active = ActiveTrial(study._coordinator, n, dict(HP))
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
    # optional entries come from the donor when it has them (a PBT copy takes the donor's epoch count)
    both = decode(replace_entry(encode(own), "module", encode(donor), optional=("epoch", "iteration")))
    assert both["epoch"] == 9 and "iteration" not in both and torch.equal(both["rng"]["torch"], own["rng"]["torch"])


def test_a_pause_that_exploits_between_worker_states_merges_them_without_decoding():
    study, pop, donor, own = two_members(own_epochs=3)
    pop.keep(0, 2, blob=dumps_state(donor.state_dict()))  # as a worker process sends it
    rest = {k: v for k, v in own.state_dict().items() if k != "module"}
    pop.keep(1, 3, blob=dumps_state(rest), donor=pop._kept[0])
    assert pop._kept[1]._packed is None  # merged as bytes
    kept = pop.state(1)
    assert torch.equal(kept["module"]["model"]["0.weight"], donor.module.model[0].weight)
    # the donor's epoch count comes with its weights; the member's RNG stays its own
    assert kept["epoch"] == 2 and kept["iteration"] == donor.state_dict()["iteration"] and pop._kept[1].step == 2
    assert torch.equal(kept["rng"]["torch"], rest["rng"]["torch"])
    own.load_state_dict(kept)  # a whole trainer state again
    assert own.epoch == 2
    pop.close()


# -- a copy carries the donor's step; schedules are contiguous (issue 13, item 6a) ------------
class CountingRegression(DropoutRegression):
    """DropoutRegression whose weights count the batches they were trained on (a buffer: an
    exploit copies it with them), reported as ``epochs_in_weights`` at every evaluation."""

    def setup(self, hp):
        super().setup(hp)
        self.model.register_buffer("batches", torch.zeros((), dtype=torch.float64))

    def training_step(self, batch):
        self.model.batches += 1
        return super().training_step(batch)

    def validation_step(self, batch):
        return {**super().validation_step(batch), "epochs_in_weights": self.model.batches / len(self.train_loader)}


def assert_bookkeeping(study, epochs, module_cls=CountingRegression, metric="mse"):
    """What every PBT study must hold, however its members ran: at every report, the weights
    were trained exactly as many epochs as the step says (a copy from a donor ahead carries the
    donor's step); each exploit takes a donor at or ahead of the member; each member reports each
    epoch it trains once, never past ``epochs``; each schedule is contiguous from 0 to
    ``epochs``; the study counts exactly the epochs trained; replay trains exactly ``epochs``."""
    rows = study.lineage()
    assert all(r["donor_step"] is not None and r["donor_step"] >= r["step"] for r in rows), rows
    trials = study.trials
    for t in trials:
        assert t.state == "completed"
        assert all(round(v) == s for s, v in t.metrics["epochs_in_weights"].items()), (
            t.number, t.metrics["epochs_in_weights"])
        jumps = [(r["step"], r["donor_step"]) for r in rows if r["trial"] == t.number]
        skipped = {s for a, b in jumps for s in range(a + 1, b + 1)}  # trained by the donor, not by it
        assert sorted(t.metrics[metric]) == [s for s in range(1, epochs + 1) if s not in skipped], (t.number, jumps)
        segments = study.schedule(t.number)
        assert segments[0]["start"] == 0 and segments[-1]["end"] is None and segments[-1]["trial"] == t.number
        assert all(a["end"] == b["start"] and a["start"] < a["end"] for a, b in zip(segments, segments[1:])), segments
        assert segments[-1]["start"] <= epochs
    assert study._coordinator.epochs_used == sum(len(t.metrics[metric]) for t in trials)
    deepest = max(trials, key=lambda t: len(study.schedule(t.number)))
    replayed = study.replay(module_cls, deepest.number)
    assert replayed.epoch == epochs and round(float(replayed.module.model.batches) / 6) == epochs
    return rows


def test_a_member_behind_its_donor_takes_the_donors_step_and_trains_only_the_epochs_left():
    from torchsearch._active import ActiveTrial

    study = ts.Study(space=SPACE, scheduler=PBT(population=2, interval=1, seed=0, resample_probability=0.0),
                     metric="mse", mode="min", verbose=False)
    fast, slow = study.ask(), study.ask()
    assert isinstance(fast, ActiveTrial)
    donor = ts.Trainer(DropoutRegression(dict(fast.params)))
    member = ts.Trainer(DropoutRegression(dict(slow.params)))
    for epoch in (1, 2, 3):  # the fast member trains three epochs while the slow one trains one
        donor.fit(epoch)
        assert fast.report({"mse": 1.0}, epoch, state=donor.state_dict).action == "continue"
    member.fit(1)
    d = slow.report({"mse": 2.0}, 1, state=member.state_dict)
    assert d.action == "exploit" and d.donor == fast.number
    exploit(member, slow.donor_state(), d.params)
    assert member.epoch == 3
    assert all(torch.equal(a, b) for a, b in zip(weights(donor), weights(member)))
    row = study.lineage(slow.number)[0]
    assert (row["step"], row["donor"], row["donor_step"]) == (1, fast.number, 3)
    kept = study._coordinator.population.state(slow.number)  # what a restore after a crash would start from
    assert kept["epoch"] == 3 and torch.equal(kept["module"]["model"]["0.weight"], donor.module.model[0].weight)
    for epoch in (4, 5):
        member.fit(epoch)
        slow.report({"mse": 0.5}, epoch, state=member.state_dict)
    assert study._coordinator.epochs_used == 3 + 1 + 2  # what was trained: the copied epochs are not counted twice
    assert study._coordinator._epochs_trained() == 6  # the count a resumed study rebuilds from storage agrees
    assert [(s["trial"], s["start"], s["end"]) for s in study.schedule(slow.number)] == [
        (fast.number, 0, 3), (slow.number, 3, None)]
    study.tell(slow)
    assert study.replay(DropoutRegression, slow.number).epoch == 5  # not 1 + 3 + 2 = 6 (nor 3 + 5 = 8)


@pytest.mark.parametrize("population, interval, seed", [(5, 2, 1), (5, 1, 0), (4, 2, 0)])
def test_members_taking_turns_keep_contiguous_schedules_and_replay_trains_exactly_epochs(population, interval, seed):
    # one slot, more members: they take turns, and a donor is often ahead of the member it serves
    study = ts.tune(CountingRegression, SPACE, scheduler=PBT(population=population, interval=interval, seed=seed),
                    metric="mse", mode="min", epochs=8, seed=1, verbose=False)
    assert_bookkeeping(study, 8)


def test_members_on_two_worker_processes_keep_contiguous_schedules_and_replay_trains_exactly_epochs():
    # real asynchrony: members run in two processes at their own pace, five members on two slots
    study = ts.tune(CountingRegression, SPACE, scheduler=PBT(population=5, interval=1, seed=0), metric="mse",
                    mode="min", epochs=8, seed=1, verbose=False, devices="cpu", workers=2)
    rows = assert_bookkeeping(study, 8)
    assert rows, "members exploited"


# -- the schedule reads the donor_step column, in the order things happened ------------------
def _study_with_members(n):
    study = ts.Study(space=SPACE, metric="mse", mode="min", verbose=False)
    params = [{**HP, "lr": 0.01 * (i + 1)} for i in range(n)]
    for p in params:
        study.storage.add_trial(study._id, p)
    return study, params


def test_schedule_follows_the_donor_step_column_not_the_display_text():
    study, p = _study_with_members(2)
    new = {**HP, "lr": 0.5}
    study.storage.add_lineage(study._id, 1, 2, 0, p[1], new, ["copy trial 0 (step 99)", "lr: ..."], donor_step=4)
    assert study.schedule(1) == [{"trial": 0, "start": 0, "end": 4, "params": p[0]},
                                 {"trial": 1, "start": 4, "end": None, "params": new}]


def test_schedule_of_a_donor_holds_only_the_exploits_its_copied_state_had_been_through():
    study, p = _study_with_members(3)
    a, b = {**HP, "lr": 0.2}, {**HP, "lr": 0.3}
    sid = study._id
    study.storage.add_lineage(sid, 1, 4, 0, p[1], a, [], donor_step=4)  # trial 1 copies trial 0 at step 4
    study.storage.add_lineage(sid, 0, 4, 2, p[0], b, [], donor_step=4)  # later, trial 0 copies trial 2 at step 4
    # trial 1 took trial 0's weights before trial 0 exploited: trial 0's own schedule, not trial 2's
    assert [(s["trial"], s["start"], s["end"]) for s in study.schedule(1)] == [(0, 0, 4), (1, 4, None)]
    assert [(s["trial"], s["start"], s["end"]) for s in study.schedule(0)] == [(2, 0, 4), (0, 4, None)]
    study.storage.add_lineage(sid, 1, 6, 0, a, b, [], donor_step=6)  # now trial 1 copies trial 0 again, at 6
    assert [(s["trial"], s["start"], s["end"], s["params"]) for s in study.schedule(1)] == [
        (2, 0, 4, p[2]), (0, 4, 6, b), (1, 6, None, b)]


def test_schedule_of_an_exploit_stored_without_a_donor_step_assumes_the_members_own_step():
    study, p = _study_with_members(2)
    study.storage.add_lineage(study._id, 1, 3, 0, p[1], HP, ["copy trial 0 (step 5)"])  # (a database before the column)
    assert [(s["trial"], s["start"], s["end"]) for s in study.schedule(1)] == [(0, 0, 3), (1, 3, None)]


# -- what PBT explores by default, and every decision stored as it was made ------------------
def test_default_pbt_on_a_space_with_a_layer_width_keeps_each_members_width_and_every_member_completes():
    # PBT() without hyperparams= explores the Floats only: a width drawn per member never changes
    # under copied weights (it used to be perturbed and resampled, and members failed on loading
    # a donor's weights of another shape)
    space = {**SPACE, "width": ts.PowerOfTwo(4, 16)}
    study = ts.tune(DropoutRegression, space, scheduler=PBT(population=4, interval=1, seed=0), metric="mse",
                    mode="min", epochs=4, seed=0, verbose=False)
    assert [t.state for t in study.trials] == ["completed"] * 4, [t.error for t in study.trials]
    rows = study.lineage()
    assert rows and not any(op.startswith("width") for r in rows for op in r["operations"])
    for r in rows:  # an explore in place keeps the member's width; an exploit takes its donor's
        assert r["donor"] is not None or r["new_params"]["width"] == r["old_params"]["width"]
    for t in study.trials:  # each member's weights went through one width
        assert {s["params"]["width"] for s in study.schedule(t.number)} == {t.params["width"]}


def test_every_explore_decided_on_resume_is_stored_and_applied_like_those_decided_on_a_report():
    # a tied population on one slot: members take turns, a member ranked when it resumes
    # explores in place there; that decision was dropped (the scheduler's params and the stored
    # ones then differed, and the next explore's operations started from a value never trained)
    from tests.pbt_models import FlatMetricRegression

    scheduler = RecordingPBT(population=6, interval=1, seed=0)
    study = ts.tune(FlatMetricRegression, SPACE, scheduler=scheduler, metric="flat", mode="max", epochs=5, seed=0,
                    verbose=False)
    made = [(n, d.params, d.operations) for n, s, d in scheduler.made if d.params is not None]
    assert any(s is None for _, s, d in scheduler.made if d.params is not None), "an explore on resume"
    assert [(r["trial"], r["new_params"], tuple(r["operations"])) for r in study.lineage()] == made
    for t in study.trials:
        mine = [r for r in study.lineage() if r["trial"] == t.number]
        for a, b in zip(mine, mine[1:]):
            assert b["old_params"] == a["new_params"]  # each change starts where the last one ended
        assert not mine or t.params == mine[-1]["new_params"]


def test_a_durable_copy_at_the_step_an_exploit_lands_on_is_deleted_before_the_exploit_is_stored(tmp_path):
    # a paused member that exploits a donor at its own step: its file from before the exploit
    # could not be told from the one after it (same step), so it goes first, synchronously
    from torchsearch._population import _DurableWriter, _Kept

    storage = Storage(str(tmp_path))
    writer = _DurableWriter(storage, min_interval=60.0)
    tr = trainer(HP, 0)
    tr.fit(3)
    writer.put("t-0", _Kept(3, wire=dumps_state(tr.state_dict())))
    writer.flush()
    path = tmp_path / "checkpoints" / "t-0.pt"
    writer.discard("t-0", 2)  # a file at another step stays: the step tells it apart
    assert path.exists()
    writer.put("t-0", _Kept(3, wire=dumps_state(tr.state_dict())))  # pending (throttled): dropped as well
    writer.discard("t-0", 3)
    assert not path.exists()
    writer.flush()
    assert not path.exists()
    writer.put("t-0", _Kept(3, wire=dumps_state(tr.state_dict())))  # the state after the exploit: at once
    writer.flush()
    writer.close()
    assert storage.load_checkpoint("t-0")["epoch"] == 3
