"""Warm start: what earlier studies learned, handed to a new study's scheduler before it suggests.

``warm_start=`` (on :func:`~torchsearch.tune`, :func:`~torchsearch.optimize` and
:class:`~torchsearch.Study`) takes a study (as :func:`~torchsearch.load_study` returns it, or
any object with ``.trials``, ``.metric`` and ``.mode``), a storage folder, or a list of them.
Their finished trials (``completed`` or ``stopped``, with a finite value) whose params lie inside
the new space become *observations* ``(params, value)``; the scheduler takes them through
:meth:`~torchsearch.schedulers.Scheduler.warm_start` (Bayes and TPE learn from them; Random,
Grid and PBT ignore them). A trial outside the new space (a value the zoomed range cut off, a
category dropped, a parameter missing) is left out; parameters the new space no longer has are
ignored. The same configuration seen several times counts once, with the mean of its values.

Nothing here writes storage: the sources are only read (a folder is opened read-only, and no
lease is taken, so a study still running elsewhere can be a source).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .exceptions import SpaceError, StorageError
from .space import Space

__all__ = ["Observation", "observations", "describe_sources"]

#: ``(params, value)``: a finished trial of an earlier study, params inside the new space,
#: value as that study reported it (the new study's mode applies).
Observation = tuple[dict[str, Any], float]

_VALUED = ("completed", "stopped")


def _as_list(warm_start: Any) -> list[Any]:
    if warm_start is None:
        return []
    if isinstance(warm_start, (str, os.PathLike)) or not isinstance(warm_start, Sequence):
        return [warm_start]
    return list(warm_start)


class _Stored:
    """A study read from a storage folder: its trials, metric and mode (no lease, read-only)."""

    def __init__(self, storage: Any, row: Mapping[str, Any]) -> None:
        self.name, self.metric, self.mode = row["name"], row["metric"], row["mode"]
        self._storage, self._id = storage, row["id"]
        self.where = f"study {self.name!r} in {str(storage.path)!r}"

    @property
    def trials(self) -> list[Any]:
        return self._storage.trials(self._id, with_metrics=False)


def _open(source: Any, name: str | None, itself: tuple[str, str] | None = None) -> Any:
    """``source`` as an object with ``trials``, ``metric``, ``mode`` (and ``where`` for messages).

    A folder is read for its one study other than ``itself`` (the new study, which may already
    be stored there); where several others remain, the one named ``name`` (an earlier run of
    this study stored elsewhere)."""
    from .storage import Storage

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not (path / "study.db").exists():
            raise ValueError(f"warm_start: {str(source)!r} is not a torchsearch storage folder (no study.db in it)")
        try:
            storage = Storage(path, readonly=True)
        except TypeError:  # pragma: no cover - a Storage without read-only mode
            storage = Storage(path)
    elif isinstance(source, Storage):
        storage = source
    else:
        if not all(hasattr(source, a) for a in ("trials", "metric", "mode")):
            raise TypeError(f"warm_start: expected a study (with .trials, .metric and .mode), a storage folder or a "
                            f"list of them, got {source!r}")
        return source
    studies = storage.list_studies()
    if not studies:
        raise ValueError(f"warm_start: the storage {str(storage.path)!r} holds no study")
    here = str(Path(storage.path).resolve())
    others = [s for s in studies if itself is None or (here, str(s["name"])) != itself]
    if not others:  # the folder holds the new study alone: the caller skips it, saying so
        return _Stored(storage, studies[0])
    if len(others) > 1:
        named = [s for s in others if s["name"] == name]
        if not named:
            this = f" besides this study {itself[1]!r}" if len(others) < len(studies) and itself else ""
            raise ValueError(f"warm_start: the storage {str(storage.path)!r} holds several studies{this} "
                             f"{sorted(s['name'] for s in others)}, none named {name!r}; pass "
                             "ts.load_study(path, name=...) instead of the path")
        others = named
    return _Stored(storage, others[0])


def _where(source: Any) -> str:
    where = getattr(source, "where", None)
    if where:
        return where
    name = getattr(source, "name", None)
    storage = getattr(source, "storage", None)
    path = getattr(storage, "path", None)
    return f"study {name!r}" + (f" in {str(path)!r}" if path is not None else "")


def _identity(source: Any) -> tuple[str, str] | None:
    """(folder, name) of a stored source, to recognise the study warm-starting itself."""
    storage = getattr(source, "storage", None) or getattr(source, "_storage", None)
    path = getattr(storage, "path", None)
    name = getattr(source, "name", None)
    if path is None or name is None:
        return None
    return str(Path(path).resolve()), str(name)


def observations(warm_start: Any, space: Space, *, metric: str, mode: str, name: str | None = None,
                 itself: tuple[str, str] | None = None) -> tuple[list[Observation], list[str]]:
    """The observations the sources in ``warm_start`` give a study over ``space``.

    ``metric`` and ``mode`` are the new study's: a source that optimises another metric, or the
    same one the other way, is refused (its values would teach the opposite). ``name``: the new
    study's name, which picks the study in a folder holding several. ``itself``: the new study's
    ``(folder, name)``; a source that is the study itself is skipped (its trials are its own).

    Returns the observations and one line per source saying how many of its trials were used.
    """
    out: dict[str, list[Any]] = {}
    lines: list[str] = []
    for source in _as_list(warm_start):
        study = _open(source, name, itself)
        where = _where(study)
        ident = _identity(study)
        if itself is not None and ident is not None and ident == itself:
            lines.append(f"{where}: skipped (it is this study)")
            continue
        if study.metric != metric:
            raise ValueError(f"warm_start: {where} optimises metric {study.metric!r}, this study {metric!r}; "
                             "only a study of the same metric can warm-start it")
        if study.mode != mode:
            raise ValueError(f"warm_start: {where} has mode={study.mode!r}, this study mode={mode!r}; "
                             "its values would teach the opposite")
        try:
            trials = study.trials
        except StorageError as e:
            raise StorageError(f"warm_start: cannot read the trials of {where}: {e}") from e
        valued = used = 0
        for t in trials:
            value = t.value
            if t.state not in _VALUED or value is None or not math.isfinite(value):
                continue
            valued += 1
            try:
                params = space.validate({k: v for k, v in t.params.items() if k in space})
            except SpaceError:
                continue  # outside the new space
            used += 1
            out.setdefault(space.key(params), [params, []])[1].append(float(value))
        lines.append(f"{where}: {used} of its {valued} finished trials lie inside the space")
    return [(params, sum(vs) / len(vs)) for params, vs in out.values()], lines


def describe_sources(lines: list[str]) -> str:
    return "warm start: " + "; ".join(lines)
