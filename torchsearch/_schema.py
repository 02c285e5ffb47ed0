"""The SQLite schema of a study folder's ``study.db`` (see :class:`torchsearch.storage.Storage`)."""

from __future__ import annotations

from pathlib import Path

from .exceptions import StorageError

__all__ = ["SCHEMA_VERSION", "DB_NAME", "SCHEMA_SQL", "ADDED_COLUMNS", "MIGRATIONS", "check_version"]

#: 2: the ``leases`` table (one coordinator per study)
#: 3: ``notes`` (a person's notes on trials), ``queue`` (trials queued by hand, see
#: ``Study.enqueue``) and ``trials.queued``
SCHEMA_VERSION = 3
DB_NAME = "study.db"

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    id INTEGER PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    metric TEXT NOT NULL,
    mode TEXT NOT NULL,
    space TEXT NOT NULL,
    scheduler TEXT,
    seed INTEGER,
    created REAL NOT NULL,
    ended REAL,
    end_reason TEXT,
    pruner TEXT
);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY,
    study_id INTEGER NOT NULL REFERENCES studies(id),
    number INTEGER NOT NULL,
    state TEXT NOT NULL,
    params TEXT NOT NULL,
    value REAL,
    best_step INTEGER,
    started REAL,
    ended REAL,
    error TEXT,
    traceback TEXT,
    stop_code TEXT,
    stop_reason TEXT,
    checkpoint TEXT,
    queued INTEGER,
    paused_at REAL,
    paused_s REAL,
    UNIQUE (study_id, number)
);
CREATE TABLE IF NOT EXISTS reports (
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    step INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    time REAL NOT NULL,
    PRIMARY KEY (trial_id, step, name)
);
CREATE TABLE IF NOT EXISTS lineage (
    id INTEGER PRIMARY KEY,
    study_id INTEGER NOT NULL REFERENCES studies(id),
    trial_number INTEGER NOT NULL,
    step INTEGER NOT NULL,
    donor_number INTEGER,
    donor_step INTEGER,
    old_params TEXT NOT NULL,
    new_params TEXT NOT NULL,
    operations TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    study_id INTEGER PRIMARY KEY REFERENCES studies(id),
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_started TEXT,
    token TEXT NOT NULL,
    since REAL NOT NULL,
    heartbeat REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY,
    study_id INTEGER NOT NULL REFERENCES studies(id),
    trial_number INTEGER NOT NULL,
    text TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_by_study ON notes (study_id, trial_number);
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY,
    study_id INTEGER NOT NULL REFERENCES studies(id),
    params TEXT NOT NULL,
    time REAL NOT NULL,
    trial_number INTEGER
);
CREATE INDEX IF NOT EXISTS trials_by_study ON trials (study_id, number);
CREATE INDEX IF NOT EXISTS lineage_by_study ON lineage (study_id, trial_number);
"""

#: Nullable columns added to a table after it was first released: added to an older database
#: (of any version) when it is opened for writing; a reader of an older one sees NULL.
#: ``lineage.donor_step``: the step of the donor's state an exploit copied (the member goes on
#: from there); ``torchsearch._lineage.schedule`` reads it.
#: ``trials.queued``: 1 for a trial queued by hand (``Study.enqueue``, ``torchsearch enqueue``),
#: NULL for one the scheduler suggested.
#: ``trials.paused_at`` / ``trials.paused_s``: when the trial last paused (NULL while it is not
#: paused) and the seconds it spent paused before (ASHA's rungs, PBT's queue, between runs), so
#: that ``Trial.duration`` counts the time it ran, not the time it waited.
#: ``studies.pruner``: the study's pruner as JSON (``Pruner.config()``: kind, arguments, rungs),
#: NULL without one; a reopened study rebuilds it from there.
ADDED_COLUMNS = {"lineage": (("donor_step", "INTEGER"),),
                 "trials": (("queued", "INTEGER"), ("paused_at", "REAL"), ("paused_s", "REAL")),
                 "studies": (("pruner", "TEXT"),)}

#: ``version -> SQL`` that brings a database of that version to the next one. The tables of
#: ``SCHEMA_SQL`` are created first when missing (``leases`` for a version 1 database), so a
#: migration only has to say what else changes.
MIGRATIONS = {
    1: "UPDATE schema_version SET version = 2",
    2: "UPDATE schema_version SET version = 3",
}


def check_version(version: int, db: str | Path, *, writer: bool) -> None:
    """Refuse a database written by a newer torchsearch (readers and writers alike: a newer
    schema may mean anything). An older one is read as it is, and migrated by a writer
    (``writer`` says which opens it)."""
    if version > SCHEMA_VERSION:
        raise StorageError(f"storage: {str(db)!r} was written by a newer torchsearch (schema {version}, this one "
                           f"reads up to {SCHEMA_VERSION}): upgrade torchsearch "
                           "(pip install -U torchsearch) to open it")
