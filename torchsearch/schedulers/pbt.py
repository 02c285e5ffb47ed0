"""Population-based training (Jaderberg et al. 2017), asynchronous, as a pure scheduler.

A population of ``population`` trials trains at once. Each time a trial has made ``interval``
evaluations since its last decision point ("ready"), it is ranked against the other live
members that have reached its step, by their values at that step:

- in the bottom ``quantile``: **exploit** a member of the top ``quantile`` (copy its weights,
  optimiser state and hyperparameters), then **explore** the copied hyperparameters;
- otherwise it continues, and the coordinator keeps its state (it may become a donor).

**The copy carries the donor's step.** A donor's kept state is from its latest ready point,
which may be ahead of the member (members train at different speeds, or take turns). The member
takes the donor's state as it is, with its epoch count: its timeline jumps to the donor's step
and it trains only the epochs left from there. So the weights a member ends with were trained
exactly ``epochs`` epochs, along one contiguous schedule (the donor's up to the copy, then the
member's), which ``replay`` retrains. This is what Jaderberg et al. describe (the weights, and
the training they embody, are copied; the copy does not restart the clock) and what Ray Tune
does (a trial that exploits restores the donor's checkpoint, iteration count included). A donor
behind the member is never chosen (the member would train epochs twice); nor is a state the
coordinator does not hold yet (:meth:`PBT.on_kept` says which it holds).

**Ties.** A member is in the bottom only when it is strictly worse than the donor it would
copy: members that tie with the best never exploit. When every ranked member ties, nobody is
ahead to copy, so the bottom ``quantile`` (drawn by lot) **explores in place**: each perturbs
its own hyperparameters and keeps its weights and step (decision code ``"explore"``, no
donor), and keeps its slot until its next ready point. Without this a population that starts
symmetric never diverges (the Jaderberg et al. toy: two members tie at every step and PBT is
stuck at Q = 0.39; the paper's copy-then-perturb breaks the symmetry the same way). Members
with equal values are ordered by lot at each ranking (not by trial number), so a group of ties
that straddles the quantile boundary is fair to each of them.

When members wait for a worker slot (the population is larger than the slots), a ready trial
that is not exploited is **paused**: its state is kept and its slot goes to the next member;
the coordinator resumes paused trials first in, first out. So population 8 on 2 workers, or on
one in-process slot, take turns, and no trial waits for a whole generation.

This module does no I/O: it sees params and values and returns :class:`Decision` objects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..space import Choice, Float, Int, Parameter, PowerOfTwo, Space
from .base import CONTINUE, Decision, Scheduler

__all__ = ["PBT"]


@dataclass
class _Member:
    params: dict[str, Any]
    value: float | None = None       # latest reported value, as "lower is better"
    step: int | None = None          # step of the latest report
    since: int = 0                   # reports since the last ready point
    kept_step: int | None = None     # step of the state the coordinator keeps (donor candidate; see on_kept)
    kept_params: dict[str, Any] | None = None  # the params that state was trained with
    history: dict[int, float] = field(default_factory=dict)  # step -> value ("lower is better")
    paused: bool = False
    live: bool = True
    pending: bool = False            # its last ready point could not be ranked yet (others behind)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return repr(v) if isinstance(v, str) else str(v)


class PBT(Scheduler):
    """Population-based training.

    Args:
        population: number of trials trained together (>= 2).
        interval: evaluations between two exploit/explore decisions of a trial (>= 1).
        quantile: fraction of the population in the bottom (exploited) and top (donor) groups,
            in (0, 0.5]; at least one member each, never overlapping.
        perturb: the factors a Float/Int/PowerOfTwo is multiplied by (one chosen at random);
            for a log-scaled Float the product is taken in value space, i.e. a shift in log
            space. A value at zero, which no factor can move, is moved by an additive step of
            ``(factor - 1) * (high - low)`` instead.
        resample_probability: probability that a parameter is redrawn from the space instead
            of perturbed (a Choice is redrawn with this probability, else moved to a
            neighbour value).
        hyperparams: names of the parameters PBT may explore. Default: the :class:`Float`
            parameters only (learning rate, momentum, dropout...); the others (:class:`Int`,
            :class:`PowerOfTwo`, :class:`Choice`: a layer width, a depth, an activation) often
            shape the model, and weights copied from a donor cannot change shape, so they stay as
            drawn for each member and are copied from the donor unchanged. Name them here to
            explore them too (a batch size, an optimiser's name). A space with no Float needs
            ``hyperparams``.
        initial: params of the first members (each checked against the space); the rest of the
            population is drawn from the space.
        seed: seeds the scheduler's own generator.

    Decisions: ``exploit`` (with ``donor``, new ``params`` and ``operations`` such as
    ``"lr: 0.01 -> 0.012 (x1.2)"``), ``pause``, or ``continue``; at every ready point the
    decision asks the coordinator to keep the trial's state (``checkpoint=True``). While
    members wait for a slot, an exploiting trial pauses instead, carrying the exploit
    (``pause`` with ``donor`` and ``params``): it resumes from the donor's state. Either way
    the member continues at the donor's step (``"copy trial 3 (step 6)"``: from step 6).
    """

    def __init__(self, population: int = 8, interval: int = 2, *, quantile: float = 0.25,
                 perturb: tuple[float, float] | Sequence[float] = (0.8, 1.2), resample_probability: float = 0.25,
                 hyperparams: Sequence[str] | None = None, initial: Sequence[dict[str, Any]] = (),
                 seed: int | None = None) -> None:
        super().__init__(seed=seed)
        if not isinstance(population, int) or isinstance(population, bool) or population < 2:
            raise ValueError(f"PBT: population must be an int >= 2, got population={population!r}")
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            raise ValueError(f"PBT: interval must be an int >= 1 (evaluations), got interval={interval!r}")
        if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) or not 0 < quantile <= 0.5:
            raise ValueError(f"PBT: quantile must be a number in (0, 0.5], got quantile={quantile!r}")
        factors = tuple(perturb) if isinstance(perturb, Sequence) and not isinstance(perturb, str) else None
        if (not factors or any(isinstance(f, bool) or not isinstance(f, (int, float)) or not math.isfinite(f)
                               or f <= 0 for f in factors)):
            raise ValueError(f"PBT: perturb must be a non-empty list of finite factors > 0, got perturb={perturb!r}")
        if (isinstance(resample_probability, bool) or not isinstance(resample_probability, (int, float))
                or not 0 <= resample_probability <= 1):
            raise ValueError(f"PBT: resample_probability must be in [0, 1], got "
                             f"resample_probability={resample_probability!r}")
        if hyperparams is not None and (isinstance(hyperparams, str)
                                        or not all(isinstance(h, str) for h in hyperparams)):
            raise ValueError(f"PBT: hyperparams must be a list of parameter names, got hyperparams={hyperparams!r}")
        if isinstance(initial, dict) or len(initial) > population:
            raise ValueError(f"PBT: initial must be a list of at most population={population} configurations, "
                             f"got initial={initial!r}")
        self.initial = [dict(p) for p in initial]
        self.population = population
        self.interval = interval
        self.quantile = float(quantile)
        self.perturb = tuple(float(f) for f in factors)
        self.resample_probability = float(resample_probability)
        self.hyperparams = None if hyperparams is None else list(hyperparams)

    def setup(self, space: Space, *, mode: Literal["min", "max"], seed: int | None = None) -> None:
        super().setup(space, mode=mode, seed=seed)
        if self.hyperparams is not None:
            unknown = [h for h in self.hyperparams if h not in space]
            if unknown:
                raise ValueError(f"PBT: hyperparams {unknown} are not in the space; allowed: {space.names}")
        elif not self.explored(space):
            raise ValueError(f"PBT: with hyperparams=None PBT explores the Float parameters only, and the space "
                             f"has none ({space.names}); name those PBT may change during training in "
                             f"PBT(hyperparams=[...]) (never one that shapes the model: a copied donor's "
                             f"weights must fit)")
        for p in self.initial:
            space.validate(p)
        self._members: dict[int, _Member] = {}
        self._issued = 0

    def __len__(self) -> int:
        return self.population

    # -- protocol -------------------------------------------------------------------------
    def suggest(self) -> dict[str, Any] | None:
        if max(self._issued, len(self._members)) >= self.population:
            return None
        i = max(self._issued, len(self._members))
        self._issued = i + 1
        if i < len(self.initial):
            return dict(self.initial[i])
        return self.space.sample(self.rng)

    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        self._members[number] = _Member(dict(params))

    def on_resume(self, number: int) -> Decision | None:
        """A paused member gets a slot. If its last ready point was deferred (the others had
        not reached its step), it is ranked now, and may exploit before it trains on."""
        m = self._members.get(number)
        if m is None:
            return None
        m.paused = False
        if not m.pending or m.step is None:
            return None
        m.pending = False
        choice = self._choose(number, m.step, last_chance=True)
        if not isinstance(choice, tuple):
            return None
        donor, new, ops = choice
        if donor is None:
            return self._explore_in_place(m, new, ops)
        self._take(m, donor, new)
        return Decision("exploit", reason=f"bottom {self.quantile:.0%} (ranked on resume): copies trial {donor}",
                        code="exploit", donor=donor, params=new, operations=tuple(ops))

    def on_restore(self, number: int, step: int, values: dict[int, float]) -> None:
        m = self._members.get(number)
        if m is None:
            return
        m.history = {s: self.loss(v) for s, v in values.items()}
        m.step = step
        m.value = m.history[max(m.history)] if m.history else None
        m.kept_step, m.kept_params, m.paused, m.pending = step, dict(m.params), True, False

    def on_kept(self, number: int, step: int) -> None:
        """The coordinator holds ``number``'s state at ``step``, trained with its current params:
        it may be copied from now on (until the member exploits, which replaces its weights)."""
        m = self._members.get(number)
        if m is not None:
            m.kept_step, m.kept_params = step, dict(m.params)

    def on_complete(self, number: int, value: float | None, state: str) -> None:
        m = self._members.get(number)
        if m is not None:
            m.live, m.paused = False, False

    def waiting(self) -> int:
        """Members waiting for a slot: not started yet, or paused."""
        not_started = self.population - len(self._members)
        return max(not_started, 0) + sum(1 for m in self._members.values() if m.paused and m.live)

    def on_report(self, number: int, step: int, value: float) -> Decision:
        m = self._members.get(number)
        if m is None:
            return CONTINUE
        m.value, m.step = self.loss(value), step
        m.history[step] = m.value
        m.since += 1
        if m.since < self.interval:
            return CONTINUE
        m.since = 0
        choice = self._choose(number, step)
        m.pending = choice == "defer"
        if isinstance(choice, tuple) and choice[0] is None:
            return self._explore_in_place(m, choice[1], choice[2])
        if isinstance(choice, tuple):
            donor, new, ops = choice
            self._take(m, donor, new)
            reason = f"bottom {self.quantile:.0%}: copies trial {donor}"
            if self.waiting() > 0:  # yield the slot; resume later from the donor's state
                m.paused = True
                return Decision("pause", reason=reason + ", then gives its slot to a waiting member", code="exploit",
                                donor=donor, params=new, operations=tuple(ops), checkpoint=True)
            return Decision("exploit", reason=reason, code="exploit", donor=donor, params=new, operations=tuple(ops))
        if self.waiting() > 0:
            m.paused = True
            return Decision("pause", reason="gives its slot to a waiting member", code="pause", checkpoint=True)
        return Decision("continue", checkpoint=True)

    def quiet_reports(self, number: int) -> int:
        """The reports before the member's next ready point are answered ``continue``."""
        m = self._members.get(number)
        return 0 if m is None else max(0, self.interval - 1 - m.since)

    def _choose(self, number: int, step: int,
                last_chance: bool = False) -> tuple[int | None, dict[str, Any], list[str]] | str | None:
        """Exploit ``(donor, new params, operations)``, None (no exploit), or ``"defer"`` when
        too few members have reached ``step`` to rank it (at least 2, and half the live ones),
        or when it is in the bottom but no better top member's state at ``step`` is kept yet.
        ``donor`` None: every ranked member ties, and ``number``, in the bottom by lot, explores
        its own params.

        ``last_chance`` (ranking on resume, after which the member trains on and its ready point
        is gone): when no top member's state at ``step`` is held yet, the donor is the best
        member of the better half (rounded up) that is strictly better and whose state is held.
        Without it, on a loaded machine the member resumed first (so always first to reach the
        next step, and deferred) met the top's state still in flight at every resume and never
        exploited: 5 runs in 10 of a population of four on two workers, eight epochs.

        A donor is a top member, strictly better than ``number`` at ``step``, whose state the
        coordinator holds at ``step`` or later (never behind: the member takes its step)."""
        live = sum(1 for m in self._members.values() if m.live and m.value is not None)
        values, bottom, top = self._rank(step)
        if len(values) < max(2, math.ceil(live / 2)):
            return "defer"
        if number not in bottom:
            return None
        better = [d for d in top if d != number and values[d] < values[number]]
        if not better and len(set(values.values())) == 1:  # nobody ahead: perturb, do not copy
            new, ops = self.explore(self._members[number].params)
            return None, new, ops
        donors = [d for d in better
                  if self._members[d].kept_step is not None and self._members[d].kept_step >= step]  # type: ignore[operator]
        if not donors and better and last_chance:
            ranked = sorted(values, key=lambda n: values[n])
            half = ranked[:math.ceil(len(ranked) / 2)]
            donors = [d for d in half if d != number and values[d] < values[number]
                      and self._members[d].kept_step is not None and self._members[d].kept_step >= step][:1]  # type: ignore[operator]
        if not donors:
            # A better member whose state at ``step`` is not kept yet (its report came before
            # its state): rank again on resume, by when it usually is. Without this a member
            # that reports just after its better peer never finds a donor.
            return "defer" if better else None
        donor = donors[int(self.rng.integers(len(donors)))]
        d = self._members[donor]
        new, ops = self.explore(d.kept_params or d.params)
        return donor, new, [f"copy trial {donor} (step {d.kept_step})", *ops]

    def _explore_in_place(self, m: _Member, new: dict[str, Any], ops: list[str]) -> Decision:
        """``m`` keeps its weights and step and trains on with ``new`` params (its kept state,
        trained with the old ones, stays a donor candidate as it was)."""
        m.params = new
        return Decision("exploit", reason=f"the ranked population ties: bottom {self.quantile:.0%} by lot, "
                        "explores its own hyperparameters", code="explore", donor=None, params=new,
                        operations=tuple(ops))

    def _take(self, m: _Member, donor: int, new: dict[str, Any]) -> None:
        """``m`` now holds the donor's kept state: its weights, its step and the history behind
        them, with ``new`` params; its own kept state is no longer a donor candidate."""
        d = self._members[donor]
        at = d.kept_step
        m.params, m.kept_params, m.kept_step = new, None, None
        m.history = {s: v for s, v in d.history.items() if s <= at}  # type: ignore[operator]
        m.step = at
        m.value = m.history[max(m.history)] if m.history else m.value

    # -- the two PBT steps ----------------------------------------------------------------
    def quantiles(self, step: int | None = None) -> tuple[list[int], list[int]]:
        """``(bottom, top)`` (see :meth:`_rank`)."""
        _, bottom, top = self._rank(step)
        return bottom, top

    def _rank(self, step: int | None = None) -> tuple[dict[int, float], list[int], list[int]]:
        """``(values, bottom, top)``: the ranked members' values ("lower is better"), the bottom
        ``quantile`` worst first (``q`` members: at least one, at most half), the top ``quantile``
        best first (the best ``q`` and every member tied with them: equals share a rank, so a
        donor as good as one in the top is never left out).

        With ``step``, only members that have reached ``step`` are ranked, each by its value
        at ``step`` (or the last one before it): a member that just trained is not compared
        with members still waiting for their turn. Those rank themselves when they catch up.
        Equal values are ordered by lot (drawn only when there are ties), not by trial number:
        a tie that straddles the bottom's edge gives each of its members the same chance.
        """
        values: dict[int, float] = {}
        for n, m in self._members.items():
            if not m.live or m.value is None or (step is not None and m.step < step):  # type: ignore[operator]
                continue
            if step is None:
                v = m.value
            elif step in m.history:
                v = m.history[step]
            else:
                before = [s for s in m.history if s <= step]
                v = m.history[max(before)] if before else m.history[min(m.history)]
            if v is not None and not math.isnan(v) and v != math.inf:
                values[n] = v
        ranked = sorted(values, key=lambda n: (values[n], n))
        k = len(ranked)
        if k < 2:
            return values, [], []
        if len(set(values.values())) < k:  # ties: each member of a tie equally likely to come first
            lot = dict(zip(ranked, self.rng.permutation(k).tolist()))
            ranked.sort(key=lambda n: (values[n], lot[n]))
        q = min(max(1, math.ceil(k * self.quantile - 1e-9)), k // 2)
        edge = values[ranked[q - 1]]
        return values, list(reversed(ranked[-q:])), [n for n in ranked if values[n] <= edge]

    def explored(self, space: Space | None = None) -> list[str]:
        """The names of the parameters :meth:`explore` changes: ``hyperparams``, or by default
        the space's :class:`Float` parameters (the others may shape the model)."""
        space = self.space if space is None else space
        if self.hyperparams is not None:
            return list(self.hyperparams)
        return [n for n in space.names if isinstance(space[n], Float)]

    def explore(self, params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Perturb or resample each explorable parameter (:meth:`explored`); return new params
        and what was done. A parameter whose value did not change says so
        (``"act: 'relu' -> 'relu' (resampled: same value)"``): no no-op reads as a change."""
        new = dict(params)
        ops: list[str] = []
        for name in self.explored():
            p = self.space[name]
            old = params[name]
            value, how = self._explore_one(p, old)
            new[name] = value
            ops.append(f"{name}: {_fmt(old)} -> {_fmt(value)} ({how})")
        return self.space.clip(new), ops

    def _explore_one(self, p: Parameter, old: Any) -> tuple[Any, str]:
        if self.rng.random() < self.resample_probability:
            value = p.sample(self.rng)
            return value, "resampled" if value != old else "resampled: same value"
        if isinstance(p, Choice):
            i = p.index(old)
            n = len(p.values)
            if n == 1:
                return old, "only value"
            j = i + (1 if self.rng.random() < 0.5 else -1)
            j = min(max(j, 0), n - 1) if n > 2 else 1 - i
            if j == i:
                j = i - 1 if i == n - 1 else i + 1
            return p.values[j], "neighbour"
        f = self.perturb[int(self.rng.integers(len(self.perturb)))]
        value, how = self._perturbed(p, old, f)
        if value != old or f == 1.0:
            return value, how
        # at a bound (clipped back, or rounded back at the end of the range): the other way
        others = [g for g in self.perturb if (g > 1) != (f > 1) and g != 1.0]
        g = others[int(self.rng.integers(len(others)))] if others else 1.0 / f
        back, back_how = self._perturbed(p, old, g)  # (a range holds two values at least: this moves)
        return back, f"{back_how}; {how} is out of bounds"

    def _perturbed(self, p: Parameter, old: Any, f: float) -> tuple[Any, str]:
        """``old`` moved by factor ``f`` through the space (may clip back to ``old`` at a bound)."""
        if isinstance(p, PowerOfTwo):
            # multiply, then round in exponent space; never stuck: at least one power away
            value = p.clip(old * f)
            if value == old and f != 1.0:
                value = p.clip(old * 2 if f > 1 else old / 2)
            return value, f"x{f:.4g}"
        if old == 0:
            low, high = float(p.low), float(p.high)  # type: ignore[attr-defined]
            delta = (f - 1.0) * (high - low)
            return p.clip(old + delta), f"{'+' if delta >= 0 else ''}{delta:.4g} from zero"
        value = p.clip(old * f)
        if isinstance(p, Int) and value == old and f != 1.0:
            step = p.step
            value = p.clip(old + (step if (f > 1) == (old > 0) else -step))
        if isinstance(p, Float):
            value = float(value)
        return value, f"x{f:.4g}"

    def describe(self) -> str:
        return (f"PBT(population={self.population}, interval={self.interval}, quantile={self.quantile}, "
                f"perturb={self.perturb}, resample_probability={self.resample_probability}, "
                f"hyperparams={self.hyperparams}, seed={self.seed})")
