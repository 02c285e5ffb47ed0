"""Opening a study folder's ``study.db``: what :class:`~torchsearch.storage.Storage` checks
before it reads or writes a byte.

- A new database is created whole: schema and version row are written to a temporary file in
  the folder, which is then linked in as ``study.db`` (``os.link`` fails if another process won
  the race: its database is used). No reader, and no second coordinator, ever sees a half-made
  database, so a file that is there but empty or without our tables is not ours.
- An existing file is refused, never replaced or silently used, when it is empty (0 bytes), not
  SQLite, or SQLite without torchsearch's tables or version row; and when its schema is newer
  than this torchsearch's (``written by a newer torchsearch (schema N, this one reads up to M)``).
- A new database is refused in a folder whose ``checkpoints/`` holds files, or beside a stray
  ``study.db-wal``: its study's checkpoint names would overwrite an earlier study's files.
- Readers (CLI, dashboard) that find a database without its tables and younger than
  :data:`CREATING_GRACE` seconds get :class:`BeingCreated` (an older torchsearch creates its
  database in place): they wait or show an empty page instead of ``no such table: studies``.
- Every ``OSError`` on the way (a file where the folder should be, a folder that cannot be
  written) becomes a :class:`StorageError` naming the path and the cause; the ``study.db``
  file given where its folder belongs is answered with that folder (:func:`missing_storage`).
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import time
from pathlib import Path

from ._schema import DB_NAME, MIGRATIONS, SCHEMA_SQL, SCHEMA_VERSION, check_version
from .exceptions import StorageError

__all__ = ["BeingCreated", "CREATING_GRACE", "missing_storage", "open_writer", "open_reader"]

SQLITE_MAGIC = b"SQLite format 3\x00"
#: Seconds during which a database without its tables counts as being created by its writer.
CREATING_GRACE = 10.0
_TABLES = ("schema_version", "studies", "trials", "reports", "lineage")  # every version has these
_OURS = set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA_SQL))
_MOVE_IT = "move it away (or delete it) to start a new study in this folder"


class BeingCreated(StorageError):
    """``study.db`` exists but holds no table yet: a study is creating it right now."""


def missing_storage(path: str | os.PathLike[str]) -> str:
    """Why ``path`` is not a storage folder, for a ``path`` that holds no ``study.db``: the
    database file itself (name its folder), another file, or a folder without a database."""
    p = Path(path)
    if p.is_file() and p.name == DB_NAME:
        return (f"{str(path)!r} is the study database file, not its storage folder: pass the folder "
                f"{str(p.parent)!r} instead")
    if p.is_file():
        return f"{str(path)!r} is a file, not a storage folder (a storage folder holds {DB_NAME})"
    return f"no torchsearch storage at {str(path)!r} (expected {str(p / DB_NAME)!r})"


def _cause(e: OSError) -> str:
    where = f": {e.filename!r}" if e.filename else ""
    return f"{type(e).__name__}: {e.strerror or e}{where}"


def _young(db: Path) -> bool:
    try:
        return time.time() - db.stat().st_mtime < CREATING_GRACE
    except OSError:
        return False


def _check_file(db: Path, *, reader: bool, grace: bool = True) -> None:
    """Refuse a ``study.db`` that is not a file or not SQLite (an empty file while it is being
    created is :class:`BeingCreated` for a reader, unless ``grace`` is False)."""
    try:
        if db.is_dir():
            raise StorageError(f"storage: {str(db)!r} is a folder, not a torchsearch database; {_MOVE_IT}")
        with open(db, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise StorageError(f"storage: cannot read {str(db)!r} ({_cause(e)})") from e
    if not head:
        if reader and grace and _young(db):
            raise BeingCreated(f"storage: {str(db)!r} is empty: a study is creating it")
        raise StorageError(f"storage: {str(db)!r} is an empty file (0 bytes), not a torchsearch database; {_MOVE_IT}")
    if head != SQLITE_MAGIC:
        raise StorageError(f"storage: {str(db)!r} is not a torchsearch database (not SQLite: it starts with "
                           f"{head[:8]!r}); {_MOVE_IT}")


def _check_schema(con: sqlite3.Connection, db: Path, *, reader: bool, grace: bool = True) -> int:
    """The database's schema version, after checking it holds torchsearch's tables (a reader
    gets :class:`BeingCreated` for a young database without them, unless ``grace`` is False)."""
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [t for t in _TABLES if t not in tables]
    if missing and reader and grace and tables <= _OURS and _young(db):  # an older torchsearch creates them one by one
        raise BeingCreated(f"storage: {str(db)!r} does not hold all its tables yet: a study is creating it")
    if missing:
        held = ", ".join(sorted(tables)) or "no table"
        raise StorageError(f"storage: {str(db)!r} is a SQLite database but not a torchsearch one (it lacks the "
                           f"tables {', '.join(missing)}; it holds {held}); {_MOVE_IT}")
    row = con.execute("SELECT MAX(version) FROM schema_version").fetchone()
    if row is None or row[0] is None:
        if reader and grace and _young(db):
            raise BeingCreated(f"storage: {str(db)!r} has no schema version yet: a study is creating it")
        raise StorageError(f"storage: {str(db)!r} has no schema version: damaged, or not written by torchsearch; "
                           f"{_MOVE_IT}")
    check_version(int(row[0]), db, writer=not reader)
    return int(row[0])


def _create(folder: Path, db: Path) -> None:
    """Create ``db`` whole (schema and version row), or leave the one another process made."""
    stray = [p.name for p in (db.with_name(DB_NAME + "-wal"), db.with_name(DB_NAME + "-shm")) if p.exists()]
    if stray:
        raise StorageError(f"storage: {str(folder)!r} holds {', '.join(stray)} but no {DB_NAME}: the database was "
                           "moved or deleted; put it back, or delete those files to start a new study there")
    old = sorted(p.name for p in (folder / "checkpoints").iterdir() if not p.name.startswith("."))
    if old:
        raise StorageError(f"storage: {str(folder / 'checkpoints')!r} holds {len(old)} file(s) (e.g. {old[0]!r}) but "
                           f"{str(db)!r} does not exist: a new study would overwrite an earlier study's checkpoints; "
                           "put its study.db back, or empty checkpoints/ to start a new study there")
    tmp = folder / f".{DB_NAME}.{os.getpid()}.{secrets.token_hex(4)}.creating"
    try:
        con = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            con.executescript("BEGIN;" + SCHEMA_SQL + f"INSERT INTO schema_version (version) VALUES ({SCHEMA_VERSION});"
                              "COMMIT;")
        finally:
            con.close()
        try:
            os.link(tmp, db)  # atomic, and never replaces a database another process made meanwhile
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: a rename (the race is not guarded there)
            if not db.exists():
                os.replace(tmp, db)
    except OSError as e:
        raise StorageError(f"storage: cannot create {str(db)!r} ({_cause(e)})") from e
    finally:
        for p in (tmp, tmp.with_name(tmp.name + "-journal")):
            try:
                p.unlink(missing_ok=True)
            except OSError:
                pass


def open_writer(folder: Path) -> sqlite3.Connection:
    """A connection to ``folder/study.db`` for the study's coordinator (created when missing),
    in WAL mode, at this torchsearch's schema version (an older database is migrated)."""
    db = folder / DB_NAME
    try:
        if folder.is_file() and folder.name == DB_NAME:
            raise StorageError(f"storage: {missing_storage(folder)}")
        if folder.exists() and not folder.is_dir():
            raise StorageError(f"storage: {str(folder)!r} is a file, not a folder: give a folder path (it is created "
                               "when missing)")
        (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
        if not os.path.lexists(db):
            _create(folder, db)
    except OSError as e:
        raise StorageError(f"storage: cannot use the folder {str(folder)!r} ({_cause(e)})") from e
    _check_file(db, reader=False)
    con = sqlite3.connect(str(db), isolation_level=None, check_same_thread=False, timeout=30.0)
    try:
        _check_schema(con, db, reader=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.executescript(SCHEMA_SQL)  # tables added since the database was made (IF NOT EXISTS)
        migrate(con, db)
    except BaseException:
        con.close()
        raise
    return con


def migrate(con: sqlite3.Connection, db: Path) -> None:
    """Bring an older database up to ``SCHEMA_VERSION`` with ``_schema.MIGRATIONS``."""
    version = con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    while version in MIGRATIONS and version < SCHEMA_VERSION:
        con.execute(MIGRATIONS[version])
        version = con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        raise StorageError(f"storage: {str(db)!r} has schema version {version}; this torchsearch writes version "
                           f"{SCHEMA_VERSION} and knows no migration from {version}")


def open_reader(db: Path, *, grace: bool = True) -> sqlite3.Connection:
    """A read-only connection to ``db`` for the CLI and the dashboard, after the same checks
    (:class:`BeingCreated` while a study is making it; with ``grace=False``, the verdict on the
    file as it is now: a reader that has waited for it gives the message every later one gives)."""
    if not db.exists():
        if db.parent.is_file():  # Storage("runs/x/study.db"): the database file given as its folder
            raise StorageError(f"storage: {missing_storage(db.parent)}")
        raise StorageError(f"storage: no study database at {str(db)!r}")
    _check_file(db, reader=True, grace=grace)
    con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                          check_same_thread=False, timeout=10.0)
    try:
        _check_schema(con, db, reader=True, grace=grace)
    except BaseException:
        con.close()
        raise
    return con
