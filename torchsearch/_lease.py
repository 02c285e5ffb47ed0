"""One coordinator per study: the lease row of a study in its SQLite database.

A coordinator (a :class:`~torchsearch.Study` on a storage folder) takes its study's lease
before it touches the trials, and holds it while it runs: the row names the owner (host, pid,
the pid's start time where the OS tells it) and a heartbeat time that a background thread
refreshes every :data:`BEAT` seconds through its own SQLite connection (a long epoch in this
process does not stop it).

A lease is *live* when its owner may still write:

- on this host: the owner's pid exists and is the same process (its start time, read from
  ``/proc`` on Linux, is unchanged: a reused pid is not the owner). A process that is stopped
  (Ctrl+Z) is still live; only its death frees the lease.
- on another host (a shared folder): its heartbeat is younger than :data:`STALE_AFTER` seconds.

A second coordinator of a study whose lease is live refuses at once, naming the owner. A dead
owner's lease is taken over, and only then are the trials it left running marked
``interrupted``. The same process may open a study again (the lease is per process: the later
:class:`Study` object takes over from the earlier one). Readers (CLI, dashboard) call a study
``running`` only while its lease is live.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
import weakref
from typing import Any

__all__ = ["HOST", "BEAT", "STALE_AFTER", "is_live", "pid_started", "Lease", "describe", "study_status"]

HOST = socket.gethostname()
BEAT = 2.0          # seconds between two heartbeats of a held lease
STALE_AFTER = 60.0  # seconds without a heartbeat after which another host's lease is dead


def pid_started(pid: int) -> str | None:
    """When process ``pid`` started (Linux: clock ticks since boot, from ``/proc``), or None
    when unknown (another OS, or no such process)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: count from its last ')'
    return stat[stat.rfind(b")") + 2:].split()[19].decode()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    except OSError:
        return False
    return True


def is_live(row: dict[str, Any], now: float | None = None, stale_after: float = STALE_AFTER) -> bool:
    """Whether the owner of lease ``row`` (``host, pid, pid_started, heartbeat``) may still run."""
    if row["host"] == HOST:
        if not _pid_alive(int(row["pid"])):
            return False
        started = row.get("pid_started")
        return started is None or pid_started(int(row["pid"])) in (None, started)
    now = time.time() if now is None else now
    return now - float(row["heartbeat"]) < stale_after


def describe(row: dict[str, Any]) -> str:
    """``host myhost, pid 1234, since 2026-11-30 01:02:03 UTC (heartbeat 1.5 s ago)``."""
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(row["since"])))
    ago = max(0.0, time.time() - float(row["heartbeat"]))
    return f"host {row['host']}, pid {row['pid']}, since {since} (heartbeat {ago:.1f} s ago)"


class Lease:
    """The lease this process holds (or tries to hold) on one study of a storage folder."""

    def __init__(self, storage: Any, study_id: int) -> None:
        self.storage = storage
        self.study_id = study_id
        self.token = uuid.uuid4().hex
        self.held = False
        self.lost: str | None = None  # why the lease was lost while held (another coordinator took it)
        self._stop: threading.Event | None = None

    def acquire(self, what: str) -> None:
        """Take the lease, or raise :class:`TorchSearchError` naming the live owner. ``what``
        names the study in the message. In-memory storages need no lease."""
        from .exceptions import TorchSearchError

        if self.storage.path is None or self.held:
            return
        owner = self.storage.take_lease(self.study_id, self.token, host=HOST, pid=os.getpid(),
                                        pid_started=pid_started(os.getpid()), live=is_live)
        if owner is not None:
            raise TorchSearchError(
                f"{what} is being run by another coordinator ({describe(owner)}); one coordinator per "
                "study: wait for it to end, stop it, or use another study name or storage folder")
        self.held, self.lost = True, None
        self._stop = threading.Event()
        threading.Thread(target=_beat, args=(weakref.ref(self), str(self.storage.db_path), self.study_id,
                                             self.token, self._stop),
                         name="torchsearch-lease", daemon=True).start()

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        if self._stop is not None:
            self._stop.set()
        self.storage.release_lease(self.study_id, self.token)


def _beat(ref: Any, db: str, study_id: int, token: str, stop: threading.Event) -> None:
    """Refresh the lease's heartbeat every :data:`BEAT` seconds until it is released, its
    :class:`Lease` is gone, or another coordinator took it over."""
    con = sqlite3.connect(db, timeout=10.0, isolation_level=None, check_same_thread=False)
    try:
        while not stop.wait(BEAT):
            lease = ref()
            if lease is None:
                return
            try:
                n = con.execute("UPDATE leases SET heartbeat = ? WHERE study_id = ? AND token = ?",
                                (time.time(), study_id, token)).rowcount
            except sqlite3.Error:
                continue  # busy or briefly unreadable: the next beat tries again
            if n == 0:
                lease.lost = "another coordinator took over the study's lease"
                lease.held = False
                return
            del lease
    finally:
        con.close()


def study_status(storage: Any, study: dict[str, Any], counts: dict[str, int]) -> str:
    """What the CLI and the dashboard show for a stored study (``study``: a row of
    ``Storage.list_studies``; ``counts``: its trials by state): ``running`` only while its lease
    is live; ``interrupted`` when its coordinator is gone and left work to resume (Ctrl+C, a
    crash: trials still marked running or paused); ``finished`` when it ended; else ``idle``."""
    row = storage.lease(study["id"])
    if row is not None and is_live(row):
        return "running"
    reason = study.get("end_reason") or ""
    if reason.startswith(("interrupted", "stopped on an error")) or (
            study.get("ended") is None and (counts.get("running") or counts.get("paused"))):
        return "interrupted"
    return "finished" if study.get("ended") is not None else "idle"
