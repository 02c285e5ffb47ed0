"""Run trials on a Ray cluster: long-lived actors, one per slot, reused across trials.

The coordinator stays in the process that runs ``tune()`` and is the only writer of the
storage. Each slot is a Ray actor (:class:`~torchsearch.executors._ray_actor.TrialActor`,
``num_cpus=cpus_per_trial``, ``num_gpus=gpus_per_trial``: Ray places it and packs fractional
GPUs) that lives for the whole study and runs one trial after another: no actor is started per
trial. The actor opens a socket back to the coordinator and speaks the
:class:`~torchsearch.executors.Processes` protocol over it, so reports the scheduler will answer
``continue`` are batched, heartbeats, hang handling and PBT pauses work as on one machine.

Kept PBT states go through Ray's object store: each state another member copies (or a paused
trial resumes from) is put there once by the coordinator, and the actor that needs it gets it
from there (on its own node); the socket carries only a ticket. The bytes reach the coordinator
anyway, because it writes the durable copies (``checkpoints/``) and is the only writer.

Faults: an actor that dies (its process killed, its node removed) fails the trial it ran with
the reason Ray gives, or reruns it (``max_retries``); a replacement actor is created in its slot
and starts when the cluster has room (a node that joins later takes it). With
``max_concurrent=None`` the number of slots follows the cluster: nodes that join add slots.
Ctrl+C kills the busy actors and the study records their trials as ``Processes`` does; the
actors belong to the coordinator's Ray job, so they die with it whatever kills it.
"""

from __future__ import annotations

import contextlib
import math
import os
import selectors
import sys
import time
from multiprocessing.connection import Listener
from typing import Any

from ..exceptions import TorchSearchError
from ._ray_parts import _ActorProcess, _actor_body, _by_value, _Link, _RayWorker, _Store
from ._slots import _Worker
from .processes import _COMMIT_DELAY, Processes

__all__ = ["Ray"]

_INSTALL = 'pip install "torchsearch[ray]"'
_START_WAIT = 120.0  # seconds to wait for the first actor of a study before giving up
_GROW_EVERY = 5.0    # seconds between looks at the cluster's size (nodes that joined add slots)
_START_TRIES = 3     # actors of one slot that die before they connect, in a row, before the study fails


def _ray() -> Any:
    try:
        import ray
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(f"torchsearch.executors.Ray needs Ray: {_INSTALL}") from e
    return ray


class Ray(Processes):
    """Trials on a Ray cluster, one long-lived actor per slot.

    Args:
        address: None starts a local Ray (or uses the one this process already joined with
            ``ray.init``); ``"auto"`` joins the cluster started with ``ray start`` on this
            machine (or the one ``RAY_ADDRESS`` names); ``"ray://host:port"`` joins a cluster
            through Ray Client (its ``--ray-client-server-port``). With Ray Client the
            coordinator runs in the client process and the actors connect back to it
            (``ray.util.get_node_ip_address()`` there): the cluster's nodes must reach the
            client machine, as every node must reach the head otherwise.
        cpus_per_trial: CPUs Ray reserves for each slot (also torch's threads in it, rounded up).
        gpus_per_trial: GPUs per slot; fractions pack slots on a GPU (``0.25``: four per GPU).
        max_concurrent: at most this many trials at once (default: as many as the cluster has
            room for, growing when nodes join).
        max_retries: how many times a trial whose actor or node died runs again before it is
            recorded ``failed`` (0: at once).

    ``pip install "torchsearch[ray]"``. The TrialModule class and its job are sent to the actors
    by value (Ray's cloudpickle), so a class defined in the script that calls ``tune()`` works;
    an actor unpickles a study's job once and calls it for each trial it runs. Other modules the
    job imports must be importable on the nodes (installed, or on the same paths as here).
    """

    def __init__(self, address: str | None = None, *, cpus_per_trial: float = 1, gpus_per_trial: float = 0,
                 max_concurrent: int | None = None, max_retries: int = 0) -> None:
        if address is not None and not isinstance(address, str):
            raise ValueError(f"Ray: address must be None, 'auto' or 'ray://host:port', got address={address!r}")
        for label, v in (("cpus_per_trial", cpus_per_trial), ("gpus_per_trial", gpus_per_trial)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"Ray: {label} must be a number >= 0, got {label}={v!r}")
        if cpus_per_trial == 0 and gpus_per_trial == 0:
            raise ValueError("Ray: cpus_per_trial=0 and gpus_per_trial=0 would let Ray start any number of actors; "
                             "give one of them > 0")
        if gpus_per_trial > 1 and gpus_per_trial != int(gpus_per_trial):
            raise ValueError(f"Ray: gpus_per_trial above 1 must be a whole number, got gpus_per_trial={gpus_per_trial!r}")
        if max_concurrent is not None and (isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int)
                                           or max_concurrent < 1):
            raise ValueError(f"Ray: max_concurrent must be an int >= 1 or None, got max_concurrent={max_concurrent!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"Ray: max_retries must be an int >= 0, got max_retries={max_retries!r}")
        self.address, self.cpus_per_trial, self.gpus_per_trial = address, cpus_per_trial, gpus_per_trial
        self.max_concurrent, self.max_retries = max_concurrent, max_retries
        self.threads = max(1, math.ceil(cpus_per_trial))
        self.device = "cuda" if gpus_per_trial > 0 else "cpu"
        self._workers: list[_RayWorker] = []  # type: ignore[assignment]
        self._selector: selectors.BaseSelector | None = None
        self._alive_at = 0.0
        self._pool = False
        self.host: Any = None
        self._listener: Any = None
        self._authkey = b""
        self._tokens = 0
        self._pending: dict[int, _RayWorker] = {}  # token -> slot whose actor has not connected yet
        self._grown_at = 0.0
        self._retries: dict[str, int] = {}  # params key -> reruns after a lost actor
        self._store: _Store | None = None
        self._jobs: dict[int, Any] = {}

    def __repr__(self) -> str:
        return (f"Ray(address={self.address!r}, cpus_per_trial={self.cpus_per_trial}, gpus_per_trial="
                f"{self.gpus_per_trial}, max_concurrent={self.max_concurrent}, max_retries={self.max_retries})")

    def __enter__(self) -> Ray:
        """Start the actors now and keep them for every study run inside the block."""
        self._init()
        self._spawn()
        self._pool = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self._pool = False
        self._shutdown()

    # -- lifecycle ------------------------------------------------------------------------
    def open(self, host: Any) -> None:
        self._init()
        self.host = host
        self._retries.clear()
        self._spawn()
        host.storage.group_commits(_COMMIT_DELAY)

    def _init(self) -> None:
        ray = _ray()
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False)
        if self._store is None:
            self._store = _Store(ray)

    def _capacity(self) -> int:
        """Slots the cluster has room for now (at least 1), capped by ``max_concurrent``."""
        total = _ray().cluster_resources()
        fits = []
        if self.cpus_per_trial > 0:
            fits.append(int(total.get("CPU", 0) // self.cpus_per_trial))
        if self.gpus_per_trial > 0:
            fits.append(int(total.get("GPU", 0) // self.gpus_per_trial))
        n = max(1, min(fits))
        return n if self.max_concurrent is None else min(n, self.max_concurrent)

    def _spawn(self) -> None:
        ray = _ray()
        if self._selector is None:
            self._selector = selectors.DefaultSelector()
        if self._listener is None:
            self._authkey = os.urandom(32)
            ip = ray.util.get_node_ip_address()  # the address the nodes reach this process at
            self._listener = Listener((ip, 0), authkey=self._authkey, backlog=64)
            self._selector.register(self._listener._listener._socket, selectors.EVENT_READ, None)
        if not self._workers:
            self._actor_class = ray.remote(num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial,
                                           max_concurrency=2, max_restarts=0)(_actor_body())
            self._grow()

    def _grow(self) -> None:
        """Add slots up to the cluster's room (nodes that joined) or ``max_concurrent``."""
        self._grown_at = time.monotonic()
        want = self._capacity()
        for i in range(len(self._workers), want):
            w = _RayWorker(i, self.device)
            self._workers.append(w)
            self._start(w)

    def _start(self, w: _RayWorker) -> None:  # type: ignore[override]
        ray = _ray()
        self._forget(w)
        self._tokens += 1
        w.token, w.where, w.conn = self._tokens, None, None
        w.trial, w.ready, w.pausing, w.next, w.progress = None, False, False, None, -1
        w.actor = self._actor_class.options(name=None).remote()
        w.loop = w.actor.serve.remote(self._listener.address, self._authkey, w.token, self.device, self.threads,
                                      [os.path.abspath(p) for p in sys.path])
        w.process = _ActorProcess(ray, w)
        self._pending[w.token] = w

    def _forget(self, w: _Worker) -> None:
        if self._selector is not None and w.conn is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(w.conn)

    def close(self) -> None:
        """End of a study: busy actors are killed (the study records their trials), then every
        actor ends."""
        host = self.host
        busy = [w for w in self._workers if w.trial is not None]
        for w in busy:
            w.process.kill()
            w.trial = w.next = None
        if host is not None:
            host.storage.group_commits(None)
        if not self._pool:
            self._shutdown()
            return
        for w in busy:  # a fresh actor in each slot whose actor was killed
            self._pending.pop(w.token, None)
            self._forget(w)
            with contextlib.suppress(Exception):
                w.conn is not None and w.conn.close()
            w.conn = None
            self._start(w)

    def _shutdown(self) -> None:
        ray = _ray()
        for w in self._workers:
            if w.conn is not None:
                with contextlib.suppress(Exception):
                    w.conn.send(("exit",))
        for w in self._workers:
            self._forget(w)
            if w.conn is not None:
                with contextlib.suppress(Exception):
                    w.conn.close()
            if w.actor is not None:
                with contextlib.suppress(Exception):
                    ray.kill(w.actor, no_restart=True)
            w.conn = w.actor = w.process = None
        self._workers, self._pending = [], {}
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self._store = None

    # -- protocol -------------------------------------------------------------------------
    @staticmethod
    def _place(w: _Worker) -> tuple[int, int]:
        """Where a paused trial's module is held: this incarnation of the slot's actor."""
        return (w.slot, w.token)  # type: ignore[attr-defined]

    def free_slots(self) -> int:
        free = sum(1 for w in self._workers if w.takes())
        if free == 0 and self.n_running() == 0:
            free = self._await_first()
        return free

    def _await_first(self) -> int:
        """Block until an actor has connected (a study's start, or every node lost): nothing runs
        meanwhile, and the coordinator would otherwise end the study."""
        deadline = time.monotonic() + _START_WAIT
        while time.monotonic() < deadline:
            for w in self._workers:
                if w.conn is None and w.process is not None and not w.process.is_alive():
                    self._replace(w)  # died before it connected
            self._ready(1.0)
            free = sum(1 for w in self._workers if w.takes())
            if free:
                return free
        room = _ray().cluster_resources()
        raise TorchSearchError(f"Ray: no actor connected back within {_START_WAIT:g} s; each needs "
                               f"cpus_per_trial={self.cpus_per_trial}, gpus_per_trial={self.gpus_per_trial}, and the "
                               f"cluster has CPU={room.get('CPU', 0)}, GPU={room.get('GPU', 0)}; the coordinator "
                               f"listens on {self._listener.address}, which every node must reach")

    def submit(self, trial: Any, job: Any) -> None:
        super().submit(trial, _by_value(self._jobs, job))

    def _ready(self, timeout: float | None) -> list[tuple[_Worker, Any, bool]]:
        assert self._selector is not None
        if self.max_concurrent is None or len(self._workers) < self.max_concurrent:
            if time.monotonic() - self._grown_at >= _GROW_EVERY:
                self._grow()
        out = []
        for key, _ in self._selector.select(timeout):
            if key.data is None:
                w = self._accept()
                if w is not None:
                    out.append((w, w.conn, None))  # a new free slot (see _serve)
            else:
                out.append(key.data)
        return out

    def _serve(self, w: _Worker, ended: bool | None) -> bool:  # type: ignore[override]
        if ended is None:  # an actor just connected: its slot is free, so wait() returns
            return True
        return super()._serve(w, ended)

    def _accept(self) -> _RayWorker | None:
        """An actor connected back: bind its socket to the slot it was started for."""
        try:
            conn = self._listener.accept()
            hello = conn.recv()
        except Exception:  # noqa: BLE001 - a failed handshake (wrong key, a dead actor): ignore it
            return None
        w = self._pending.pop(hello[1], None) if isinstance(hello, tuple) and hello[0] == "hello" else None
        if w is None:
            conn.close()
            return None
        w.where = hello[2]
        w.conn = _Link(conn, w, self._store)
        self._selector.register(w.conn, selectors.EVENT_READ, (w, w.conn, False))
        return w

    # -- faults ---------------------------------------------------------------------------
    def _describe(self, w: _RayWorker) -> str:
        where = w.where or {}
        node = f"node {where.get('ip', '?')} {str(where.get('node_id', '?'))[:8]}"
        return f"the Ray actor of slot {w.slot} (pid {where.get('pid', '?')}, {node})"

    def _death(self, w: _RayWorker) -> str:
        """Why ``w``'s actor ended, in Ray's words (its first line)."""
        ray = _ray()
        try:
            ray.get(w.loop, timeout=5)
        except Exception as e:  # noqa: BLE001 - RayActorError, ActorDiedError, GetTimeoutError...
            text = str(e).strip().splitlines()
            cause = next((line.strip() for line in text if "reason" in line.lower() or "died" in line.lower()),
                         text[0].strip() if text else type(e).__name__)
            return f"{type(e).__name__}: {cause}"[:400]
        return "its worker loop returned"

    def _replace(self, w: _Worker, why: str | None = None, *, begun: bool = True) -> None:  # type: ignore[override]
        """End ``w``'s actor (killed when ``why``, the reason its trial must end, is given; else
        it died), fail or rerun its trial, and start a fresh actor in its slot."""
        assert isinstance(w, _RayWorker)
        trial, queued = w.trial, w.next
        w.trial = w.next = None
        connected = w.conn is not None
        if why is not None:
            w.process.kill()
            reason = f"{why}; {self._describe(w)} was killed and replaced"
        else:
            reason = f"{self._describe(w)} died ({self._death(w)})"
            w.process.kill()
        self._pending.pop(w.token, None)
        self._forget(w)
        if w.conn is not None:
            with contextlib.suppress(Exception):
                w.conn.close()
            w.conn = None
        if trial is not None and not begun:  # ended by force before it began: not the trial's doing
            self.host.interrupt(trial, reason)
        elif trial is not None:
            self._lost(trial, reason + f" while running trial {trial.number}", rerun=why is None)
        if queued is not None:  # sent to start after the pausing one, never started
            self.host.interrupt(queued[0], reason + " before the trial started")
        w.failed_starts = 0 if connected else w.failed_starts + 1
        if w.failed_starts >= _START_TRIES:
            raise TorchSearchError(f"Ray: {w.failed_starts} actors of slot {w.slot} in a row died before they "
                                   f"connected back ({reason}); no trial can run")
        failed_starts = w.failed_starts
        self._start(w)
        w.failed_starts = failed_starts

    def _lost(self, trial: Any, reason: str, rerun: bool) -> None:
        """A trial whose actor died: rerun (``max_retries``) or failed, with the reason stored."""
        key = repr(sorted(trial.params.items()))
        used = self._retries.get(key, 0)
        if rerun and used < self.max_retries:
            self._retries[key] = used + 1
            self.host.interrupt(trial, f"{reason}; run again (retry {used + 1} of {self.max_retries})")
            return
        self.host.finish(trial, error=reason)
