"""What a person adds to a stored study by hand: notes on trials and trials queued to run next.

:class:`HandWork` is a part of :class:`~torchsearch.storage.Storage` (its methods are
``Storage`` methods). Neither needs the study's lease: a note or a queued trial may be written
while another process runs the study (SQLite in WAL mode serialises the writes). A queued trial
waits in the ``queue`` table until a coordinator starts it: ``add_trial(..., queued=id)`` marks
the row taken by the trial's number in the same transaction that numbers the trial.

A database written before schema 3 has neither table: read-only, it reads as holding no note
and no queued trial; opened for writing, the tables are added.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from .exceptions import StorageError

__all__ = ["HandWork", "MAX_NOTE"]

#: The longest note kept (characters).
MAX_NOTE = 10_000


class HandWork:
    """Notes and queued trials (mixed into :class:`~torchsearch.storage.Storage`)."""

    _con: sqlite3.Connection
    if TYPE_CHECKING:  # Storage's
        def _q(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor: ...
        def commit(self) -> None: ...

    def _has_table(self, table: str) -> bool:
        return self._q("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() \
            is not None

    # -- notes ------------------------------------------------------------------------------
    def add_note(self, study_id: int, number: int, text: str) -> dict[str, Any]:
        """Add a note to trial ``number`` (a trial may hold several); return it
        (``trial, text, time``). The trial must exist; ``text`` must be a non-empty string of at
        most :data:`MAX_NOTE` characters."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"note: text must be a non-empty string, got text={text!r}")
        if len(text) > MAX_NOTE:
            raise ValueError(f"note: text must be at most {MAX_NOTE} characters, got {len(text)}")
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"note: number must be a trial number (int), got number={number!r}")
        if self._q("SELECT 1 FROM trials WHERE study_id = ? AND number = ?", (study_id, number)).fetchone() is None:
            row = self._q("SELECT MAX(number) FROM trials WHERE study_id = ?", (study_id,)).fetchone()
            have = "no trial yet" if row[0] is None else f"trials 0 to {row[0]}"
            raise StorageError(f"note: the study has no trial {number} ({have})")
        now = time.time()
        self._q("INSERT INTO notes (study_id, trial_number, text, time) VALUES (?,?,?,?)",
                (study_id, number, text, now))
        self.commit()
        return {"trial": number, "text": text, "time": now}

    def notes(self, study_id: int, number: int | None = None) -> list[dict[str, Any]]:
        """The notes of a study (of trial ``number`` only, when given), oldest first:
        ``{"trial", "text", "time"}``."""
        if not self._has_table("notes"):  # a database older than notes, read-only
            return []
        sql, args = "SELECT trial_number, text, time FROM notes WHERE study_id = ?", (study_id,)
        if number is not None:
            sql, args = sql + " AND trial_number = ?", (study_id, number)
        return [{"trial": r[0], "text": r[1], "time": r[2]} for r in self._q(sql + " ORDER BY id", args)]

    # -- queued trials ----------------------------------------------------------------------
    def enqueue(self, study_id: int, params: dict[str, Any]) -> int:
        """Queue ``params`` (already validated; may leave parameters out) for the study's next
        run; return the queue entry's id (entries run in id order)."""
        cur = self._q("INSERT INTO queue (study_id, params, time) VALUES (?,?,?)",
                      (study_id, json.dumps(params), time.time()))
        self.commit()
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def queued(self, study_id: int) -> list[dict[str, Any]]:
        """The study's queued trials not started yet, first in first out: ``{"id", "params", "time"}``."""
        if not self._has_table("queue"):
            return []
        rows = self._q("SELECT id, params, time FROM queue WHERE study_id = ? AND trial_number IS NULL ORDER BY id",
                       (study_id,)).fetchall()
        return [{"id": r[0], "params": json.loads(r[1]), "time": r[2]} for r in rows]

    def _take_queued(self, study_id: int, queue_id: int, number: int) -> None:
        """(Inside ``add_trial``'s transaction) mark queue entry ``queue_id`` started as trial ``number``."""
        n = self._con.execute(
            "UPDATE queue SET trial_number = ? WHERE id = ? AND study_id = ? AND trial_number IS NULL",
            (number, queue_id, study_id)).rowcount
        if n != 1:
            raise StorageError(f"storage: queued trial {queue_id} of study {study_id} was already started "
                               "(or does not exist)")
