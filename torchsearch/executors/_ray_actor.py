"""The worker side of :class:`~torchsearch.executors.Ray`: one long-lived Ray actor per slot.

The actor runs the same worker loop as a :class:`~torchsearch.executors.Processes` worker
(:func:`~torchsearch.executors._worker.worker_main`: seeding, reports, batched quiet reports,
heartbeats, pauses), over a ``multiprocessing.connection`` socket it opens back to the
coordinator (authenticated with a key the coordinator made for this study). Reports and
decisions are small and frequent: a socket round trip costs a fraction of a Ray actor call.

Kept PBT states (a donor's state after an exploit, a paused trial's state to resume from) do
not travel through that socket: the coordinator puts each one into Ray's object store once and
hands the actor its reference with :meth:`TrialActor.give` (a Ray call, so Ray counts the
reference and fetches the bytes to this node); the message on the socket carries a
:class:`Ticket` in the bytes' place, which :class:`_WorkerLink` swaps for the bytes before the
worker loop sees it.

Nothing here imports ``ray`` at import time (the coordinator imports this module with
:mod:`torchsearch.executors.ray`, on first use).
"""

from __future__ import annotations

import os
import threading
from multiprocessing.connection import Client
from typing import Any

__all__ = ["TrialActor", "Ticket", "swap_tickets", "load_job"]

_JOBS: dict[str, Any] = {}  # key -> the job unpickled in this actor (a study sends the same job with every trial)


def load_job(key: str, data: bytes) -> Any:
    """The job pickled by value as ``data`` (Ray's cloudpickle), unpickled once per actor."""
    job = _JOBS.get(key)
    if job is None:
        import ray.cloudpickle as cloudpickle

        if len(_JOBS) >= 8:
            _JOBS.clear()
        job = _JOBS[key] = cloudpickle.loads(data)
    return job

_GIVE_WAIT = 300.0  # seconds the worker waits for a state the coordinator announced (a slow fetch across nodes)


class Ticket:
    """Stands in a message for the kept state the coordinator gave the actor under ``key``."""

    __slots__ = ("key",)

    def __init__(self, key: int) -> None:
        self.key = key

    def __reduce__(self) -> tuple[Any, ...]:
        return (Ticket, (self.key,))

    def __repr__(self) -> str:
        return f"Ticket({self.key})"


# which element of a message may carry a kept state: ("run", n, params, job, STATE, ...) and
# ("decision", decision, DONOR_STATE, quiet)
_STATE_AT = {"run": 4, "decision": 2}


def swap_tickets(msg: Any, swap: Any) -> Any:
    """``msg`` with its kept-state element replaced by ``swap(element)`` (when it has one)."""
    if not isinstance(msg, tuple) or not msg or msg[0] not in _STATE_AT:
        return msg
    i = _STATE_AT[msg[0]]
    if len(msg) <= i or msg[i] is None:
        return msg
    return msg[:i] + (swap(msg[i]),) + msg[i + 1:]


class _WorkerLink:
    """The actor's end of its socket to the coordinator, as ``worker_main`` uses a pipe: a
    :class:`Ticket` received is replaced by the bytes :meth:`TrialActor.give` delivered."""

    def __init__(self, conn: Any, inbox: _Inbox) -> None:
        self._conn, self._inbox = conn, inbox
        self.send, self.poll, self.fileno, self.close = conn.send, conn.poll, conn.fileno, conn.close

    def recv(self) -> Any:
        return swap_tickets(self._conn.recv(), self._take)

    def _take(self, item: Any) -> Any:
        return self._inbox.take(item.key) if isinstance(item, Ticket) else item


class _Inbox:
    """Kept states given to this actor, by key, until the worker loop takes them."""

    def __init__(self) -> None:
        self._items: dict[int, bytes] = {}
        self._cv = threading.Condition()

    def put(self, key: int, blob: bytes) -> None:
        with self._cv:
            self._items[key] = blob
            self._cv.notify_all()

    def take(self, key: int) -> bytes:
        with self._cv:
            if not self._cv.wait_for(lambda: key in self._items, timeout=_GIVE_WAIT):
                raise RuntimeError(f"the coordinator announced kept state {key} but it did not arrive through Ray's "
                                   f"object store within {_GIVE_WAIT:g} s")
            return self._items.pop(key)


class TrialActor:
    """One slot of a :class:`~torchsearch.executors.Ray` executor (made a Ray actor with
    ``max_concurrency=2``: :meth:`serve` runs the worker loop for the actor's whole life, while
    :meth:`give` delivers kept states beside it)."""

    def __init__(self) -> None:
        self._inbox = _Inbox()

    def give(self, key: int, blob: bytes) -> None:
        """A kept state for the trial this actor runs (Ray resolved the reference: ``blob`` is the bytes)."""
        self._inbox.put(key, bytes(blob))

    def where(self) -> dict[str, Any]:
        import ray

        ctx = ray.get_runtime_context()
        return {"pid": os.getpid(), "node_id": ctx.get_node_id(), "ip": ray.util.get_node_ip_address()}

    def serve(self, address: Any, authkey: bytes, token: int, device: str, threads: int,
              paths: list[str] | tuple[str, ...] = ()) -> str:
        """Connect back to the coordinator and run trials until it says "exit" or is gone.
        ``paths``: the coordinator's ``sys.path``; those that exist here and are missing are
        appended, so a job's modules import here as in a spawned worker process (same machine, or
        a shared file system)."""
        import sys

        from ._worker import worker_main

        sys.path.extend(p for p in paths if p not in sys.path and os.path.isdir(p or "."))

        if device.startswith("cuda"):
            device = "cuda:0"  # Ray sets CUDA_VISIBLE_DEVICES to the GPU it gave this actor
        conn = Client(address, authkey=authkey)
        try:
            conn.send(("hello", token, self.where()))
            for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                os.environ[name] = str(threads)
            worker_main(_WorkerLink(conn, self._inbox), device, threads)
        finally:
            conn.close()
        return "ended"
