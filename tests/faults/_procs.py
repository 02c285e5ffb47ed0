"""Helpers of the fault tests: run a coordinator as its own process, watch processes in /proc,
read its database from outside."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NAMES = {"slow": "Faulty", "hang": "Faulty", "pbt": "SlowMember"}


def launch(folder: Path, kind: str, *args: str, group: bool = False) -> subprocess.Popen:
    """``python -m tests.faults.coordinator folder/s kind args...`` in a process of its own
    (``group``: leading a process group of its own, with its workers, for ``os.killpg``)."""
    env = {**os.environ, "TS_FAULT_DIR": str(folder),
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.Popen([sys.executable, "-m", "tests.faults.coordinator", str(folder / "s"), kind, *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=group)


def run(folder: Path, kind: str, *args: str) -> str:
    """Run the same command to its end; its end reason."""
    proc = launch(folder, kind, *args)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out.strip()


def wait_for(condition, what: str, limit: float = 240.0) -> None:
    """Poll ``condition`` until it holds (a state reached, not a duration measured)."""
    end = time.monotonic() + limit
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw[raw.rfind(b")") + 2:].decode().split()  # [state, ppid, ...]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a parent that does not reap it does not)."""
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def descendants(pid: int) -> dict[int, str]:
    """Every living process below ``pid``: ``{pid: command line}``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                children.setdefault(int(st[1]), []).append(int(entry))
    out, todo = {}, list(children.get(pid, []))
    while todo:
        p = todo.pop()
        if alive(p):
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    out[p] = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
        todo.extend(children.get(p, []))
    return out


def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    os.kill(proc.pid, sig)


def rows(folder: Path, sql: str, args: tuple = ()) -> list[tuple]:
    """Read the study's database from outside, as the CLI does."""
    db = folder / "s" / "study.db"
    if not db.exists():
        return []
    con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    except sqlite3.OperationalError:  # tables not there yet
        return []
    finally:
        con.close()


def states(folder: Path) -> list[str]:
    return [r[0] for r in rows(folder, "SELECT state FROM trials ORDER BY number")]


def setups(folder: Path) -> list[str]:
    """The ``pid mode`` lines trials' set-ups wrote so far."""
    path = folder / "setup"
    return path.read_text().splitlines() if path.exists() else []
