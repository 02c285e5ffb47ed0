"""Reopening a stored study: ``ts.load_study(path)`` and ``Study(storage=..., name=...)`` without
a space.

A stored study carries its space, metric, mode and seed, so reopening it needs none of them
(nor the TrialModule: reading trials, the best trial, lineage, importance, zoom and plots works
from storage alone). A reopened study does not take the study's lease until it runs (``run``,
``tune``/``optimize``, ``ask``): it may be opened while another process runs the study, to read
it, note on its trials (:meth:`~torchsearch.Study.note`) or queue trials
(:meth:`~torchsearch.Study.enqueue`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._dbfile import BeingCreated, missing_storage
from .exceptions import StorageError
from .space import Space, as_space
from .storage import DB_NAME

__all__ = ["load_study", "Resolved", "resolve", "check_reopen"]


@dataclass
class Resolved:
    """What a Study opens: its space, metric, mode, name and seed, and whether it was reopened
    from storage (no space given)."""

    space: Space
    metric: str
    mode: str
    name: str
    seed: int | None
    reopened: bool


def _names(studies: list[dict[str, Any]]) -> str:
    return ", ".join(repr(s["name"]) for s in studies)


def resolve(storage: Any, *, space: Any, metric: str | None, mode: str | None, name: str | None,
            seed: int | None) -> Resolved:
    """Fill in what a :class:`~torchsearch.Study` was not given from the stored study.

    With a ``space``: a new or existing study named ``name`` (default ``"default"``); metric and
    mode default to the stored ones, else ``"value"`` and ``"min"``. Without one: the stored
    study ``name`` (which may be left out when the storage holds one study), with its space,
    metric, mode and seed.
    """
    where = repr(str(storage.path)) if storage.path is not None else "memory"
    studies = storage.list_studies()
    row = None
    if name is not None:
        row = next((s for s in studies if s["name"] == name), None)
    elif space is None:
        if len(studies) > 1:
            raise StorageError(f"the storage {where} holds several studies ({_names(studies)}): pick one with "
                               "name=...")
        row = studies[0] if studies else None
    else:
        name = "default"
        row = next((s for s in studies if s["name"] == name), None)
    if space is None and row is None:
        if name is None:
            raise StorageError(f"the storage {where} holds no study yet: give space=... to create one")
        have = f"its studies: {_names(studies)}" if studies else "it holds no study yet"
        raise StorageError(f"no study named {name!r} in the storage {where} ({have}); to create it, use "
                           "ts.Study(space=..., storage=..., name=...) or ts.tune / ts.optimize with that name")
    if row is None:
        return Resolved(as_space(space), metric or "value", mode or "min", name, seed, False)  # type: ignore[arg-type]
    if seed is not None and row["seed"] is not None and seed != row["seed"]:
        raise StorageError(f"study {row['name']!r} in the storage {where} was created with seed={row['seed']!r}, "
                           f"got seed={seed!r}: a stored study continues with its own seed. Leave seed out (or "
                           f"give {row['seed']!r}) to continue it, or give another name=... for a run with "
                           f"seed={seed!r}")
    stored = Space.from_dict(row["space"])
    return Resolved(stored if space is None else as_space(space), metric or row["metric"], mode or row["mode"],
                    row["name"], row["seed"] if seed is None else seed, space is None)


def check_reopen(storage: Any) -> None:
    """Refuse to reopen a study (no space given) from a folder that holds no study database."""
    if storage is None or not isinstance(storage, (str, os.PathLike)):
        return
    if not (Path(storage) / DB_NAME).exists():
        raise StorageError(f"{missing_storage(storage)}: give space=... to create a study there")


def load_study(path: str | os.PathLike[str], name: str | None = None, **kwargs: Any) -> Any:
    """The study stored in the folder ``path``, with its space, metric, mode and seed.

    ``name`` may be left out when the folder holds one study (with several, the error lists
    them). Reading needs nothing else: ``trials``, ``best_trial``, ``lineage``, ``schedule``,
    ``ts.importance``, ``ts.zoom`` and ``torchsearch.plot`` work on it without the TrialModule;
    ``load_module(Cls)`` rebuilds weights. It can also be continued: ``note``, ``enqueue``, and
    ``ts.tune(Cls, study.space, storage=path, name=study.name, ...)`` (or ``study.run``), and it
    is a ``warm_start`` source for a new study.

    The study's lease is not taken until it runs, so a study that another process is running
    can be opened to read, note and queue trials.

    ``kwargs`` go to :class:`~torchsearch.Study` (``scheduler``, ``seed``, ``verbose``, ...).

    Raises:
        StorageError: no study database at ``path``, no study of that name (the error lists the
            studies there), or several studies and no ``name``.
    """
    from .study import Study

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load_study: path must be a storage folder (str or path), got path={path!r}")
    if "space" in kwargs:
        raise TypeError("load_study: the space comes from storage; to open a study with a space use "
                        "ts.Study(space=..., storage=..., name=...)")
    folder = Path(path)
    if not (folder / DB_NAME).exists():
        raise StorageError(f"load_study: {missing_storage(path)}")
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"load_study: name must be a non-empty string or None, got name={name!r}")
    try:
        return Study(storage=folder, name=name, **kwargs)
    except BeingCreated as e:  # pragma: no cover - a study creating its database this very moment
        raise StorageError(f"load_study: {e}; try again in a moment") from e
