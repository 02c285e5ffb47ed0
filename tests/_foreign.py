"""A study.db that is not ours, for the tests that check it is refused and left as it is."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def foreign_study_db(folder: Path, content: bytes | str) -> Path:
    """Write ``folder/study.db``: ``"sqlite"`` for a SQLite database of another program, else the
    given bytes (``b""``: an empty file); dated long ago, so it is not a database being created."""
    db = folder / "study.db"
    if content == "sqlite":
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE notes (x)")
        con.commit()
        con.close()
    else:
        db.write_bytes(content)
    os.utime(db, (1e9, 1e9))
    return db
