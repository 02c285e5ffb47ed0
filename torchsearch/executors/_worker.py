"""The worker side of :class:`~torchsearch.executors.Processes`: a spawned process pinned to one
device slot that takes trials from its pipe, trains them, and sends their reports (waiting for
the answer only where the scheduler may decide something).
"""

from __future__ import annotations

import gc
import math
import os
import random
import signal
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .._state import dumps_state, encode, loads_state
from ..exceptions import TrialFailed
from ..schedulers.base import CONTINUE
from ._system import PARENT_ENV, die_with_parent

__all__ = ["worker_main"]

_HOLD = 1.0  # seconds: quiet reports are sent together, at most one message per this long


def _needs_state(decision: Any) -> bool:
    return decision.action == "pause" or (decision.checkpoint and decision.action == "continue")


class _RemoteTrial:
    """The worker's stand-in for the coordinator's ActiveTrial: ``report`` is a round trip,
    except for the reports the scheduler said it will answer ``continue`` (``quiet``): those are
    kept and sent with the next message, or on their own at most once a second, and never
    waited for. The coordinator may send a stop (or a failed report's error) unasked; it is
    taken at the next report."""

    def __init__(self, conn: Any, number: int, params: dict[str, Any], resume: bytes | None,
                 resume_held: bool = False, held_here: list[int] | None = None, quiet: int = 0,
                 trial_timeout: float | None = None) -> None:
        self._conn = conn
        self.trial_timeout = trial_timeout
        self.progress = 0  # iterations and reports done: the watch thread's heartbeat carries it
        self.number = number
        self.params = dict(params)
        self._resume = resume
        self._donor: dict[str, Any] | None = None
        self.resume_held = resume_held  # resumes on the module this process kept at its pause
        self.held_here = held_here      # paused trials whose modules this process keeps
        self._quiet = quiet             # next reports the coordinator will not answer
        self._kept: list[tuple[dict[str, float], int]] = []  # quiet reports not sent yet
        self._sent_at = time.monotonic()  # when a message last went to (or came from) the coordinator
        self._unasked: Any = None       # a stop decision the coordinator sent unasked
        self.answered = 0               # reports that waited for an answer (for tests and benchmarks)
        self.paused_state: tuple[int, bytes] | None = None  # (step, state) after a pause decision

    def __repr__(self) -> str:
        return f"RemoteTrial(number={self.number}, params={self.params!r})"

    def report(self, metrics: dict[str, float], step: int, *, state: Callable[[], dict[str, Any]] | None = None,
               final: bool = False) -> Any:
        if self.paused_state is not None:
            raise TrialFailed(f"trial {self.number}: report(step={step}) after a pause decision; a job told to pause "
                              "hands its state back and returns a result with paused=True")
        values = {str(k): float(v) for k, v in metrics.items()}
        self.progress += 1
        if self._quiet > 0 and not final and all(math.isfinite(v) for v in values.values()):
            self._quiet -= 1
            self._kept.append((values, int(step)))
            if time.monotonic() - self._sent_at >= _HOLD:
                self.flush()
            while self._conn.poll():
                self._take(self._conn.recv())
            return self._unasked or CONTINUE
        self._conn.send(("report", self.number, values, int(step), bool(final), self._kept))
        self._kept, self._sent_at = [], time.monotonic()
        self.answered += 1
        while True:
            reply = self._conn.recv()
            if reply[0] == "decision":
                break
            self._take(reply)
        _, decision, donor, self._quiet = reply
        if decision.action == "exploit":
            self._donor = None if donor is None else loads_state(donor)
            self.params = dict(decision.params)
        elif _needs_state(decision):
            if state is None:
                raise TrialFailed(f"trial {self.number}: the scheduler asked for its state ({decision.action}), "
                                  "but the job did not pass state= to report()")
            full = state()
            if decision.action == "pause" and decision.donor is not None:  # the donor's module replaces it
                full = {k: v for k, v in full.items() if k != "module"}
            if decision.action == "pause":  # handed back with the job's end: one message less
                self.paused_state = (int(step), dumps_state(full))
            else:
                self._conn.send(("state", self.number, int(step), dumps_state(full)))
        return decision

    def _take(self, msg: tuple[Any, ...]) -> None:
        """A message the coordinator sent unasked: a stop, or the error of a quiet report."""
        if msg[0] == "error":
            raise TrialFailed(msg[1])
        if msg[0] != "stop":
            raise RuntimeError(f"trial {self.number}: unexpected message {msg[0]!r} from the coordinator")
        self._unasked = msg[1]

    def tick(self) -> None:
        """A training or evaluation iteration is done (``tune()`` calls it when a trial_timeout is set)."""
        self.progress += 1

    def flush(self) -> None:
        """Send the quiet reports kept so far (they are never answered)."""
        if self._kept:
            self._conn.send(("reports", self.number, self._kept))
            self._kept, self._sent_at = [], time.monotonic()

    def donor_state(self) -> dict[str, Any]:
        donor, self._donor = self._donor, None
        if donor is None:
            raise RuntimeError(f"trial {self.number}: donor_state() is only available after an exploit decision")
        return donor

    def resume_state(self) -> dict[str, Any] | None:
        blob, self._resume = self._resume, None
        return None if blob is None else loads_state(blob)


def _call(job: Callable[..., Any], trial: _RemoteTrial, device: str) -> Any:
    from .._jobs import TrainJob

    if isinstance(job, TrainJob):
        return job(trial, device)
    return job(trial)


class _Locked:
    """The worker's end of its pipe, shared by the main thread and the watch thread: sends are
    serialised (a message is written in several pieces); only the main thread receives."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self.recv, self.poll = conn.recv, conn.poll

    def send(self, obj: Any) -> None:
        with self._lock:
            self._conn.send(obj)


class _Watch(threading.Thread):
    """The worker's watch thread: ends the process when the coordinator is gone (its parent pid
    changed: the check for where ``PR_SET_PDEATHSIG`` does not exist), and while a trial with a
    ``trial_timeout`` runs, sends a heartbeat ``("beat", number, progress)`` a few times per
    timeout. The training loop is not needed for it, so a long epoch is not a hang; but the
    heartbeat carries the trial's progress counter (iterations and reports done), and the
    coordinator ends a trial whose counter has not moved for ``trial_timeout``: a training step
    blocked in C, in a deadlock or in ``time.sleep`` is caught, and so is a process frozen
    whole (no heartbeat at all)."""

    def __init__(self, conn: _Locked, parent: int) -> None:
        super().__init__(name="torchsearch-watch", daemon=True)
        self.conn, self.parent = conn, parent
        self.trial: _RemoteTrial | None = None

    def run(self) -> None:
        while True:
            trial = self.trial
            every = 1.0 if trial is None or not trial.trial_timeout else min(1.0, trial.trial_timeout / 4)
            time.sleep(every)
            if os.getppid() != self.parent:
                os._exit(1)  # the coordinator is gone: nobody will read what this worker does
            trial = self.trial
            if trial is not None and trial.trial_timeout:
                try:
                    self.conn.send(("beat", trial.number, trial.progress))
                except (BrokenPipeError, OSError):
                    os._exit(1)


def _imports(job: Any) -> None:
    """Ignite (the trainer) for a job that trains with it, imported at its first trial rather
    than before "ready" (a job that does not use it, or a slot that gets no trial, never pays for
    it), and before the trial is said to begin: not inside its trial_timeout."""
    from .._jobs import TrainJob

    if isinstance(job, TrainJob):
        from .. import trainer  # noqa: F401


def _freeze_imports(collect: bool) -> None:
    """Take what this process has imported (torch, Ignite, the job's libraries: ~380,000 objects for
    the digits study) out of the cyclic garbage collector's reach: a full collection otherwise walks
    all of them (0.3 s each, one every few epochs while trials build trainers: 4.2-5.1 s of the
    workers' CPU in the digits PBT study, 0.7-1.0 s with this). Done without a collection at start-up
    and after a job's imports (only modules are alive then), and once with one when the worker
    starts its second trial (after the first trial's imports; its garbage is collected first, and
    what is alive then, a paused trial's kept module, is only freed by reference counting from then
    on). The earlier freezes keep that collection short (it walks only what came after them)."""
    if collect:
        gc.collect()
    gc.freeze()


def worker_main(conn: Any, device: str, threads: int) -> None:
    if threading.current_thread() is threading.main_thread():  # (a Ray actor runs this loop in a thread)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator handles Ctrl+C and ends us
    parent = int(os.environ.get(PARENT_ENV, os.getppid()))
    die_with_parent(parent)
    conn = _Locked(conn)
    watch = _Watch(conn, parent)
    watch.start()
    torch.set_num_threads(threads)
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    _freeze_imports(collect=False)  # torch and the worker's modules
    try:
        conn.send(("ready", os.getpid()))
    except (BrokenPipeError, OSError):
        return
    runs = 0
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the coordinator is gone
        if msg[0] == "exit":
            return
        if msg[0] != "run":  # an answer to a trial that has ended meanwhile (a stop sent unasked...)
            continue
        _, number, params, job, resume, seed, held, keep, quiet, timeout = msg
        runs += 1
        if runs == 2:  # the first trial has imported what the job needs
            _freeze_imports(collect=True)
        if seed is not None:
            torch.manual_seed(seed)
            np.random.seed(seed % 2**32)
            random.seed(seed)
        trial = watch.trial = _RemoteTrial(conn, number, params, resume, held, keep, quiet, timeout)
        _imports(job)
        if runs == 1:
            _freeze_imports(collect=False)  # the job's modules, Ignite
        # begun (its imports done): from now on its progress must move when a trial_timeout runs, and a
        # study time budget that runs out fails it if it hangs, where before this it is only interrupted
        # (sent from here: a hang may stop the watch thread)
        conn.send(("beat", number, 0))
        try:
            try:
                result = _call(job, trial, device)
            finally:
                watch.trial = None
                trial.flush()  # its quiet reports arrive before how it ended
            info = {"value": getattr(result, "value", None), "stop_code": getattr(result, "stop_code", None),
                    "stop_reason": getattr(result, "stop_reason", None), "paused": getattr(result, "paused", False), "held": getattr(result, "held", False)}
            best = getattr(result, "best_state_dict", None)  # the best evaluation's weights (torchsearch._best)
            info["best_step"] = getattr(result, "best_step", None)
            info["best_state"] = None if best is None else encode(best)
            state = getattr(result, "state_dict", None)
            conn.send(("done", number, info, None if state is None else encode(state), trial.paused_state))
        except (BrokenPipeError, EOFError, ConnectionResetError):
            return
        except BaseException as e:  # noqa: BLE001 - report every failure, then take the next trial
            text = f"{type(e).__name__}: {e}"
            if isinstance(e, torch.cuda.OutOfMemoryError):
                text += f" (on {device})"
                torch.cuda.empty_cache()
            try:
                conn.send(("failed", number, text, traceback.format_exc()))
            except (BrokenPipeError, OSError):
                return
