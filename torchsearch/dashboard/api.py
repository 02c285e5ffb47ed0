"""The dashboard's JSON API: plain functions from a read-only :class:`Storage` to JSON-ready data.

Every function here only reads. The HTTP layer (``server.py``) validates ids, opens the
storage read-only for each request and turns the result into a response; nothing here knows
about HTTP. Floats that are NaN or infinite become ``null`` (JSON has no NaN).

Routes (all GET, all JSON):

    /api/studies                          every study with its summary
    /api/studies/<id>                     one study: summary, space, metric names
    /api/studies/<id>/trials              one row per trial (the trial table)
    /api/studies/<id>/trials/<number>     one trial: params, every metric curve, error,
                                          traceback, its PBT lineage events, its notes
    /api/studies/<id>/curves?metric=NAME  every trial's curve of one metric (default: the
                                          study metric) and that metric's mode
    /api/studies/<id>/lineage             every PBT exploit/explore event of the study
    /api/studies/<id>/importance          each parameter's share of the study metric's
                                          variance (fANOVA, ``ts.importance``), or why not yet
"""

from __future__ import annotations

import math
import time
from typing import Any

from .._lease import study_status
from ..storage import Storage
from .._record import Trial

__all__ = ["NotFound", "route", "clean", "studies", "study", "trials", "trial", "curves", "lineage", "metric_mode",
           "importance"]

_MAX_ID = 2**53


class NotFound(LookupError):
    """The request names a study, trial or route that does not exist (HTTP 404)."""


def clean(obj: Any) -> Any:
    """``obj`` with NaN and infinities replaced by None, recursively (JSON has neither)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    return obj


def _best(trials: list[Trial], mode: str) -> Trial | None:
    done = [t for t in trials if t.state in ("completed", "stopped") and t.has_value()]
    if not done:
        return None
    if mode == "max":
        return max(done, key=lambda t: (t.value, -t.number))  # type: ignore[arg-type, return-value]
    return min(done, key=lambda t: (t.value, t.number))  # type: ignore[arg-type, return-value]


def _last_activity(s: dict[str, Any], trials: list[Trial]) -> float:
    times = [s["created"], s["ended"] or 0.0]
    for t in trials:
        times.extend(x for x in (t.started, t.ended) if x is not None)
    return max(times)


def _summary(storage: Storage, s: dict[str, Any], now: float) -> dict[str, Any]:
    trials = storage.trials(s["id"], with_metrics=False)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    best = _best(trials, s["mode"])
    status = study_status(storage, s, counts)  # running only while its coordinator's lease is live
    end = s["ended"] if s["ended"] is not None else now
    return {
        "id": s["id"], "name": s["name"], "metric": s["metric"], "mode": s["mode"],
        "scheduler": s["scheduler"], "seed": s["seed"], "status": status, "end_reason": s["end_reason"],
        "created": s["created"], "ended": s["ended"], "elapsed_s": max(0.0, end - s["created"]),
        "last_activity": _last_activity(s, trials),
        "n_trials": len(trials), "counts": counts,
        "best": None if best is None else {"number": best.number, "value": best.value, "params": best.params,
                                           "step": best.best_step},
    }


def _get_study(storage: Storage, study_id: int) -> dict[str, Any]:
    for s in storage.list_studies():
        if s["id"] == study_id:
            return s
    raise NotFound(f"no study with id {study_id}")


def studies(storage: Storage) -> list[dict[str, Any]]:
    now = time.time()
    return [_summary(storage, s, now) for s in storage.list_studies()]


def study(storage: Storage, study_id: int) -> dict[str, Any]:
    s = _get_study(storage, study_id)
    out = _summary(storage, s, time.time())
    names: set[str] = set()
    for t in storage.trials(study_id):
        names.update(t.metrics)
    out["space"] = s["space"]
    out["metrics"] = sorted(names, key=lambda n: (n != s["metric"], n))
    out["n_lineage"] = len(storage.lineage(study_id))
    return out


def _row(t: Trial, metric: str, now: float) -> dict[str, Any]:
    series = t.metrics.get(metric, {})
    steps = sorted({step for m in t.metrics.values() for step in m})
    return {
        "number": t.number, "state": t.state, "params": t.params, "value": t.value, "best_step": t.best_step,
        "last": t.last(metric), "epochs": max(series) if series else (steps[-1] if steps else None),
        "started": t.started, "ended": t.ended,
        "duration_s": t.ran_for(now) if t.ended is not None or t.state in ("running", "paused") else None,
        "stop_code": t.stop_code, "stop_reason": t.stop_reason, "error": t.error,
        "queued": t.queued, "n_notes": len(t.notes),
    }


def trials(storage: Storage, study_id: int) -> list[dict[str, Any]]:
    s = _get_study(storage, study_id)
    now = time.time()
    return [_row(t, s["metric"], now) for t in storage.trials(study_id)]


def trial(storage: Storage, study_id: int, number: int) -> dict[str, Any]:
    s = _get_study(storage, study_id)
    for t in storage.trials(study_id):
        if t.number == number:
            out = _row(t, s["metric"], time.time())
            out["metrics"] = {name: sorted(series.items()) for name, series in t.metrics.items()}
            out["traceback"] = t.traceback
            out["checkpoint"] = t.checkpoint
            out["lineage"] = storage.lineage(study_id, number)
            out["notes"] = t.notes
            return out
    raise NotFound(f"no trial {number} in study {study_id}")


#: Words in a metric's name that say lower is better, and higher is better.
_LOWER = ("loss", "error", "err", "mse", "mae", "rmse", "nll", "perplexity", "ppl", "regret", "time", "latency",
          "cost", "wer", "cer")
_HIGHER = ("acc", "accuracy", "f1", "auc", "auroc", "precision", "recall", "score", "r2", "iou", "dice", "bleu",
           "rouge", "map", "reward", "return", "top1", "top5")


def metric_mode(name: str, study_metric: str, study_mode: str) -> str | None:
    """Whether lower (``"min"``) or higher (``"max"``) is better for metric ``name``: the study's
    mode for the study's metric; for another, read from its name's words (``val_loss`` -> min,
    ``top1_acc`` -> max); None when the name does not say."""
    if name == study_metric:
        return study_mode
    words = [w for w in "".join(c if c.isalnum() else " " for c in name.lower()).split() if w]
    lower = any(w in _LOWER for w in words) or name.lower().endswith(("loss", "error"))
    higher = any(w in _HIGHER for w in words) or name.lower().endswith(("accuracy", "acc"))
    if lower == higher:
        return None
    return "min" if lower else "max"


def curves(storage: Storage, study_id: int, metric: str | None = None) -> dict[str, Any]:
    """Every trial's curve of ``metric`` (default: the study's), with ``mode``: the study's for its
    own metric, else :func:`metric_mode`'s reading of the name (None when unknown). Each curve
    has its trial's ``stop_code`` (``"pruned"``: a pruner stopped it); ``pruner``: the study's
    stored pruner (kind, args, rungs; None without one); ``rungs``: its rungs, or for a study
    stored before pruners were, the epochs where trials were pruned or wait for promotion."""
    s = _get_study(storage, study_id)
    name = metric or s["metric"]
    out = []
    rungs: set[int] = set()
    for t in storage.trials(study_id):
        series = t.metrics.get(name)
        if series:
            out.append({"number": t.number, "state": t.state, "stop_code": t.stop_code,
                        "points": sorted(series.items())})
            if t.stop_code == "pruned" or t.state == "paused":
                rungs.add(max(series))
    pruner = storage.study_pruner(study_id)
    if pruner is not None:
        rungs = set(pruner.get("rungs") or [])
    return {"metric": name, "mode": metric_mode(name, s["metric"], s["mode"]), "curves": out,
            "rungs": sorted(rungs), "pruner": pruner}


def lineage(storage: Storage, study_id: int) -> list[dict[str, Any]]:
    _get_study(storage, study_id)
    return storage.lineage(study_id)


def importance(storage: Storage, study_id: int) -> dict[str, Any]:
    """``{"metric", "shares": {param: share} | None, "why": None | str}``: :func:`torchsearch.importance`
    over the study's trials (None with the reason while fewer than two have a value)."""
    from types import SimpleNamespace

    from .._importance import importance as fanova
    from ..space import Space

    s = _get_study(storage, study_id)
    study = SimpleNamespace(trials=storage.trials(study_id, with_metrics=False), space=Space.from_dict(s["space"]),
                            mode=s["mode"], metric=s["metric"])
    try:
        shares = fanova(study, seed=0)
    except ValueError as e:
        return {"metric": s["metric"], "shares": None, "why": str(e)}
    return {"metric": s["metric"], "shares": shares, "why": None}


def _int(text: str) -> int:
    """A decimal id from a URL segment: digits only (no sign, spaces, or unicode digits)."""
    if not (0 < len(text) <= 15 and text.isascii() and text.isdigit()):
        raise NotFound(f"not an id: {text[:40]!r}")
    value = int(text)
    if value >= _MAX_ID:
        raise NotFound(f"id out of range: {text!r}")
    return value


def route(storage: Storage | None, parts: list[str], query: dict[str, list[str]]) -> Any:
    """Answer ``/api/<parts...>``; raise :class:`NotFound` for anything else.

    ``storage`` is None while the folder holds no database yet (the study has not started):
    the list of studies is then empty and every study id is unknown.
    """
    if parts == ["studies"]:
        return [] if storage is None else studies(storage)
    if len(parts) < 2 or parts[0] != "studies":
        raise NotFound("no such API route")
    sid = _int(parts[1])
    if storage is None:
        raise NotFound(f"no study with id {sid}")
    rest = parts[2:]
    if not rest:
        return study(storage, sid)
    if rest == ["trials"]:
        return trials(storage, sid)
    if len(rest) == 2 and rest[0] == "trials":
        return trial(storage, sid, _int(rest[1]))
    if rest == ["curves"]:
        metric = query.get("metric", [None])[-1]
        if metric is not None and not (0 < len(metric) <= 200):
            raise NotFound("metric name must be 1 to 200 characters")
        return curves(storage, sid, metric)
    if rest == ["lineage"]:
        return lineage(storage, sid)
    if rest == ["importance"]:
        return importance(storage, sid)
    raise NotFound("no such API route")
