"""Export a study for TensorBoard: every trial's metric curves and its hyperparameters (HParams).

    torchsearch export runs/digits --tensorboard tb/        # then: tensorboard --logdir tb/

Layout: ``DIR/<study>/trial-0003/`` per trial, holding the trial's reported metrics as scalars
(one point per step) and an HParams session whose metrics are ``hparam/<study metric>`` (the
trial's best value) and ``hparam/last/<name>`` (the last value of each reported metric).
Categorical parameters get their full list of choices as the HParams domain. Needs the
``tensorboard`` package (``pip install "torchsearch[tensorboard]"``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from ..exceptions import TorchSearchError
from ..storage import Storage

__all__ = ["export_tensorboard"]

INSTALL_HINT = 'pip install "torchsearch[tensorboard]"  (or: pip install tensorboard)'


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


def export_tensorboard(storage: Storage, out_dir: str | Path, *, study: str | None = None) -> list[Path]:
    """Write every trial of ``study`` (default: every study) under ``out_dir``; return the run folders."""
    writer_cls = _writer_class()
    studies = storage.list_studies()
    if study is not None:
        studies = [s for s in studies if s["name"] == study]
        if not studies:
            names = ", ".join(repr(s["name"]) for s in storage.list_studies())
            raise TorchSearchError(f"no study named {study!r}; studies: {names or '(none)'}")
    runs: list[Path] = []
    used: set[str] = set()
    for s in studies:
        folder = _safe_name(s["name"])
        while folder in used:
            folder += "_"
        used.add(folder)
        convert = {k: _choice_converter(p["values"]) for k, p in s["space"].items() if p.get("type") == "Choice"}
        domains = {k: [convert[k](v) for v in s["space"][k]["values"]] for k in convert}
        for t in storage.trials(s["id"]):
            run = Path(out_dir) / folder / f"trial-{t.number:04d}"
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
