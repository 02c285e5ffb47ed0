"""Run trials in worker processes, one per device slot (``devices="cuda"``: every visible GPU).

The coordinator (the study's process) owns the scheduler and the storage. Each worker is a
*spawned* process pinned to one device slot; it receives a trial, builds and trains it, and
sends its reports. A report the scheduler has to decide on is a round trip: the worker waits for
the :class:`~torchsearch.schedulers.Decision`. The reports the scheduler said it will answer
``continue`` (``Scheduler.quiet_reports``: every one for Random, Grid and Bayes; those between
two ready points for PBT) are not waited for: they go with the next message, or on their own at
most once a second; a stop they bring (a study budget) reaches the worker at its next report.

PBT states travel through the same pipe as bytes in memory: a kept state or a paused trial's
state goes to the coordinator, a donor's state goes to the worker that needs it. When a trial
is told to pause, the next trial is sent to its worker at once, which starts it as soon as it
has handed the paused one back. A worker holds the modules of the trials that paused in it; a
paused trial (the one that waited longest: the order never depends on where modules are held)
resumes on the free worker that holds it when there is one, and then no state travels at all.

A worker that crashes, is killed or runs out of memory fails its trial with the reason and is
replaced; the study goes on. A worker that dies before it is ready (a broken CUDA set-up, an
import error) fails the trial sent to it the same way; the third such death in a row of one
slot raises :class:`~torchsearch.TorchSearchError` naming how it exited.

Hangs (``Study.run(trial_timeout=...)``): each worker has a watch thread that, while a trial
runs, sends a heartbeat carrying the trial's progress counter (iterations and reports done; see
``_worker._Watch``). The coordinator ends a trial whose counter has not moved for
``trial_timeout`` seconds of its own clock, or that still runs a short grace after the study's
time budget ran out: the worker is killed and replaced, the trial recorded ``failed``.

Workers die with their coordinator, whatever kills it (``_system.die_with_parent``: the
kernel's parent-death signal on Linux, a parent-pid watch elsewhere), so neither they nor the
multiprocessing resource tracker (which exits when the last of them has) outlive it. On Ctrl+C
(or any error in the coordinator) every busy worker is killed at once; the study records their
trials ``interrupted`` (PBT members with a kept state stay ``paused``) and the same command
resumes them.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import selectors
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from .._state import decode
from ..exceptions import TorchSearchError
from ._system import PARENT_ENV, describe_exit, plan_slots, widen
from ._worker import worker_main
from ._slots import _Slots, _Worker
from .base import Executor

__all__ = ["Processes"]

_CTX = mp.get_context("spawn")
_COMMIT_DELAY = 0.25  # the coordinator's storage writes are committed together, at most this late
_ALIVE_EVERY = 1.0  # seconds between checks that the running workers' processes are alive


# -- coordinator side -----------------------------------------------------------------------
class Processes(_Slots, Executor):
    """Worker processes, one per device slot.

    Args:
        devices: ``"cpu"``; ``"cuda"`` for every visible GPU; ``"cuda:0,cuda:2"`` (or a list)
            for some of them.
        workers: how many workers (slots). Default: for CPU, half the cores (at least 1); for
            GPUs, ``per_device`` per device. With several GPUs, workers are dealt round-robin.
        per_device: trials sharing one GPU (or the CPU when ``workers`` is not given).
        threads: torch threads per worker (default: the cores divided among the workers, so they
            do not oversubscribe them).

    Workers are spawned (not forked) when the study starts and ended when it ends; used as a
    context manager (``with Processes(...) as ex:``) they start at once and serve every study
    run inside the block. Before each trial a worker seeds torch, numpy and ``random`` from the
    study seed and the trial number, so a trial does not depend on which worker runs it.
    """

    def __init__(self, devices: str | Sequence[str] = "cpu", *, workers: int | None = None, per_device: int = 1,
                 threads: int | None = None) -> None:
        self.devices, self.slots, self.threads = plan_slots(devices, workers, per_device, threads)
        self._workers: list[_Worker] = []
        self._selector: selectors.BaseSelector | None = None  # every worker's pipe and process sentinel
        self._alive_at = 0.0  # when wait() last asked whether the running workers are alive
        self._pool = False
        self.host: Any = None

    def __repr__(self) -> str:
        return f"Processes(slots={self.slots!r}, threads={self.threads})"

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> Processes:
        """Start the workers and wait until each is ready (imports done, device set)."""
        self._spawn()
        self._pool = True
        for w in self._workers:
            if w.ready:
                continue
            try:
                w.conn.recv()  # ("ready", pid)
                w.ready = True
            except (EOFError, OSError) as e:
                w.process.join(timeout=5)
                how = describe_exit(w.process.exitcode)
                self._pool = False
                self._shutdown()
                raise TorchSearchError(f"Processes: worker {w.slot} ({w.device}) {how} while starting (its "
                                       "error is printed above)") from e
        return self

    def __exit__(self, *exc: Any) -> None:
        self._pool = False
        self._shutdown()

    def _spawn(self) -> None:
        if self._selector is None and sys.platform != "win32":  # Windows pipes cannot be selected
            self._selector = selectors.DefaultSelector()
        if not self._workers:
            self._workers = [_Worker(i, d) for i, d in enumerate(self.slots)]
            for w in self._workers:
                self._start(w)

    def open(self, host: Any) -> None:
        from .._failfast import main_guard_problem

        problem = main_guard_problem()  # each spawned worker would run the script again: say so before
        if problem is not None:
            raise TorchSearchError(problem)
        self.host = host
        self._spawn()
        host.storage.group_commits(_COMMIT_DELAY)  # a commit per report would cost more than the rest of it

    def _start(self, w: _Worker) -> None:
        self._forget(w)
        parent, child = _CTX.Pipe(duplex=True)
        widen(parent)
        widen(child)
        w.process = _CTX.Process(target=worker_main, args=(child, w.device, self.threads), daemon=True,
                                 name=f"torchsearch-worker-{w.slot}")
        saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", PARENT_ENV)}
        try:
            for k in saved:
                os.environ[k] = str(self.threads)
            os.environ[PARENT_ENV] = str(os.getpid())
            w.process.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        child.close()
        w.conn, w.trial, w.ready, w.pausing, w.next, w.progress = parent, None, False, False, None, -1
        if self._selector is not None:
            self._selector.register(w.conn, selectors.EVENT_READ, (w, w.conn, False))
            self._selector.register(w.process.sentinel, selectors.EVENT_READ, (w, w.conn, True))

    def close(self) -> None:
        """End of a study. Workers still busy (the study was interrupted) are killed, all at once;
        the study records their trials (``interrupted``, or ``paused`` with a kept state). The
        workers end too, unless the executor is used as a context manager."""
        host = self.host
        busy = [w for w in self._workers if w.process is not None and w.trial is not None]
        for w in busy:
            w.process.kill()
        if host is not None:
            host.storage.group_commits(None)  # commits what is pending
        for w in busy:
            w.process.join(timeout=5)
            w.trial = w.next = None
            if self._pool:
                self._start(w)
        if not self._pool:
            self._shutdown()

    # -- protocol -------------------------------------------------------------------------
    def free_slots(self) -> int:
        return sum(1 for w in self._workers if w.takes())

    def n_running(self) -> int:
        return sum(1 for w in self._workers if w.trial is not None)

    @staticmethod
    def _place(w: _Worker) -> tuple[int, int]:
        """Where a paused trial's module is held: this worker process (a replaced one holds none)."""
        return (w.slot, w.process.pid)

    def submit(self, trial: Any, job: Callable[[Any], Any]) -> None:
        """Send ``trial`` to a free slot: an idle worker, or one whose trial is pausing (it starts
        the next as soon as it has handed the pausing one back, without waiting for us)."""
        free = [w for w in self._workers if w.takes()]
        if not free:
            raise RuntimeError("Processes.submit: no free slot (check free_slots() first)")
        for w in free:
            if w.trial is None and not w.process.is_alive():
                self._replace(w)  # died while idle (a third death before ready in a row raises)
        host = self.host
        # a resumed trial goes to the worker that holds its module, if that one is free; else an idle one
        w = next((w for w in free if trial.resuming and host.holds(trial.number, self._place(w))),
                 next((w for w in free if w.trial is None), free[0]))
        # (the pausing trial's module may be kept there once it is handed back)
        launch = host.launch(trial, self._place(w), also_keep=() if w.trial is None else (w.trial.number,))
        trial.resuming = False  # its state travels with the message (or its worker holds it)
        try:
            w.conn.send(self._run_message(trial, job, launch))
        except (BrokenPipeError, OSError):
            if w.trial is not None:  # pausing: the worker died; wait() sees it and sends this one again
                w.next = (trial, job, launch)
                return
            # the worker died while idle (or before it was ready): the trial fails with how it ended,
            # and a fresh worker takes the slot (the third death before ready in a row raises)
            w.trial = trial
            self._replace(w)
            return
        except Exception as e:  # noqa: BLE001 - e.g. a job that cannot be pickled
            host.finish(trial, error=f"Processes: cannot send the trial to a worker process ({type(e).__name__}: "
                                         f"{e}); the TrialModule class, the job and its handlers must be picklable: "
                                         "defined at module level of an importable module or a script with an "
                                         "`if __name__ == '__main__':` guard")
            return
        if w.trial is None:
            w.trial, w.progress = trial, -1
        else:
            w.next = (trial, job, launch)

    def _run_message(self, trial: Any, job: Any, launch: Any) -> tuple[Any, ...]:
        """The "run" message of a :class:`~torchsearch.executors.base.Launch` (a resume restores its
        RNG from its state, which travels here unless the worker holds the module)."""
        blob = self.host.state_bytes(launch.number) if launch.resume and not launch.cached else None
        return ("run", launch.number, dict(launch.params), job, blob, launch.seed, launch.cached,
                list(launch.keep_cached), self.host.quiet_reports(trial), self.host.trial_timeout)

    def wait(self) -> None:
        """Serve reports until at least one slot is free again."""
        storage, timeout = self.host.storage, self.host.trial_timeout
        every = _ALIVE_EVERY if timeout is None else min(_ALIVE_EVERY, timeout / 4)
        while any(w.trial is not None for w in self._workers):
            freed = False
            due = storage.commit_due()
            timeout = every if due is None else min(due, every)
            for w, conn, ended in self._ready(timeout):  # woken by the timeout: nothing is ready
                if w.conn is conn:  # (not a worker replaced since the select)
                    freed = self._serve(w, ended) or freed
            now = time.monotonic()
            if now - self._alive_at >= _ALIVE_EVERY:
                # a dead worker's forked child (a DataLoader worker) keeps its pipe and sentinel open
                self._alive_at = now
                for w in self._workers:
                    if w.trial is not None and not w.process.is_alive():
                        freed = self._serve(w, True) or freed
            for w in self._workers:  # hung (no progress for trial_timeout), or past the time budget's grace
                # (counted from the worker's first heartbeat of the trial: its imports and unpickling are not)
                why = None if w.trial is None else w.trial.overdue(started=w.progress >= 0)
                if why is not None:  # (one not begun yet is not failed: it runs again first next time)
                    self._replace(w, why, begun=w.progress >= 0)
                    freed = True
            if freed:
                return

    # -- messages -------------------------------------------------------------------------
    def _serve(self, w: _Worker, ended: bool) -> bool:
        """Handle one message from worker ``w`` (all that are left when its process ended);
        True when its slot became free."""
        freed = False
        try:
            if not ended:
                return self._handle(w, w.conn.recv())
            while w.conn.poll():
                freed = self._handle(w, w.conn.recv()) or freed
        except (EOFError, OSError):  # the worker is gone: its sentinel says so next, or now
            if not ended and w.process.is_alive():
                if self._selector is not None:
                    self._selector.unregister(w.conn)  # not ready forever until then
                return False
        trial = w.trial
        self._replace(w)
        return freed or trial is not None

    def _quiet_reports(self, w: _Worker, reports: list[tuple[dict[str, float], int]]) -> None:
        """Reports the worker did not wait for: stored and shown to the scheduler like the others.
        A stop they bring (a study budget) is sent unasked; the worker takes it at its next report."""
        trial = w.trial
        for metrics, step in reports:
            stopped = trial.should_stop
            decision = trial.report(metrics, step)
            if decision.action == "stop":
                if not stopped:
                    w.conn.send(("stop", decision))
            elif decision.action != "continue" or decision.checkpoint:
                raise RuntimeError(f"{self.host.scheduler.describe()} answered {decision.action!r} to a report it "
                                   "had said it would answer 'continue' (see Scheduler.quiet_reports)")

    def _handle(self, w: _Worker, msg: tuple[Any, ...]) -> bool:
        host, trial = self.host, w.trial
        kind = msg[0]
        if kind == "beat":  # ("beat", number, progress) from the worker's watch thread
            if trial is not None and msg[1] == trial.number and msg[2] != w.progress:
                w.progress = msg[2]
                trial.alive()
            return False
        if kind == "ready":  # a trial sent before it was ready counts its time from now (not its imports)
            w.ready = True
            if trial is not None:
                trial.alive()
            return False
        if trial is not None:
            trial.alive()
            w.progress = max(w.progress, 0)
        if kind == "reports":
            try:
                self._quiet_reports(w, msg[2])
            except Exception as e:  # noqa: BLE001 - a bad report fails the trial, not the study
                trial.failure = trial.failure or f"{type(e).__name__}: {e}"
                w.conn.send(("error", trial.failure))  # taken at its next report, or the trial ends failed
            return False
        if kind == "report":
            _, _, metrics, step, final, quiet = msg
            try:
                self._quiet_reports(w, quiet)
                decision = trial.report(metrics, step, final=final)
            except Exception as e:  # noqa: BLE001 - a bad report fails the trial, not the study
                w.conn.send(("error", f"{type(e).__name__}: {e}"))
                return False
            donor = None
            if decision.action == "exploit" and decision.donor is not None:
                donor = host.state_bytes(decision.donor)
            w.conn.send(("decision", decision, donor, host.quiet_reports(trial)))
            if decision.action == "pause":
                w.pausing = True
                return True  # its slot can take the next trial now
            return False
        if kind == "state":
            _, number, step, blob = msg
            host.receive_state(trial, step, blob)
            return False
        w.trial, w.pausing = None, False
        if w.next is not None:  # sent while this one paused: the worker has started it
            w.trial, w.next, w.progress = w.next[0], None, -1
            w.trial.alive()
        if kind == "done":
            _, _, info, blob, paused_state = msg
            if paused_state is not None:  # the state it paused with
                host.receive_state(trial, *paused_state)
            if info["paused"]:
                host.pause(trial, self._place(w), info.get("held", False))
                return True
            code = info["stop_code"]
            best = info.get("best_state")  # the best evaluation's weights, when not the final ones
            host.finish(trial, value=info["value"], stop=(code, info["stop_reason"] or code) if code else None,
                        weights=None if blob is None else decode(blob), best_step=info.get("best_step"),
                        best_weights=None if best is None else decode(best))
            return True
        if kind == "failed":
            _, number, text, trace = msg
            host.finish(trial, error=text, traceback=trace)
            return True
        raise RuntimeError(f"Processes: unknown message {kind!r} from worker {w.slot}")
