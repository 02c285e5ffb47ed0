"""The coordinator's side of PBT: trial states kept in memory, pauses, exploits and lineage.

A :class:`Population` belongs to a study's :class:`~torchsearch._coordinator.Coordinator`. When a decision asks for it
(``checkpoint=True``, or a pause), the coordinator keeps the trial's whole trainer state
(weights, optimiser, epoch, RNG): as CPU tensors for a trial running in this process, or as the
serialized bytes a worker process sent. An exploit hands the donor's kept state to the
recipient: a private copy here, the same bytes to another process: memory, not disk. The
recipient takes the donor's epoch count with its weights (see :mod:`torchsearch.schedulers.pbt`),
and the lineage row records that step (``donor_step``), from which :func:`schedule` builds a
contiguous schedule. A paused trial's state waits here until a slot is free, then resumes (first
in, first out).

Separately, a background thread writes kept states to ``checkpoints/`` atomically for crash
recovery: the latest state per trial, at most once a second per trial, in the wire format
(what a worker sent is written as it came); training never waits for it. A study resumed after
its coordinator died takes each member back from that copy, which may be older than the exploits
stored for it: its params and lineage go back to the copy (:meth:`Population.restore`). So that
the copy's step alone says which exploits it has been through, a lineage row is committed before
the state that has been through it is kept.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Any

from ._checkpoints import FILE_MAGIC
from ._lineage import replay, rewind, schedule
from ._state import decode, dumps_state, encode, loads_state, pack_state, replace_entry, to_cpu, unpack_state
from .schedulers.base import CONTINUE, Decision

__all__ = ["Population", "schedule", "replay", "dumps_state", "loads_state", "encode", "decode"]


def _show(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else repr(v) if isinstance(v, str) else str(v)


class _Kept:
    """One kept state: packed CPU tensors (in-process) or wire bytes (from a worker process)."""

    __slots__ = ("step", "_packed", "_wire", "as_sent")

    def __init__(self, step: int, packed: dict[str, Any] | None = None, wire: bytes | None = None,
                 as_sent: bool = False) -> None:
        self.step, self._packed, self._wire = step, packed, wire
        self.as_sent = as_sent  # exactly the state the trial's job handed over (not merged with a donor's)

    def packed(self) -> dict[str, Any]:
        """The packed form (shared: never modify it)."""
        if self._packed is None:
            self._packed = decode(self._wire)  # type: ignore[arg-type]
        return self._packed

    def wire(self) -> bytes:
        """Bytes for a worker process (:func:`encode`)."""
        if self._wire is None:
            self._wire = encode(self._packed)  # type: ignore[arg-type]
        return self._wire

    def disk(self) -> bytes:
        """Bytes for a checkpoint file: :data:`FILE_MAGIC` and the wire format, which
        ``Storage.load_checkpoint`` reads back (no class is ever unpickled)."""
        return FILE_MAGIC + self.wire()

    def state(self) -> dict[str, Any]:
        """A private copy, ready for ``Trainer.load_state_dict``."""
        if self._packed is not None:
            return unpack_state(to_cpu(self._packed))
        return loads_state(self._wire)  # type: ignore[arg-type]


class _DurableWriter:
    """Writes the latest kept state of each trial to storage in a background thread.

    A trial's file is rewritten at most once every ``min_interval`` seconds: PBT keeps a state
    at every ready point (every few epochs), and a crash should lose a few seconds of training,
    not cost a file write per ready point. Only the latest state of a trial is ever written;
    :meth:`flush` writes everything pending at once (the study does at its end).
    """

    def __init__(self, storage: Any, min_interval: float = 1.0) -> None:
        self.storage = storage
        self.min_interval = min_interval
        self._pending: dict[str, _Kept | None] = {}   # key -> state to write, or None to delete
        self._written: dict[str, float] = {}          # key -> when its file was last written
        self._on_disk: dict[str, int] = {}            # key -> step of the state its file holds
        self._cv = threading.Condition()
        self._busy: str | None = None  # the key being written or deleted
        self._closed = False
        self._flushing = False
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._loop, name="torchsearch-checkpoints", daemon=True)
        self._thread.start()

    def put(self, key: str, kept: _Kept | None) -> None:
        with self._cv:
            self._pending[key] = kept
            self._cv.notify()

    def _next(self) -> tuple[str, _Kept | None] | None:
        """A pending key that is due (or None), with the lock held; waits at most until one is."""
        now = time.monotonic()
        due_at = math.inf
        for key, kept in self._pending.items():
            at = -math.inf if kept is None or self._flushing or self._closed else \
                self._written.get(key, -math.inf) + self.min_interval
            if at <= now:
                return key, self._pending.pop(key)
            due_at = min(due_at, at)
        self._cv.wait(timeout=None if due_at == math.inf else due_at - now)
        return None

    def _loop(self) -> None:
        while True:
            with self._cv:
                if not self._pending and self._closed:
                    return
                item = self._next()
                if item is None:
                    continue
                key, kept = item
                self._busy = key
            try:
                if kept is None:
                    self.storage.delete_checkpoint(key)
                    self._written.pop(key, None)
                    self._on_disk.pop(key, None)
                else:
                    self.storage.save_checkpoint(key, kept.disk())
                    self._written[key] = time.monotonic()
                    self._on_disk[key] = kept.step
            except Exception as e:  # noqa: BLE001 - a failed durable copy must not stop the study
                self.errors.append(f"{key}: {e}")
            with self._cv:
                self._busy = None
                self._cv.notify_all()

    def discard(self, key: str, step: int) -> None:
        """Drop what is pending for ``key`` and, when its file holds a state at ``step``, delete
        it now (not in the background): when this returns, no state of ``key`` at ``step`` is on
        disk, nor will one be written until the next :meth:`put`."""
        with self._cv:
            self._pending.pop(key, None)
            while self._busy == key:
                self._cv.wait(timeout=0.1)
            if self._on_disk.get(key) != step:
                return
            try:
                self.storage.delete_checkpoint(key)
                del self._on_disk[key]
                self._written.pop(key, None)
            except Exception as e:  # noqa: BLE001 - as a failed write: the study goes on
                self.errors.append(f"{key}: {e}")

    def flush(self) -> None:
        """Write every pending state now, and wait until it is on disk."""
        with self._cv:
            self._flushing = True
            self._cv.notify_all()
            while self._pending or self._busy is not None:
                self._cv.wait(timeout=0.1)
            self._flushing = False

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._thread.join()


class Population:
    """Kept states, paused trials and exploits of one study (the coordinator's side of PBT)."""

    def __init__(self, host: Any) -> None:
        self.host = host  # the Coordinator: storage, study_id, scheduler, space, metric, mode, active
        self._kept: dict[int, _Kept] = {}
        self._paused: deque[int] = deque()
        self._writer: _DurableWriter | None = None
        # paused trial -> (place, kept): the process at ``place`` (an executor's name for it)
        # holds the trial's module in the state ``kept``; valid while that is still the kept one
        self._held: dict[int, tuple[Any, _Kept]] = {}
        #: resumes on a held module / from a state sent to the process (for benchmarks and tests)
        self.resumes = {"held": 0, "sent": 0}

    def key(self, number: int) -> str:
        return f"{self.host.name}-state-{number}"

    # -- states ---------------------------------------------------------------------------
    def keep(self, number: int, step: int, state: dict[str, Any] | None = None, blob: bytes | None = None,
             donor: _Kept | None = None) -> None:
        """Keep ``number``'s trainer state (a dict from this process, or bytes from a worker);
        with ``donor`` (a kept state), it is the donor's but for the RNG and handler states
        (see :meth:`_merged`)."""
        if donor is not None and state is not None:
            state = {k: v for k, v in state.items() if k != "module"}  # replaced: not copied
        kept = _Kept(step, packed=pack_state(state) if state is not None else None, wire=blob, as_sent=donor is None)
        self._store(number, kept if donor is None else self._merged(kept, donor))

    def _store(self, number: int, kept: _Kept) -> None:
        """``kept`` is ``number``'s state from now on (its durable copy follows in the background);
        the scheduler learns that it may be copied."""
        self._kept[number] = kept
        self.host.scheduler.on_kept(number, kept.step)
        if self.host.storage.path is not None:
            if self._writer is None:
                self._writer = _DurableWriter(self.host.storage)
            self._writer.put(self.key(number), kept)

    #: what an exploit copies from the donor's state: its weights and optimiser, and the training
    #: they embody (epoch, iteration, engine state, last metrics); the recipient keeps its own
    #: RNG (its batches and dropout masks stay its own) and its handlers' states
    TAKEN = ("module", "epoch", "iteration", "engine", "metrics")

    @classmethod
    def _merged(cls, own: _Kept, donor: _Kept) -> _Kept:
        """``own`` (RNG, handler states) with the donor's state (:attr:`TAKEN`), at the donor's step."""
        if own._wire is not None and donor._wire is not None:  # both came from workers: bytes only
            return _Kept(donor.step, wire=replace_entry(own._wire, "module", donor._wire, optional=cls.TAKEN))
        merged = dict(own.packed())
        theirs = donor.packed()
        merged.update((k, theirs[k]) for k in cls.TAKEN if k in theirs)
        return _Kept(donor.step, packed=merged)

    def receive(self, active: Any, step: int, blob: bytes) -> None:
        """The state a worker process sent after a checkpoint or pause decision (without its
        module when the pause carried an exploit: the donor's, taken at the decision, replaces it)."""
        donor, active.merge_donor = active.merge_donor, None
        self.keep(active.number, step, blob=blob, donor=donor)

    def has(self, number: int) -> bool:
        return number in self._kept

    def state(self, number: int) -> dict[str, Any]:
        return self._kept[number].state()

    def blob(self, number: int) -> bytes:
        """``number``'s kept state as bytes for a worker process."""
        return self._kept[number].wire()

    def drop(self, number: int) -> None:
        self._held.pop(number, None)
        if number in self._paused:
            self._paused.remove(number)
        if self._kept.pop(number, None) is not None and self._writer is not None:
            self._writer.put(self.key(number), None)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None

    def load_durable(self, number: int) -> dict[str, Any] | None:
        """The kept state a previous run wrote for ``number`` (packed), or None."""
        if self.host.storage.path is None:
            return None
        try:
            return self.host.storage.load_checkpoint(self.key(number))
        except Exception:  # noqa: BLE001 - missing or unreadable: the trial is rerun instead
            return None

    def restore(self, trial: Any, packed: dict[str, Any]) -> None:
        """A resumed study takes back a trial from its durable state: paused, resumed in turn.

        That state may be older than what the dead process stored about the trial (its durable
        copy is written at most once a second): the trial's params and lineage go back to that
        state (:meth:`_rewind`), so that its params, lineage and weights agree."""
        from ._active import ActiveTrial

        study = self.host
        step = int(packed.get("epoch", 0))
        params = self._rewind(trial, step)
        active = ActiveTrial(study, trial.number, params)
        series = {s: v for s, v in trial.metrics.get(study.metric, {}).items() if s <= step}
        finite = [(s, v) for s, v in series.items() if not math.isnan(v)]
        if finite:
            pick = min if study.mode == "min" else max
            active.best_step, active.best_value = pick(finite, key=lambda sv: sv[1])
        # reports after ``step`` belong to a timeline that is lost: the best is taken again from here
        study.storage.update_trial(study.study_id, trial.number, value=active.best_value, best_step=active.best_step)
        active.epochs = step
        study.active[trial.number] = active
        self._kept[trial.number] = _Kept(step, packed=packed)
        self._paused.append(trial.number)
        study.scheduler.on_restore(trial.number, step, series)

    def _rewind(self, trial: Any, step: int) -> dict[str, Any]:
        """The params ``trial`` resumes with from its durable state at ``step``. Exploits and
        explores stored after that state (their rows land after ``step``) were lost with the
        process: a lineage row records that the trial went back to its own state at ``step``
        (donor: itself), which :func:`schedule` follows; the rows stay (a member that copied
        this one meanwhile has them in its weights). The stored params go back too."""
        study = self.host
        number = trial.number
        params, lost = rewind(study.storage.lineage(study.study_id, number), step, trial.params)
        if lost:
            landed = [r["step"] if r["donor_step"] is None else r["donor_step"] for r in lost]
            reached = max([step, *trial.metrics.get(study.metric, {}), *landed])  # where the lost timeline was
            ops = [f"copy trial {number} (step {step})",
                   f"its own durable state: the coordinator stopped, {len(lost)} later change(s) lost"]
            ops += [f"{k}: {_show(trial.params.get(k))} -> {_show(v)} (back)" for k, v in params.items()
                    if trial.params.get(k) != v]
            study.storage.add_lineage(study.study_id, number, reached, number, dict(trial.params), params, ops,
                                      donor_step=step)
        if lost or params != trial.params:
            study.storage.update_trial(study.study_id, number, params=params)
            study.scheduler.on_trial_start(number, params)  # (it learnt the stored params just before)
        study.storage.commit()
        return params

    # -- decisions ------------------------------------------------------------------------
    def on_decision(self, active: Any, decision: Decision, step: int, state: Any, final: bool) -> Decision:
        """Carry out the coordinator's part of an exploit / pause / checkpoint decision."""
        if final:  # the trial ends now anyway: nothing to copy, and its last state is never a donor
            return CONTINUE
        if decision.action == "exploit":  # donor None: explore only, the trial keeps its weights
            donor = decision.donor
            if (donor is not None and donor not in self._kept) or decision.params is None:
                return CONTINUE
            self._record_exploit(active, decision, step)
            active.donor = donor
            if donor is not None:  # its kept state is what it holds now (a restore after a crash starts there)
                own, theirs = self._kept.get(active.number), self._kept[donor]
                self._store(active.number, self._merged(own, theirs) if own is not None
                            else _Kept(theirs.step, packed=theirs._packed, wire=theirs._wire))
            return decision
        donor = None
        if decision.action == "pause" and decision.donor is not None:  # exploit, then yield the slot
            if decision.donor in self._kept and decision.params is not None:
                donor = decision.donor
                self._record_exploit(active, decision, step)
            else:
                decision = Decision("pause", reason="gives its slot to a waiting member", code="pause",
                                    checkpoint=True)
        if decision.checkpoint or decision.action == "pause":
            donor_kept = None if donor is None else self._kept[donor]
            if callable(state):
                self.keep(active.number, step, state(), donor=donor_kept)
            else:
                active.merge_donor = donor_kept  # a worker process sends its state next
        return decision

    def _record_exploit(self, active: Any, decision: Decision, step: int) -> None:
        """Store the exploit of ``active`` at its ``step``; it goes on from the donor's step."""
        study = self.host
        new = study.space.validate(decision.params)
        donor_step = step if decision.donor is None else self._kept[decision.donor].step
        study.storage.add_lineage(study.study_id, active.number, step, decision.donor, dict(active.params), new,
                                  list(decision.operations), donor_step=donor_step)
        study.storage.update_trial(study.study_id, active.number, params=new)
        # committed before the state that has been through it is kept (and written to disk): a
        # durable copy is never ahead of the stored lineage (see restore)
        study.storage.commit()
        active.params = dict(new)
        active.epochs = donor_step  # its next report counts only the epochs it trains itself

    # -- pause / resume -------------------------------------------------------------------
    def pause(self, active: Any, place: Any = None, held: bool = False) -> None:
        """``active`` handed its state back and waits for a slot; ``held``: the process at
        ``place`` kept its module, so resumed there it needs no state sent back."""
        study = self.host
        number = active.number
        if number not in self._kept:
            raise RuntimeError(f"trial {number} paused without handing its state back")
        study.storage.update_trial(study.study_id, number, state="paused")
        self._paused.append(number)
        if held and self._kept[number].as_sent:
            self._held[number] = (place, self._kept[number])

    def holds(self, number: int, place: Any) -> bool:
        """Whether the process at ``place`` holds paused trial ``number``'s module as kept here."""
        entry = self._held.get(number)
        return entry is not None and entry[0] == place and entry[1] is self._kept.get(number)

    def held_at(self, place: Any) -> list[int]:
        """The paused trials whose module the process at ``place`` should go on holding."""
        return [n for n in self._held if self.holds(n, place)]

    def resumed_at(self, active: Any, place: Any) -> bool:
        """``active`` resumes at ``place``: True when that process holds its module (no state
        needs to travel); either way, no process holds it for later any more."""
        here = self.holds(active.number, place)
        self._held.pop(active.number, None)
        self.resumes["held" if here else "sent"] += 1
        return here

    def resume(self, number: int) -> Any:
        """Paused trial ``number`` made running again (a pruner's promotion), or None when it is not
        paused here."""
        if number not in self._paused:
            return None
        self._paused.remove(number)
        self._paused.appendleft(number)
        return self.resume_next()

    def resume_next(self) -> Any:
        """The paused trial that waited longest, made running again (or None).

        Strictly first in, first out, wherever the modules are held: letting members that a free
        worker holds jump the queue splits the population into per-worker groups that drift apart
        (measured on digits: 5x fewer exploits, and idle workers at the end)."""
        study = self.host
        while self._paused:
            number = self._paused.popleft()
            active = study.active.get(number)
            if active is None or number not in self._kept:
                continue
            active.resuming = True
            study.storage.update_trial(study.study_id, number, state="running")
            decision = study.scheduler.on_resume(number)
            if (decision is not None and decision.action == "exploit" and decision.params is not None
                    and decision.donor is None):  # explore in place: same weights and step, new params
                self._held.pop(number, None)  # (a process holding its module would resume it with the old ones)
                self._record_exploit(active, decision, self._kept[number].step)
            elif (decision is not None and decision.action == "exploit" and decision.params is not None
                    and decision.donor in self._kept):  # exploit while paused: no transfer at all
                own, theirs = self._kept[number], self._kept[decision.donor]  # type: ignore[index]
                if theirs.step == own.step and self._writer is not None:
                    # a durable copy from before the exploit at the step the exploit lands on could
                    # not be told from the copy after it (see rewind): deleted first
                    self._writer.discard(self.key(number), own.step)
                self._record_exploit(active, decision, own.step)
                self._store(number, self._merged(own, theirs))
            return active
        return None

    def paused(self) -> list[int]:
        return list(self._paused)
