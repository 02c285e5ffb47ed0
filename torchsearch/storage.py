"""SQLite storage: studies, trials, reports, PBT lineage, and trial checkpoints.

``Storage("runs/digits")`` is a folder holding ``study.db`` (SQLite in WAL mode, with a
``schema_version`` table) and a ``checkpoints/`` folder. ``Storage(None)`` keeps everything in
memory. The coordinator is the only writer; readers (CLI, dashboard) open the database
read-only. Checkpoints are written atomically (temporary file, then rename) and loaded with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import sqlite3
import time
from pathlib import Path
from typing import Any

from ._checkpoints import FILE_MAGIC, from_bytes, read_file, to_bytes, write_file  # noqa: F401 - FILE_MAGIC re-exported
from ._handwork import HandWork
from ._leaserows import LeaseRows
from ._record import Trial
from ._dbfile import open_reader, open_writer
from ._schema import ADDED_COLUMNS, DB_NAME, SCHEMA_SQL, SCHEMA_VERSION
from .exceptions import StorageError

# FILE_MAGIC: the first bytes of a checkpoint in the wire format (see torchsearch._checkpoints).
# torch is imported only to read or write checkpoints: the CLI and the dashboard read studies
# without it.

__all__ = ["Storage", "SCHEMA_VERSION", "DB_NAME"]


def _num(v: Any) -> float | None:
    """A float for SQLite (NaN is stored as NULL)."""
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


class Storage(HandWork, LeaseRows):
    """One study folder (or memory). Methods are the coordinator's (notes and queued trials,
    from :class:`~torchsearch._handwork.HandWork`, are anyone's); readers use ``readonly=True``."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, readonly: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self.readonly = readonly
        self._memory_checkpoints: dict[str, bytes] = {}
        self._tids: dict[tuple[int, int], int] = {}
        self._group: float | None = None  # group_commits: seconds a write may wait for its commit
        self._since = 0.0                 # when the open group began
        try:
            if self.path is None:
                self.db_path = None
                self._con = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            else:  # _dbfile refuses empty, foreign and newer files, creates a new one whole, migrates
                self.db_path = self.path / DB_NAME
                self._con = open_reader(self.db_path) if readonly else open_writer(self.path)
            self._con.execute("PRAGMA busy_timeout=10000")
            if self.path is None:
                self._con.executescript(SCHEMA_SQL)
                self._con.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            if not readonly:
                for table, columns in ADDED_COLUMNS.items():  # a database written before they existed
                    for name, kind in columns:
                        if not self._has_column(table, name):
                            try:
                                self._con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                            except sqlite3.OperationalError as e:  # another writer added it meanwhile
                                if "duplicate column" not in str(e):
                                    raise
        except sqlite3.Error as e:
            raise StorageError(f"storage: cannot open {str(self.path or ':memory:')!r}: {e}") from e

    # -- helpers ----------------------------------------------------------------------------
    def _q(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        try:
            if self._group is not None and sql[0] != "S":  # a write (every read here starts with SELECT)
                self._begin()
            return self._con.execute(sql, args)
        except sqlite3.Error as e:
            raise StorageError(f"storage: {e} (while running {sql.split()[0]} on {self.db_path or ':memory:'})") from e

    def _has_column(self, table: str, column: str) -> bool:
        return self._con.execute("SELECT 1 FROM pragma_table_info(?) WHERE name = ?", (table, column)).fetchone() \
            is not None

    def close(self) -> None:
        self.commit()
        self._con.close()

    # -- grouped commits --------------------------------------------------------------------
    def group_commits(self, max_delay: float | None) -> None:
        """Commit writes together, at most ``max_delay`` seconds after the first of a group
        (``None``, the default: every write commits at once). Pending writes are committed first.

        The :class:`~torchsearch.executors.Processes` coordinator groups its writes while a study
        runs (a PBT report costs ~60 us committed alone, ~6 us in a group) and calls
        :meth:`commit_due` between messages. This process reads its own writes at once; readers
        in other processes (the dashboard, the CLI) see them up to ``max_delay`` late, and a
        crash of this process loses at most that much.
        """
        if max_delay is not None and not (isinstance(max_delay, (int, float)) and max_delay >= 0):
            raise ValueError(f"Storage.group_commits: max_delay must be seconds >= 0 or None, got {max_delay!r}")
        self.commit()
        self._group = None if max_delay is None else float(max_delay)

    def _begin(self) -> None:
        if not self._con.in_transaction:
            self._con.execute("BEGIN")
            self._since = time.monotonic()

    def commit(self) -> None:
        """Commit grouped writes now (nothing to do when none are pending)."""
        if self._con.in_transaction:
            try:
                self._con.execute("COMMIT")
            except sqlite3.Error as e:
                raise StorageError(f"storage: cannot commit to {self.db_path or ':memory:'}: {e}") from e

    def commit_due(self) -> float | None:
        """Commit the grouped writes whose time has come; return the seconds until the pending
        ones are due, or None when nothing is pending."""
        if self._group is None or not self._con.in_transaction:
            return None
        left = self._since + self._group - time.monotonic()
        if left > 0:
            return left
        self.commit()
        return None

    # -- studies ----------------------------------------------------------------------------
    def get_or_create_study(self, name: str, *, metric: str, mode: str, space: dict[str, Any],
                            scheduler: str, seed: int | None) -> int:
        """The id of study ``name``, created if new. A stored study must match metric, mode, space;
        it records ``scheduler`` as the one its latest run uses."""
        row = self._q("SELECT id, metric, mode, space FROM studies WHERE name = ?", (name,)).fetchone()
        if row is None:
            cur = self._q(
                "INSERT INTO studies (name, metric, mode, space, scheduler, seed, created) VALUES (?,?,?,?,?,?,?)",
                (name, metric, mode, json.dumps(space), scheduler, seed, time.time()),
            )
            return int(cur.lastrowid)  # type: ignore[arg-type]
        sid, m, md, sp = row
        diffs = []
        if m != metric:
            diffs.append(f"metric {m!r} (now {metric!r})")
        if md != mode:
            diffs.append(f"mode {md!r} (now {mode!r})")
        if json.loads(sp) != json.loads(json.dumps(space)):
            diffs.append(f"space {sp} (now {json.dumps(space)})")
        if diffs:
            raise StorageError(
                f"study {name!r} in {str(self.path)!r} was created with " + ", ".join(diffs)
                + "; use another study name (name=...) or another storage folder"
            )
        # (it runs again: not ended, and its scheduler is the one this run uses)
        self._q("UPDATE studies SET ended = NULL, end_reason = NULL, scheduler = ? WHERE id = ?", (scheduler, sid))
        return int(sid)

    def study_pruner(self, study_id: int) -> dict[str, Any] | None:
        """The pruner study ``study_id`` runs with (``Pruner.config()``), None without one (or in
        a database written before pruners were stored)."""
        if not self._has_column("studies", "pruner"):
            return None
        row = self._q("SELECT pruner FROM studies WHERE id = ?", (study_id,)).fetchone()
        return None if row is None or row[0] is None else json.loads(row[0])

    def set_study_pruner(self, study_id: int, config: dict[str, Any]) -> None:
        """Store the study's pruner, once (a stored one is kept)."""
        self._q("UPDATE studies SET pruner = ? WHERE id = ? AND pruner IS NULL", (json.dumps(config), study_id))

    def end_study(self, study_id: int, reason: str) -> None:
        self._q("UPDATE studies SET ended = ?, end_reason = ? WHERE id = ?", (time.time(), reason, study_id))

    def study_id(self, name: str) -> int:
        row = self._q("SELECT id FROM studies WHERE name = ?", (name,)).fetchone()
        if row is None:
            names = [r["name"] for r in self.list_studies()]
            raise StorageError(f"no study named {name!r} in {str(self.path or ':memory:')!r}; studies: {names}")
        return int(row[0])

    def list_studies(self) -> list[dict[str, Any]]:
        rows = self._q(
            "SELECT s.id, s.name, s.metric, s.mode, s.space, s.scheduler, s.seed, s.created, s.ended, s.end_reason, "
            "(SELECT COUNT(*) FROM trials t WHERE t.study_id = s.id) FROM studies s ORDER BY s.id"
        ).fetchall()
        keys = ["id", "name", "metric", "mode", "space", "scheduler", "seed", "created", "ended", "end_reason",
                "n_trials"]
        out = []
        for r in rows:
            d = dict(zip(keys, r))
            d["space"] = json.loads(d["space"])
            out.append(d)
        return out

    def get_study(self, study_id: int) -> dict[str, Any]:
        for s in self.list_studies():
            if s["id"] == study_id:
                return s
        raise StorageError(f"no study with id {study_id}")

    # -- trials -----------------------------------------------------------------------------
    def add_trial(self, study_id: int, params: dict[str, Any], *, state: str = "running",
                  queued: int | None = None) -> int:
        """Insert a trial with the next number; return its number. ``queued``: the id of the
        queue entry it runs (see :meth:`enqueue`), marked taken in the same transaction."""
        self.commit()  # a grouped transaction ends here: numbering needs its own, with the write lock
        try:
            self._con.execute("BEGIN IMMEDIATE")
            row = self._con.execute("SELECT MAX(number) FROM trials WHERE study_id = ?", (study_id,)).fetchone()
            number = 0 if row[0] is None else row[0] + 1
            self._con.execute(
                "INSERT INTO trials (study_id, number, state, params, started, queued) VALUES (?,?,?,?,?,?)",
                (study_id, number, state, json.dumps(params), time.time(), None if queued is None else 1),
            )
            if queued is not None:
                self._take_queued(study_id, queued, number)
            self._con.execute("COMMIT")
        except (sqlite3.Error, StorageError) as e:
            if self._con.in_transaction:
                self._con.execute("ROLLBACK")
            if isinstance(e, StorageError):
                raise
            raise StorageError(f"storage: cannot add a trial: {e}") from e
        return number

    def _tid(self, study_id: int, number: int) -> int:
        """The row id of a trial (cached: the report path asks for it at every evaluation)."""
        tid = self._tids.get((study_id, number))
        if tid is None:
            row = self._q("SELECT id FROM trials WHERE study_id = ? AND number = ?", (study_id, number)).fetchone()
            if row is None:
                raise StorageError(f"no trial {number} in study {study_id}")
            tid = self._tids[(study_id, number)] = int(row[0])
        return tid

    def add_report(self, study_id: int, number: int, step: int, metrics: dict[str, float]) -> None:
        tid = self._tid(study_id, number)
        now = time.time()
        try:
            if self._group is not None:
                self._begin()
            self._con.executemany(
                "INSERT OR REPLACE INTO reports (trial_id, step, name, value, time) VALUES (?,?,?,?,?)",
                [(tid, int(step), str(k), _num(v), now) for k, v in metrics.items()],
            )
        except sqlite3.Error as e:
            raise StorageError(f"storage: cannot store the report of trial {number}: {e}") from e

    def update_trial(self, study_id: int, number: int, **fields: Any) -> None:
        """Set columns of a trial (state, value, best_step, ended, error, traceback, stop_code...)."""
        allowed = {"state", "params", "value", "best_step", "started", "ended", "error", "traceback", "stop_code",
                   "stop_reason", "checkpoint"}
        bad = set(fields) - allowed
        if bad:
            raise StorageError(f"update_trial: unknown fields {sorted(bad)}; allowed: {sorted(allowed)}")
        if "params" in fields:
            fields["params"] = json.dumps(fields["params"])
        if "value" in fields:
            fields["value"] = _num(fields["value"])
        cols = ", ".join(f"{k} = ?" for k in fields)
        args: tuple[Any, ...] = tuple(fields.values())
        if "state" in fields:  # a pause starts, or ends (resumed or finished): its time is kept apart
            now = fields.get("ended") or time.time()
            if fields["state"] == "paused":
                cols += ", paused_at = COALESCE(paused_at, ?)"
                args += (now,)
            else:
                cols += (", paused_s = CASE WHEN paused_at IS NULL THEN paused_s "
                         "ELSE COALESCE(paused_s, 0) + MAX(0, ? - paused_at) END, paused_at = NULL")
                args += (now,)
        self._q(f"UPDATE trials SET {cols} WHERE study_id = ? AND number = ?", (*args, study_id, number))

    def trials(self, study_id: int, *, with_metrics: bool = True, number: int | None = None) -> list[Trial]:
        """The study's trials in order (only trial ``number`` when given), with their reports
        (and notes, unless ``with_metrics=False``)."""
        where, args = "t.study_id = ?", (study_id,)
        if number is not None:
            where, args = "t.study_id = ? AND t.number = ?", (study_id, number)
        rows = self._q(
            "SELECT id, number, state, params, value, best_step, started, ended, error, traceback, stop_code, "
            f"stop_reason, checkpoint, {'queued' if self._has_column('trials', 'queued') else 'NULL'}, "
            f"{'paused_at, paused_s' if self._has_column('trials', 'paused_s') else 'NULL, NULL'} "
            f"FROM trials t WHERE {where} ORDER BY number", args
        ).fetchall()
        metrics: dict[int, dict[str, dict[int, float]]] = {}
        if with_metrics:
            for tid, step, name, value in self._q(
                "SELECT r.trial_id, r.step, r.name, r.value FROM reports r JOIN trials t ON t.id = r.trial_id "
                f"WHERE {where} ORDER BY r.step", args
            ):
                metrics.setdefault(tid, {}).setdefault(name, {})[step] = math.nan if value is None else value
        notes: dict[int, list[dict[str, Any]]] = {}
        if with_metrics:
            for n in self.notes(study_id, number):
                notes.setdefault(n["trial"], []).append({"text": n["text"], "time": n["time"]})
        out = []
        for r in rows:
            out.append(Trial(
                number=r[1], state=r[2], params=json.loads(r[3]), value=r[4], best_step=r[5], started=r[6],
                ended=r[7], error=r[8], traceback=r[9], stop_code=r[10], stop_reason=r[11], checkpoint=r[12],
                queued=bool(r[13]), paused_at=r[14], paused_s=r[15] or 0.0, metrics=metrics.get(r[0], {}),
                notes=notes.get(r[1], []),
            ))
        return out

    def trial(self, study_id: int, number: int) -> Trial:
        found = self.trials(study_id, number=number)
        if not found:
            raise StorageError(f"no trial {number} in study {study_id}")
        return found[0]

    def best_number(self, study_id: int, mode: str) -> int | None:
        """The number of the completed or stopped trial with the best value (ties: the earliest)."""
        order = "ASC" if mode == "min" else "DESC"
        row = self._q(
            "SELECT number FROM trials WHERE study_id = ? AND state IN ('completed', 'stopped') AND value IS NOT NULL "
            f"ORDER BY value {order}, number ASC LIMIT 1", (study_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def count_trials(self, study_id: int, states: tuple[str, ...]) -> int:
        marks = ",".join("?" * len(states))
        row = self._q(f"SELECT COUNT(*) FROM trials WHERE study_id = ? AND state IN ({marks})",
                      (study_id, *states)).fetchone()
        return int(row[0])

    # -- lineage (PBT) ----------------------------------------------------------------------
    def add_lineage(self, study_id: int, number: int, step: int, donor: int | None, old_params: dict[str, Any],
                    new_params: dict[str, Any], operations: list[str] | tuple[str, ...], *,
                    donor_step: int | None = None) -> None:
        """Trial ``number`` exploited at its ``step``: took ``donor``'s state at ``donor_step``."""
        self._q(
            "INSERT INTO lineage (study_id, trial_number, step, donor_number, old_params, new_params, operations, "
            "time, donor_step) VALUES (?,?,?,?,?,?,?,?,?)",
            (study_id, number, int(step), donor, json.dumps(old_params), json.dumps(new_params),
             json.dumps(list(operations)), time.time(), None if donor_step is None else int(donor_step)),
        )

    def lineage(self, study_id: int, number: int | None = None) -> list[dict[str, Any]]:
        """Exploits in order: ``trial, step, donor, donor_step`` (None in a database written before
        that column), ``old_params, new_params, operations, time``."""
        donor_step = "donor_step" if self._has_column("lineage", "donor_step") else "NULL"
        sql = (f"SELECT trial_number, step, donor_number, old_params, new_params, operations, time, {donor_step} "
               "FROM lineage WHERE study_id = ?")
        args: tuple[Any, ...] = (study_id,)
        if number is not None:
            sql += " AND trial_number = ?"
            args += (number,)
        rows = self._q(sql + " ORDER BY id", args).fetchall()
        return [
            {"trial": r[0], "step": r[1], "donor": r[2], "donor_step": r[7], "old_params": json.loads(r[3]),
             "new_params": json.loads(r[4]), "operations": json.loads(r[5]), "time": r[6]}
            for r in rows
        ]

    # -- checkpoints ------------------------------------------------------------------------
    def save_checkpoint(self, key: str, state: dict[str, Any] | bytes) -> str:
        """Write ``state`` atomically under ``checkpoints/<key>.pt`` (or memory); return its key.

        ``state`` may also be the bytes of an already serialized state: ``torch.save`` output, or
        :data:`FILE_MAGIC` followed by the wire format (PBT's durable copies,
        written without decoding what a worker sent)."""
        if self.path is None:
            self._memory_checkpoints[key] = to_bytes(state)
            return key
        target = self.path / "checkpoints" / f"{key}.pt"
        try:
            write_file(target, state)
        except (OSError, RuntimeError) as e:
            raise StorageError(f"storage: cannot write checkpoint {str(target)!r}: {e}") from e
        return key

    def load_checkpoint(self, key: str) -> dict[str, Any]:
        try:
            if self.path is None:
                if key not in self._memory_checkpoints:
                    raise StorageError(f"storage: no checkpoint {key!r} in memory")
                return from_bytes(self._memory_checkpoints[key], f"checkpoint {key!r} (in memory)")
            target = self.path / "checkpoints" / f"{key}.pt"
            return read_file(target)
        except (OSError, RuntimeError, EOFError, ValueError, IndexError, pickle.UnpicklingError) as e:
            where = key if self.path is None else str(target)
            raise StorageError(f"storage: cannot read checkpoint {where!r} ({type(e).__name__}: {e})") from e

    def delete_checkpoint(self, key: str) -> None:
        if self.path is None:
            self._memory_checkpoints.pop(key, None)
            return
        try:
            (self.path / "checkpoints" / f"{key}.pt").unlink(missing_ok=True)
        except OSError:
            pass
