"""The worker slots of :class:`~torchsearch.executors.Processes`: one worker process per slot,
watched by one selector, ended and replaced (a crash, a hang, a worker that cannot start).

``Processes`` is the executor protocol and the messages; this is the bookkeeping of the
processes behind it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import selectors
import signal
from dataclasses import dataclass
from multiprocessing.connection import wait as _wait_any
from typing import Any

from ..exceptions import TorchSearchError
from ._system import describe_exit

__all__ = ["_Worker", "_Slots"]

_START_TRIES = 3  # a slot whose worker dies before it is ready this many times in a row raises


@dataclass
class _Worker:
    slot: int
    device: str
    process: Any = None
    conn: Any = None
    trial: Any = None  # the ActiveTrial it runs, or None when idle
    ready: bool = False
    pausing: bool = False  # its trial was told to pause: the next one may be sent before it is done
    next: Any = None       # (trial, job, resume) sent to start once the pausing one is done
    progress: int = -1     # the progress counter of its trial's last heartbeat
    failed_starts: int = 0  # deaths in a row before the worker said it was ready

    def takes(self) -> bool:
        """Whether a trial can be sent to it now (idle, or its trial is pausing and none is queued)."""
        return self.trial is None or (self.pausing and self.next is None)


class _Slots:
    """Worker processes, one per slot (a mixin of ``Processes``, which starts them: ``_start``)."""

    _workers: list[_Worker]
    _selector: selectors.BaseSelector | None
    host: Any

    def _start(self, w: _Worker) -> None:  # pragma: no cover - Processes starts its workers
        raise NotImplementedError

    def _run_message(self, trial: Any, job: Any, launch: Any) -> tuple[Any, ...]:
        raise NotImplementedError  # pragma: no cover - Processes builds its messages

    def _forget(self, w: _Worker) -> None:
        """Stop watching ``w``'s pipe and process (before it is replaced or ended)."""
        if self._selector is None or w.process is None:
            return
        for obj in (w.conn, w.process.sentinel):
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(obj)

    def _shutdown(self) -> None:
        for w in self._workers:
            if w.process is not None and w.process.is_alive():
                with contextlib.suppress(BrokenPipeError, OSError):
                    w.conn.send(("exit",))
        for w in self._workers:
            if w.process is None:
                continue
            w.process.join(timeout=5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout=5)
            self._forget(w)
            w.conn.close()
            w.process = None
        self._workers = []
        if self._selector is not None:
            self._selector.close()
            self._selector = None

    def _ready(self, timeout: float | None) -> list[tuple[_Worker, Any, bool]]:
        """``(worker, its pipe, ended)`` per worker with a message waiting or whose process ended.
        One selector watches every worker for the whole study: building one per wait (as
        ``multiprocessing.connection.wait`` does) cost the coordinator more than the select."""
        if self._selector is not None:
            return [key.data for key, _ in self._selector.select(timeout)]
        owner = {}
        for w in self._workers:
            if w.process is not None:
                owner[w.conn], owner[w.process.sentinel] = (w, w.conn, False), (w, w.conn, True)
        return [owner[obj] for obj in _wait_any(list(owner), timeout)]

    def _replace(self, w: _Worker, why: str | None = None, *, begun: bool = True) -> None:
        """End worker ``w`` (killed when ``why``, the reason its trial must end, is given; else it
        has died), fail its trial with the reason, and start a fresh worker in its slot; a trial
        queued behind a pausing one goes to the fresh worker. A worker that died by itself before
        it was ready never began its trial: the trial is interrupted (it runs again first and
        does not count towards ``n_trials``), not failed; so is one ended by force before it
        began (``begun=False``: the study's time budget ran out while its worker was starting)."""
        if why is not None:
            w.process.kill()
        w.process.join(timeout=5 if why is not None else 1)
        trial, queued = w.trial, w.next
        w.trial = w.next = None
        how = describe_exit(w.process.exitcode)
        died_starting = why is None and not w.ready  # it never began its trial: not the trial's doing
        # SIGTERM (a job scheduler stopping the process group, kill PID): a stop from outside, not the trial's
        # failure; it runs again first, as after Ctrl+C
        terminated = why is None and w.process.exitcode == -signal.SIGTERM
        if died_starting:
            why = f"the worker process (pid {w.process.pid}, {w.device}) {how} while starting"
        elif why is None:
            why = f"the worker process (pid {w.process.pid}, {w.device}) {how} while running trial {trial and trial.number}"
            if terminated:
                why += " (stopped from outside: it runs again)"
        else:
            why += f"; its worker process (pid {w.process.pid}, {w.device}) was killed and replaced"
        if trial is not None and (died_starting or terminated or not begun):
            self.host.interrupt(trial, why)
        elif trial is not None:
            self.host.finish(trial, error=why)
        w.failed_starts = 0 if w.ready else w.failed_starts + 1
        if w.failed_starts >= _START_TRIES:
            self._forget(w)
            if queued is not None:  # (never begun either)
                self.host.interrupt(queued[0], why)
            raise TorchSearchError(f"Processes: worker {w.slot} ({w.device}) {how} while starting, {w.failed_starts} "
                                   "times in a row (its error is printed above); no trial can run")
        failed_starts = w.failed_starts
        self._start(w)
        w.failed_starts = failed_starts
        if queued is not None:  # sent to start after the pausing one, but never started: a fresh worker takes it
            nxt, job, launch = queued  # (its process is new: it holds no module)
            try:
                w.conn.send(self._run_message(nxt, job, dataclasses.replace(launch, cached=False, keep_cached=[])))
                w.trial = nxt
            except (BrokenPipeError, OSError) as e:
                self.host.finish(nxt, error=f"Processes: cannot send the trial to a new worker process ({e})")
