"""The pieces of :class:`~torchsearch.executors.Ray` on the coordinator's side: a slot's actor
as ``Processes`` sees a worker process, the socket that swaps kept states for object-store
tickets, the object store's cache of kept states, and the job pickled by value."""

from __future__ import annotations

import contextlib
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ._ray_actor import Ticket, load_job, swap_tickets
from ._slots import _Worker

__all__ = ["_RayWorker", "_ActorProcess", "_Link", "_Store", "_by_value", "_actor_body"]

_KEEP_REFS = 64      # object-store references kept for the kept states sent most recently
_ASK_EVERY = 0.5     # seconds: how stale an actor's 'alive' may be (its socket tells of a death at once)


@dataclass(eq=False)
class _RayWorker(_Worker):
    actor: Any = None
    loop: Any = None       # the ObjectRef of the actor's serve() call: ready when the actor ended
    token: int = -1        # this incarnation of the slot (a replacement gets a new one)
    where: Any = None      # {"pid", "node_id", "ip"} once connected

    def takes(self) -> bool:
        return self.conn is not None and super().takes()


class _ActorProcess:
    """The slot's actor as ``Processes`` sees a worker process (``is_alive``, ``kill``, ``join``)."""

    def __init__(self, ray: Any, w: _RayWorker) -> None:
        self._ray, self._w = ray, w
        self.exitcode: int | None = None
        self.dead = False  # its socket closed, or Ray says it ended
        self._asked = -math.inf  # when Ray was last asked whether it lives

    @property
    def pid(self) -> int | None:
        return None if self._w.where is None else self._w.where["pid"]

    def is_alive(self) -> bool:
        """Whether the actor lives: Ray is asked at most every ``_ASK_EVERY`` seconds (a closed
        socket marks it dead at once; asking before each trial cost a third of a millisecond)."""
        if self.dead:
            return False
        now = time.monotonic()
        if now - self._asked < _ASK_EVERY:
            return True
        self._asked = now
        done, _ = self._ray.wait([self._w.loop], timeout=0)
        self.dead = bool(done)
        return not self.dead

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self._ray.kill(self._w.actor, no_restart=True)
        self.dead = True

    def join(self, timeout: float | None = None) -> None:
        with contextlib.suppress(Exception):
            self._ray.wait([self._w.loop], timeout=timeout)


class _Link:
    """The coordinator's end of an actor's socket: a kept state in an outgoing message is put
    into Ray's object store (once per state) and given to the actor; the message carries a
    :class:`Ticket` instead. A closed socket marks the actor dead."""

    def __init__(self, conn: Any, w: _RayWorker, store: _Store) -> None:
        self._conn, self._w, self._store = conn, w, store
        self.poll, self.fileno = conn.poll, conn.fileno

    def send(self, msg: Any) -> None:
        self._conn.send(swap_tickets(msg, self._give))

    def _give(self, blob: Any) -> Any:
        if not isinstance(blob, (bytes, bytearray)):
            return blob
        key, ref = self._store.put(blob)
        self._w.actor.give.remote(key, ref)
        return Ticket(key)

    def recv(self) -> Any:
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            self._w.process.dead = True
            raise

    def close(self) -> None:
        self._conn.close()


class _Store:
    """Kept states in Ray's object store: one ``ray.put`` per state (the same bytes object from
    the coordinator's population), reused by every member that copies it."""

    def __init__(self, ray: Any) -> None:
        self._ray = ray
        self._refs: OrderedDict[int, tuple[bytes, Any]] = OrderedDict()
        self._key = 0
        self.puts = 0

    def put(self, blob: bytes) -> tuple[int, Any]:
        entry = self._refs.get(id(blob))
        if entry is None or entry[0] is not blob:
            entry = (blob, self._ray.put(blob))
            self.puts += 1
            self._refs[id(blob)] = entry
            while len(self._refs) > _KEEP_REFS:
                self._refs.popitem(last=False)
        self._refs.move_to_end(id(blob))
        self._key += 1
        return self._key, entry[1]


def _actor_body() -> type:
    from ._ray_actor import TrialActor

    return TrialActor


class _ByValue:
    """A job pickled with Ray's cloudpickle: a TrialModule class defined in ``__main__`` (the
    user's script) reaches the actors by value instead of by a name they cannot import."""

    def __init__(self, job: Any) -> None:
        import hashlib

        import ray.cloudpickle as cloudpickle

        self.job = job
        self.data = cloudpickle.dumps(job)
        self.key = hashlib.sha1(self.data).hexdigest()  # the actor unpickles each job once (load_job)

    def __reduce__(self) -> tuple[Any, ...]:
        return (load_job, (self.key, self.data))


def _by_value(cache: dict[int, Any], job: Any) -> Any:
    entry = cache.get(id(job))
    if entry is None or entry.job is not job:
        entry = cache[id(job)] = _ByValue(job)
    return entry
