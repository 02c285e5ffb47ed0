"""PBT as a pure scheduler: exploit/explore choices, quantiles, pauses; no training here."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import torchsearch as ts
from torchsearch.schedulers import PBT
from torchsearch.space import Space

SPACE = Space({
    "lr": ts.Float(1e-4, 1.0, log=True),
    "drop": ts.Float(0.0, 0.5),
    "layers": ts.Int(0, 6),
    "bs": ts.PowerOfTwo(8, 128),
    "act": ts.Choice(["relu", "tanh", "elu"]),
})


ALL = list(SPACE.names)  # hyperparams= that explores every parameter (the default explores the Floats)


def make(population=4, interval=1, mode="max", seed=0, **kw):
    s = PBT(population=population, interval=interval, seed=seed, **kw)
    s.setup(SPACE, mode=mode, seed=None)
    return s


def start(s, n):
    params = []
    for i in range(n):
        p = s.suggest()
        assert p is not None
        s.on_trial_start(i, p)
        params.append(p)
    return params


def report(s, number, step, value):
    """``on_report``, then what the coordinator does: keep the state a decision asks for (an
    exploit's own kept state is the donor's, at the donor's step)."""
    d = s.on_report(number, step, value)
    if d.checkpoint or d.action == "pause":
        s.on_kept(number, donor_step(d) if d.donor is not None else step)
    return d


def donor_step(d):
    """The donor step a decision names in its first operation (tests only: the coordinator
    reads the step of the state it holds)."""
    return int(re.fullmatch(r"copy trial \d+ \(step (\d+)\)", d.operations[0]).group(1))


@pytest.mark.parametrize("kwargs, match", [
    ({"population": 1}, r"population must be an int >= 2, got population=1"),
    ({"interval": 0}, r"interval must be an int >= 1 \(evaluations\), got interval=0"),
    ({"quantile": 0.6}, r"quantile must be a number in \(0, 0.5\], got quantile=0.6"),
    ({"perturb": (0.8, -1.0)}, r"perturb must be a non-empty list of finite factors > 0"),
    ({"resample_probability": 1.5}, r"resample_probability must be in \[0, 1\], got resample_probability=1.5"),
    ({"hyperparams": "lr"}, r"hyperparams must be a list of parameter names, got hyperparams='lr'"),
])
def test_bad_arguments_name_the_parameter_and_what_is_allowed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PBT(**kwargs)


def test_unknown_hyperparams_are_rejected_at_setup():
    with pytest.raises(ValueError, match=r"hyperparams \['momentum'\] are not in the space"):
        make(hyperparams=["momentum"])


def test_suggests_exactly_population_members_then_none():
    s = make(population=3)
    start(s, 3)
    assert s.suggest() is None
    assert len(s) == 3


def test_explored_values_stay_in_the_space_for_every_kind_including_zero():
    s = make(resample_probability=0.25, hyperparams=ALL)
    corners = [
        {"lr": 1e-4, "drop": 0.0, "layers": 0, "bs": 8, "act": "relu"},
        {"lr": 1.0, "drop": 0.5, "layers": 6, "bs": 128, "act": "elu"},
        {"lr": 0.01, "drop": 0.25, "layers": 3, "bs": 32, "act": "tanh"},
    ]
    for base in corners:
        for _ in range(200):
            new, ops = s.explore(base)
            SPACE.validate(new)  # raises if anything left its bounds or kind
            assert isinstance(new["layers"], int) and isinstance(new["bs"], int) and isinstance(new["drop"], float)
            assert len(ops) == len(SPACE)


def test_a_zero_valued_float_leaves_zero_when_perturbed():
    s = make(resample_probability=0.0, perturb=(1.2,), hyperparams=ALL)
    new, ops = s.explore({"lr": 0.01, "drop": 0.0, "layers": 0, "bs": 8, "act": "relu"})
    assert new["drop"] == pytest.approx(0.1)  # (1.2 - 1) * (0.5 - 0.0)
    assert new["layers"] == 1                 # Int at zero: (1.2 - 1) * 6 = 1.2 -> 1
    assert "drop: 0 -> 0.1 (+0.1 from zero)" in ops


def test_operations_say_old_value_new_value_and_factor():
    s = make(resample_probability=0.0, perturb=(1.2,), hyperparams=ALL)
    new, ops = s.explore({"lr": 0.01, "drop": 0.2, "layers": 3, "bs": 32, "act": "relu"})
    assert new["lr"] == pytest.approx(0.012)
    assert ops[0] == "lr: 0.01 -> 0.012 (x1.2)"
    assert new["bs"] == 64  # 32 * 1.2 rounds back to 32 in exponent space: moved one power instead
    assert new["act"] == "tanh"  # the only neighbour of the first value
    assert re.fullmatch(r"act: 'relu' -> 'tanh' \(neighbour\)", ops[-1])


def test_hyperparams_limits_what_is_explored():
    s = make(hyperparams=["lr"], resample_probability=0.0)
    base = {"lr": 0.01, "drop": 0.2, "layers": 3, "bs": 32, "act": "relu"}
    new, ops = s.explore(base)
    assert {k: v for k, v in new.items() if k != "lr"} == {k: v for k, v in base.items() if k != "lr"}
    assert new["lr"] != base["lr"] and len(ops) == 1


def test_quantiles_pick_the_worst_and_best_quarter():
    s = make(population=8, interval=100)
    start(s, 8)
    values = [0.5, 0.9, 0.1, 0.7, 0.3, 0.8, 0.2, 0.6]  # mode="max"
    for i, v in enumerate(values):
        s.on_report(i, 1, v)
    bottom, top = s.quantiles()
    assert bottom == [2, 6]  # 0.1, 0.2
    assert top == [1, 5]     # 0.9, 0.8


def test_a_bottom_trial_exploits_a_top_trial_that_has_a_kept_state():
    s = make(population=4, interval=1, resample_probability=0.0)
    params = start(s, 4)
    first = report(s, 0, 1, 0.9)
    # trial 0 reported alone: nothing to rank it against yet; its state is kept (a donor)
    assert first.action == "continue" and first.checkpoint
    for i, v in [(2, 0.6), (3, 0.8)]:
        report(s, i, 1, v)
    d = report(s, 1, 1, 0.5)  # worst of the four at step 1; trial 0 is best and kept
    assert d.action == "exploit" and d.donor == 0
    assert d.operations[0] == "copy trial 0 (step 1)"
    for name in ("lr", "drop"):  # by default the Floats are explored...
        assert any(op.startswith(f"{name}: ") for op in d.operations)
    assert len(d.operations) == 3
    assert d.params != params[0]
    assert {k: d.params[k] for k in ("layers", "bs", "act")} == {k: params[0][k] for k in ("layers", "bs", "act")}
    SPACE.validate(d.params)  # ...and the rest is copied from the donor as it is (it may shape the model)


def test_by_default_only_float_parameters_are_explored_the_others_may_shape_the_model():
    s = make(resample_probability=0.5)
    base = {"lr": 0.01, "drop": 0.2, "layers": 3, "bs": 32, "act": "relu"}
    assert s.explored() == ["lr", "drop"]
    for _ in range(100):
        new, ops = s.explore(base)
        assert {k: new[k] for k in ("layers", "bs", "act")} == {"layers": 3, "bs": 32, "act": "relu"}
        assert [op.split(":")[0] for op in ops] == ["lr", "drop"]
    named = make(resample_probability=0.0, hyperparams=["lr", "bs"])  # named: explored, whatever their kind
    new, ops = named.explore(base)
    assert named.explored() == ["lr", "bs"] and new["bs"] != 32 and new["drop"] == 0.2
    assert "hyperparams=None" in make().describe() and "hyperparams=['lr', 'bs']" in named.describe()


def test_a_space_without_a_float_needs_hyperparams():
    s = PBT(population=2)
    with pytest.raises(ValueError, match=r"hyperparams=None PBT explores the Float parameters only, and the space "
                                         r"has none \(\['width', 'act'\]\).*PBT\(hyperparams=\[\.\.\.\]\)"):
        s.setup(Space({"width": ts.PowerOfTwo(4, 16), "act": ts.Choice(["relu", "tanh"])}), mode="max")
    PBT(population=2, hyperparams=["act"]).setup(Space({"width": ts.PowerOfTwo(4, 16),
                                                        "act": ts.Choice(["relu", "tanh"])}), mode="max")


@pytest.mark.parametrize("seed", range(5))
def test_a_perturbation_clipped_back_at_a_bound_goes_the_other_way_and_never_logs_a_no_op(seed):
    space = Space({"lr": ts.Float(1e-3, 1.0, log=True), "drop": ts.Float(0.0, 0.5), "layers": ts.Int(1, 6),
                   "width": ts.PowerOfTwo(4, 16)})
    s = PBT(population=2, resample_probability=0.0, hyperparams=list(space.names), seed=seed)
    s.setup(space, mode="max")
    for base in ({"lr": 1.0, "drop": 0.0, "layers": 6, "width": 16},
                 {"lr": 1e-3, "drop": 0.5, "layers": 1, "width": 4}):
        for _ in range(50):
            new, ops = s.explore(base)
            for name, op in zip(space.names, ops):
                old, value = base[name], new[name]
                assert value != old, op  # e.g. never "width: 16 -> 16 (x1.2)"
                if "out of bounds" in op:  # the factor drawn pushed it out: the other one moved it in
                    assert re.fullmatch(rf"{name}: \S+ -> \S+ \((x0\.8|x1\.2|[+-][\d.]+ from zero); "
                                        rf"(x1\.2|x0\.8|[+-][\d.]+ from zero) is out of bounds\)", op), op
    # the label names the factor that moved it: 16 x0.8 rounds to 16 in exponent space, so one power down
    s = PBT(population=2, resample_probability=0.0, perturb=(1.2,), hyperparams=["width"], seed=seed)
    s.setup(space, mode="max")
    new, ops = s.explore({"lr": 0.1, "drop": 0.1, "layers": 3, "width": 16})
    assert new["width"] == 8 and ops == ["width: 16 -> 8 (x0.8333; x1.2 is out of bounds)"]


def test_a_resample_that_draws_the_same_value_says_so():
    s = make(resample_probability=1.0, hyperparams=["act"])
    seen = set()
    for _ in range(60):
        new, (op,) = s.explore({"lr": 0.01, "drop": 0.2, "layers": 3, "bs": 32, "act": "relu"})
        seen.add(op)
        assert op == ("act: 'relu' -> 'relu' (resampled: same value)" if new["act"] == "relu"
                      else f"act: 'relu' -> {new['act']!r} (resampled)")
    assert len(seen) == 3


def test_a_trial_ahead_of_the_others_is_ranked_when_it_resumes():
    s = make(population=3, interval=1, resample_probability=0.0)
    start(s, 2)  # the third member waits for a slot
    assert report(s, 0, 1, 0.2).action == "pause"  # alone at step 1: ranking deferred
    assert report(s, 1, 1, 0.9).action == "pause"  # best at step 1, yields to the waiting member
    d = s.on_resume(0)  # now trial 1 has reached step 1 too: trial 0 is the worse one
    assert d is not None and d.action == "exploit" and d.donor == 1
    assert s.on_resume(1) is None  # trial 1 was ranked when it reported


def test_a_bottom_trial_pauses_with_its_exploit_while_members_wait():
    s = make(population=3, interval=1)
    start(s, 2)
    report(s, 0, 1, 0.9)
    d = report(s, 1, 1, 0.1)
    assert d.action == "pause" and d.donor == 0 and d.checkpoint and d.params is not None


def test_middle_trials_continue_and_are_kept_and_trials_are_ready_only_every_interval():
    s = make(population=4, interval=2)
    start(s, 4)
    for i, v in enumerate([0.9, 0.5, 0.6, 0.8]):
        assert s.on_report(i, 1, v).checkpoint is False  # first of two evaluations: not ready
    d = s.on_report(2, 2, 0.6)  # ready, neither bottom nor top
    assert d.action == "continue" and d.checkpoint


def test_ready_trials_pause_while_members_wait_for_a_slot_and_resume_on_request():
    s = make(population=3, interval=1)
    start(s, 2)  # the third member has not started: it waits
    d = s.on_report(0, 1, 0.5)
    assert d.action == "pause" and d.checkpoint
    s.on_trial_start(2, s.suggest())
    assert s.waiting() == 1  # trial 0 is paused
    s.on_resume(0)
    assert s.waiting() == 0
    assert s.on_report(0, 2, 0.7).action in ("continue", "exploit")


def test_finished_or_failed_members_are_neither_donors_nor_ranked():
    s = make(population=4, interval=1)
    start(s, 4)
    s.on_report(0, 1, 0.99)
    s.on_complete(0, None, "failed")
    for i, v in [(1, 0.5), (2, 0.6), (3, 0.7)]:
        s.on_report(i, 1, v)
    bottom, top = s.quantiles()
    assert 0 not in bottom + top
    assert top == [3]


def test_nan_values_are_not_ranked():
    s = make(population=4, interval=1)
    start(s, 4)
    s.on_report(0, 1, math.nan)
    for i, v in [(1, 0.5), (2, 0.6)]:
        s.on_report(i, 1, v)
    bottom, top = s.quantiles()
    assert bottom == [1] and top == [2]


def test_same_seed_same_decisions():
    def run(seed):
        s = make(population=4, interval=1, seed=seed)
        out = [SPACE.key(p) for p in start(s, 4)]
        rng = np.random.default_rng(0)
        for step in range(1, 6):
            for i in range(4):
                d = report(s, i, step, float(rng.random()))
                out.append((d.action, d.donor, d.operations))
        return out

    assert run(3) == run(3)
    assert run(3) != run(4)


@pytest.mark.parametrize("interval", [1, 2, 3, 5])
def test_quiet_reports_are_always_answered_continue_without_a_checkpoint(interval):
    # the promise worker processes rely on to send reports without waiting for the answer
    s = make(population=6, interval=interval)
    start(s, 6)
    rng = np.random.default_rng(interval)
    steps = dict.fromkeys(range(6), 0)
    quiet = dict.fromkeys(range(6), 0)
    for _ in range(300):
        n = int(rng.integers(6))
        steps[n] += 1
        d = report(s, n, steps[n], float(rng.random()))
        if d.donor is not None:
            steps[n] = donor_step(d)  # it goes on from the donor's step
        if quiet[n] > 0:
            assert d.action == "continue" and not d.checkpoint
            quiet[n] -= 1
        if d.action == "pause":
            s.on_resume(n)
        quiet[n] = s.quiet_reports(n)
        assert 0 <= quiet[n] <= interval - 1
    assert s.quiet_reports(99) == 0  # not a member: every report is answered


def test_schedulers_that_never_decide_let_every_report_pass():
    from torchsearch.schedulers import Grid, Random
    from torchsearch.schedulers.base import QUIET_ALWAYS

    assert Random(seed=0).quiet_reports(0) == QUIET_ALWAYS
    assert Grid().quiet_reports(3) == QUIET_ALWAYS
    assert make().quiet_reports(0) < QUIET_ALWAYS


# -- a copy carries the donor's step (issue 13, item 6a) ---------------------------------------
def test_a_member_that_copies_a_donor_ahead_of_it_goes_on_from_the_donors_step():
    s = make(population=3, interval=1, resample_probability=0.0)
    start(s, 3)
    for step in (1, 2, 3):  # trial 0 is fast: three evaluations before the others' first
        report(s, 0, step, 0.9)
    report(s, 2, 1, 0.6)
    d = report(s, 1, 1, 0.1)
    assert d.action == "exploit" and d.donor == 0 and d.operations[0] == "copy trial 0 (step 3)"
    # trial 1 now holds trial 0's weights at step 3, with their history: it is ranked at step 3
    # with trial 0's value there, and its next evaluation is step 4
    values, _, _ = s._rank(3)
    assert values == {n: s.loss(0.9) for n in (0, 1, 2)}  # (trial 2 copied trial 0 at step 1 too)
    assert report(s, 1, 4, 0.95).action == "continue"


def test_a_donor_whose_kept_state_is_behind_the_member_is_never_copied():
    s = make(population=3, interval=1)
    start(s, 3)
    report(s, 0, 1, 0.9)          # kept at step 1
    s.on_report(0, 2, 0.9)        # ready at 2, but its state there is not held yet
    report(s, 2, 2, 0.5)
    d = report(s, 1, 2, 0.1)      # worst at step 2; trial 0's state is from step 1: behind it
    assert d.action == "continue" and d.donor is None


def test_a_state_the_coordinator_does_not_hold_yet_is_never_copied():
    s = make(population=3, interval=1)
    start(s, 3)
    assert s.on_report(0, 1, 0.9).checkpoint  # asked to keep; not confirmed by on_kept
    report(s, 2, 1, 0.5)
    assert report(s, 1, 1, 0.1).action == "continue"
    s.on_kept(0, 1)  # the coordinator holds it now
    assert report(s, 1, 2, 0.1).action == "continue"  # (trial 1 alone at step 2: not ranked)
    report(s, 0, 2, 0.9)
    report(s, 2, 2, 0.5)
    s2 = make(population=3, interval=1)
    start(s2, 3)
    s2.on_report(0, 1, 0.9)
    s2.on_kept(0, 1)
    report(s2, 2, 1, 0.5)
    assert report(s2, 1, 1, 0.1).donor == 0



def test_a_bottom_member_whose_donors_state_arrives_after_its_report_exploits_on_resume():
    # On two workers a member often reports just after its better peer, whose state reaches the
    # coordinator a moment later: it must be ranked again when it resumes, not pass its turn
    # (before, a population of four on two workers went 8 epochs without an exploit 1 run in 3).
    s = make(population=3, interval=1, resample_probability=0.0)
    start(s, 2)  # the third member waits for a slot
    assert s.on_report(0, 1, 0.9).action == "pause"  # alone at step 1; its state is on its way
    d = s.on_report(1, 1, 0.1)  # the worse at step 1, but trial 0's state is not held yet
    assert d.action == "pause" and d.donor is None
    s.on_kept(0, 1)
    s.on_kept(1, 1)
    again = s.on_resume(1)
    assert again is not None and again.action == "exploit" and again.donor == 0
    assert again.operations[0] == "copy trial 0 (step 1)"


def test_ranked_on_resume_with_the_tops_state_in_flight_a_bottom_member_copies_the_best_held_one():
    # On a loaded machine the member resumed first is always the first to reach the next step (so
    # deferred) and is resumed again before the top member's state arrives: it must not lose its
    # ready point (before, 5 runs in 10 of four members on two workers never exploited)
    s = make(population=4, interval=1, quantile=0.25, resample_probability=0.0)
    start(s, 3)  # the fourth waits for a slot
    assert report(s, 1, 1, 0.1).action == "pause"  # the worst, alone at step 1: deferred
    report(s, 0, 1, 0.5)  # second best, its state held
    assert s.on_report(2, 1, 0.9).action == "pause"  # the best; its state is still on its way
    again = s.on_resume(1)
    assert again is not None and again.action == "exploit" and again.donor == 0
    assert again.operations[0] == "copy trial 0 (step 1)"
    # at a report (not its last chance) the same member would wait for the top's state instead
    s2 = make(population=4, interval=1, quantile=0.25, resample_probability=0.0)
    start(s2, 3)
    report(s2, 0, 1, 0.5)
    s2.on_report(2, 1, 0.9)
    d = report(s2, 1, 1, 0.1)
    assert d.donor is None and s2._members[1].pending


# -- ties are never "bottom" against an equal donor (issue 13, item 6b) -------------------------
@pytest.mark.parametrize("seed", range(5))
def test_a_population_that_ties_entirely_never_copies_and_its_bottom_explores_in_place(seed):
    s = make(population=8, interval=1, quantile=0.25, seed=seed)
    params = dict(enumerate(start(s, 8)))
    explored = []
    for step in range(1, 6):
        for n in range(8):
            d = report(s, n, step, 0.9)
            assert d.donor is None, (step, n, d)  # nobody is ahead: nothing is copied
            if d.action == "exploit":  # the bottom by lot perturbs its own params
                assert d.code == "explore" and "ties" in d.reason and d.params != params[n]
                assert not any(op.startswith("copy") for op in d.operations)
                params[n] = d.params
                explored.append((step, n))
            else:
                assert d.action == "continue", d
    # each ranking puts 2 of its k >= 4 tied members in the bottom, by lot: some explore, never all
    assert 5 <= len(explored) <= 20, explored
    assert len({n for _, n in explored}) >= 3  # by lot, not always the same members


@pytest.mark.parametrize("seed", range(3))
def test_a_tied_pair_explores_until_it_is_no_longer_tied_then_the_worse_copies_the_better(seed):
    # the Jaderberg et al. toy's situation: two members from one start tie until one explores
    s = make(population=2, interval=1, quantile=0.25, seed=seed)
    start(s, 2)
    moves = []
    for step in range(1, 11):
        report(s, 0, step, 0.5)  # ahead of the other: deferred, ranked when it resumes
        moves += [report(s, 1, step, 0.5), s.on_resume(0)]
        if any(m is not None and m.action == "exploit" for m in moves):
            break
    moves = [m for m in moves if m is not None and m.action == "exploit"]
    # one of the pair, or both (each is ranked at that step, and each may draw the bottom)
    assert 1 <= len(moves) <= 2 and all(m.donor is None and m.code == "explore" for m in moves)
    report(s, 0, step + 1, 0.5)
    d = report(s, 1, step + 1, 0.7)  # mode max: trial 1 is ahead now
    again = s.on_resume(0)
    copied = [x for x in (d, again) if x is not None and x.donor is not None]
    assert len(copied) == 1 and copied[0].donor == 1 and copied[0].code == "exploit"


@pytest.mark.parametrize("seed", range(5))
def test_seven_tied_at_the_top_and_one_worse_only_the_worse_one_exploits(seed):
    s = make(population=8, interval=1, quantile=0.25, seed=seed)
    start(s, 8)
    worse = seed % 8
    order = [n for n in range(8) if n != worse]
    order.insert(4 + seed % 4, worse)  # ready once half the others are (before that it would be deferred)
    exploited = []
    for n in order:
        d = report(s, n, 1, 0.5 if n == worse else 0.9)
        if d.donor is not None:
            exploited.append(n)
    assert exploited == [worse]
    for n in range(8):  # the next round: all tie again (the worse one copied a top member)
        d = report(s, n, 2, 0.9)
        assert d.donor is None


def test_a_tie_that_straddles_the_bottom_quantile_is_drawn_by_lot_fairly():
    # mode max: trial 0 is worst, trials 1-3 tie just above it, 4-7 are best; quantile 0.25 of 8 -> 2 places
    counts = dict.fromkeys(range(1, 4), 0)
    for seed in range(300):
        s = make(population=8, interval=100, quantile=0.25, seed=seed)
        start(s, 8)
        for n, v in enumerate([0.1, 0.5, 0.5, 0.5, 0.9, 0.91, 0.92, 0.93]):
            s.on_report(n, 1, v)
        bottom, top = s.quantiles(1)
        assert len(bottom) == 2 and bottom[0] == 0 and top == [7, 6]
        counts[bottom[1]] += 1
    assert all(70 <= c <= 130 for c in counts.values()), counts  # each ~100 of 300, not by trial number


def test_without_ties_the_ranking_draws_nothing():
    # the lot is drawn only for ties: an untied population's decisions use the generator as before
    a, b = make(population=4, interval=100, seed=1), make(population=4, interval=100, seed=1)
    for s in (a, b):
        start(s, 4)
        for n, v in enumerate([0.1, 0.2, 0.3, 0.4]):
            s.on_report(n, 1, v)
    a.quantiles(1)
    assert a.rng.random() == b.rng.random()
