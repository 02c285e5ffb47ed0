"""Export a study for TensorBoard: every trial's metric curves and its hyperparameters (HParams).

    torchsearch export runs/digits --tensorboard tb/        # then: tensorboard --logdir tb/

Layout: ``DIR/<study>/trial-0003/`` per trial, holding the trial's reported metrics as scalars
(one point per step) and an HParams session whose metrics are ``hparam/<study metric>`` (the
trial's best value) and ``hparam/last/<name>`` (the last value of each reported metric).
Categorical parameters get their full list of choices as the HParams domain. Needs the
``tensorboard`` package (``pip install "torchsearch[tensorboard]"``).

Exporting again into the same folder replaces what the earlier export of that study wrote (its
event files), so TensorBoard draws each curve once: ``DIR/<study>/`` holds a marker,
``.torchsearch-export.json``, naming the study it holds. A ``DIR/<study>/`` that holds another
study's export, or files no export wrote, is refused and left as it is (delete it, or give
another folder). Nothing is written before every study's folder has been checked.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from pathlib import Path
from typing import Any

from ..exceptions import TorchSearchError
from ..storage import Storage

__all__ = ["export_tensorboard"]

INSTALL_HINT = 'pip install "torchsearch[tensorboard]"  (or: pip install tensorboard)'
#: The file in ``DIR/<study>/`` that says which study's export the folder holds.
MARKER = ".torchsearch-export.json"
_EVENTS = re.compile(r"events\.out\.tfevents\..+")
_RUN = re.compile(r"trial-\d{4,}")


def _writer_class() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:  # torch raises ImportError when the tensorboard package is missing
        raise TorchSearchError(f"export --tensorboard needs the tensorboard package: {INSTALL_HINT}") from e
    return SummaryWriter


def _safe_name(name: str) -> str:
    """A folder name from a study name: letters, digits, ``._-`` kept, the rest ``_``; never ``.``/``..``."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100].strip(".")
    return safe or "study"


def _hparam(v: Any) -> bool | int | float | str:
    """TensorBoard takes bool, int, float and str hyperparameters; anything else is shown as text."""
    if isinstance(v, (bool, int, float, str)):
        return v
    return "None" if v is None else str(v)


def _choice_converter(values: list[Any]) -> Any:
    """One conversion for a Choice's values and a trial's value, so the HParams domain has one type."""
    if all(isinstance(v, bool) for v in values):
        return bool
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return float
    return lambda v: v if isinstance(v, str) else str(v)


def _identity(s: dict[str, Any]) -> dict[str, Any]:
    """What the marker holds: the study's name and creation time (a copied or moved storage
    folder still holds the same study)."""
    return {"study": s["name"], "created": s["created"]}


def _described(held: Any) -> str:
    if not isinstance(held, dict) or not isinstance(held.get("created"), (int, float)):
        return repr(held)[:200]
    when = datetime.datetime.fromtimestamp(held["created"]).strftime("%Y-%m-%d %H:%M:%S")
    return f"study {held.get('study')!r} created {when}"


def _earlier_export(folder: Path, s: dict[str, Any]) -> list[Path]:
    """The event files an earlier export of study ``s`` wrote in ``folder`` (to replace); refuse
    a folder that holds another study's export or files that no export wrote."""
    if not folder.exists():
        return []
    if not folder.is_dir():
        raise TorchSearchError(f"export: {str(folder)!r} is a file, not a folder: cannot write study {s['name']!r} "
                               "there; move it away, or give another --tensorboard folder")
    marker = folder / MARKER
    if not marker.is_file():
        if not any(folder.iterdir()):
            return []
        raise TorchSearchError(f"export: {str(folder)!r} already holds files that this export did not write (no "
                               f"{MARKER} in it, e.g. an export by an older torchsearch): delete that folder to "
                               f"export study {s['name']!r} there again, or give another --tensorboard folder")
    try:
        held = json.loads(marker.read_text())
    except (OSError, ValueError) as e:
        raise TorchSearchError(f"export: cannot read {str(marker)!r} ({type(e).__name__}: {e}): delete "
                               f"{str(folder)!r}, or give another --tensorboard folder") from e
    if held != _identity(s):
        raise TorchSearchError(f"export: {str(folder)!r} holds the export of another {_described(held)}, not of "
                               f"{_described(_identity(s))}: delete that folder to export this one there, or give "
                               "another --tensorboard folder")
    return [f for run in folder.iterdir() if _RUN.fullmatch(run.name) and run.is_dir() and not run.is_symlink()
            for f in run.iterdir() if _EVENTS.fullmatch(f.name) and f.is_file() and not f.is_symlink()]


def export_tensorboard(storage: Storage, out_dir: str | Path, *, study: str | None = None) -> list[Path]:
    """Write every trial of ``study`` (default: every study) under ``out_dir``; return the run folders.

    An earlier export of the same study into ``out_dir`` is replaced (see the module docstring).
    """
    try:
        return _export(storage, Path(out_dir), study)
    except OSError as e:
        where = f": {e.filename!r}" if e.filename else ""
        raise TorchSearchError(f"export: cannot write TensorBoard logs under {str(out_dir)!r} "
                               f"({type(e).__name__}: {e.strerror or e}{where})") from e


def _export(storage: Storage, out_dir: Path, study: str | None) -> list[Path]:
    writer_cls = _writer_class()
    if out_dir.exists() and not out_dir.is_dir():
        raise TorchSearchError(f"export: the TensorBoard folder {str(out_dir)!r} is a file, not a folder: give a "
                               "folder (it is created when missing)")
    studies = storage.list_studies()
    if study is not None:
        studies = [s for s in studies if s["name"] == study]
        if not studies:
            names = ", ".join(repr(s["name"]) for s in storage.list_studies())
            raise TorchSearchError(f"no study named {study!r}; studies: {names or '(none)'}")
    runs: list[Path] = []
    used: set[str] = set()
    folders: list[Path] = []
    stale: list[Path] = []
    for s in studies:  # every folder checked before anything is written or deleted
        folder = _safe_name(s["name"])
        while folder in used:
            folder += "_"
        used.add(folder)
        folders.append(out_dir / folder)
        stale += _earlier_export(out_dir / folder, s)
    for f in stale:
        f.unlink()
    for run in {f.parent for f in stale}:
        try:
            run.rmdir()  # emptied (a trial this export does not have any more is not shown); else kept
        except OSError:
            pass
    for s, folder in zip(studies, folders):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MARKER).write_text(json.dumps(_identity(s)))
        convert = {k: _choice_converter(p["values"]) for k, p in s["space"].items() if p.get("type") == "Choice"}
        domains = {k: [convert[k](v) for v in s["space"][k]["values"]] for k in convert}
        for t in storage.trials(s["id"]):
            run = folder / f"trial-{t.number:04d}"
            metrics: dict[str, float] = {}
            if t.has_value():
                metrics[f"hparam/{s['metric']}"] = float(t.value)  # type: ignore[arg-type]
            with writer_cls(log_dir=str(run)) as w:
                for name, series in t.metrics.items():
                    for step, value in sorted(series.items()):
                        if not math.isnan(value):
                            w.add_scalar(name, value, step)
                    last = t.last(name)
                    if last is not None and not math.isnan(last):
                        metrics[f"hparam/last/{name}"] = float(last)
                hparams = {k: convert[k](v) if k in convert else _hparam(v) for k, v in t.params.items()}
                hparams["state"] = t.state
                domain = {k: v for k, v in domains.items() if k in hparams}
                domain["state"] = ["running", "completed", "stopped", "failed", "interrupted", "paused"]
                w.add_hparams(hparams, metrics, hparam_domain_discrete=domain, run_name=".")
            runs.append(run)
    return runs
