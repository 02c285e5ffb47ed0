"""The lease rows of :class:`~torchsearch.storage.Storage`: which coordinator holds a study.

:class:`LeaseRows` is a part of ``Storage`` (its methods are ``Storage`` methods); the policy
(heartbeats, when an owner counts as live, what a second coordinator is told) lives in
:mod:`torchsearch._lease`. Taking a lease is one ``BEGIN IMMEDIATE`` transaction, so two
coordinators racing for it cannot both win.
"""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING, Any

from .exceptions import StorageError

__all__ = ["LeaseRows"]


class LeaseRows:
    """One coordinator per study (mixed into :class:`~torchsearch.storage.Storage`)."""

    _con: sqlite3.Connection
    if TYPE_CHECKING:  # Storage's
        def _q(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor: ...
        def commit(self) -> None: ...

    _LEASE_COLS = ("host", "pid", "pid_started", "token", "since", "heartbeat")

    def lease(self, study_id: int) -> dict[str, Any] | None:
        """The lease row of a study (``host, pid, pid_started, token, since, heartbeat``), or None
        (never taken, released, or a database older than leases opened read-only)."""
        try:
            row = self._q(f"SELECT {', '.join(self._LEASE_COLS)} FROM leases WHERE study_id = ?",
                          (study_id,)).fetchone()
        except StorageError:
            return None
        return None if row is None else dict(zip(self._LEASE_COLS, row))

    def take_lease(self, study_id: int, token: str, *, host: str, pid: int, pid_started: str | None,
                   live: Any) -> dict[str, Any] | None:
        """Take study ``study_id``'s lease for ``token`` unless another owner's is ``live(row)``:
        None when taken, else the live owner's row. One transaction: two coordinators racing for
        it cannot both win."""
        self.commit()
        try:
            self._con.execute("BEGIN IMMEDIATE")
            row = self._con.execute(f"SELECT {', '.join(self._LEASE_COLS)} FROM leases WHERE study_id = ?",
                                    (study_id,)).fetchone()
            owner = None if row is None else dict(zip(self._LEASE_COLS, row))
            if owner is not None and (owner["host"], owner["pid"]) != (host, pid) and live(owner):
                self._con.execute("ROLLBACK")
                return owner
            now = time.time()
            self._con.execute(
                "INSERT OR REPLACE INTO leases (study_id, host, pid, pid_started, token, since, heartbeat) "
                "VALUES (?,?,?,?,?,?,?)", (study_id, host, pid, pid_started, token, now, now))
            self._con.execute("COMMIT")
        except sqlite3.Error as e:
            if self._con.in_transaction:
                self._con.execute("ROLLBACK")
            raise StorageError(f"storage: cannot take the lease of study {study_id}: {e}") from e
        return None

    def release_lease(self, study_id: int, token: str) -> None:
        """Give the lease back (only if ``token`` still holds it)."""
        self._q("DELETE FROM leases WHERE study_id = ? AND token = ?", (study_id, token))
        self.commit()
