"""The ``torchsearch`` command: look at stored studies.

    torchsearch studies PATH                 every study in a storage folder
    torchsearch trials PATH [--study NAME]   every trial of a study
    torchsearch best PATH [--study NAME]     the best trial of a study
    torchsearch dashboard PATH [--port 8080] [--host 127.0.0.1]   a live web page over the folder
    torchsearch export PATH --tensorboard DIR [--study NAME]      TensorBoard HParams logs
    torchsearch lineage PATH [--study NAME] [--trial N]  PBT exploits (and trial N's schedule)
    torchsearch note PATH N "text" [--study NAME]         add a note to trial N
    torchsearch enqueue PATH [--study NAME] key=value ... queue a trial for the next run

Each reading command takes ``--format table|json|csv`` and opens the database read-only.
``note`` and ``enqueue`` write (they need no lease: the study may be running meanwhile).
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

from ._dbfile import BeingCreated, missing_storage, open_reader
from .exceptions import TorchSearchError
from ._lease import study_status
from .storage import DB_NAME, Storage
from ._record import Trial, TrialState

__all__ = ["main"]

#: The ``trials --state`` (and row state) of a trial queued by hand that has not started yet.
QUEUED = "queued"
#: How long a command waits for a database that a starting study is creating (seconds).
CREATING_WAIT = 5.0
_clock, _sleep = time.monotonic, time.sleep  # replaced by tests (no real waiting there)


def _open(path: str) -> Storage:
    """The storage at ``path``, read-only. A database written by a newer torchsearch, or a file
    that is not a torchsearch database, is refused by :class:`Storage`; one being created by a
    starting study is waited for, up to :data:`CREATING_WAIT` seconds. A database still not
    whole after that wait is judged as it is then, so every command gives the same message for
    it, whenever it runs (an empty file: ``is an empty file (0 bytes)``)."""
    p = Path(path)
    if not (p / DB_NAME).exists():
        raise TorchSearchError(missing_storage(path))
    deadline = _clock() + CREATING_WAIT
    while True:
        try:
            return Storage(p, readonly=True)
        except BeingCreated:
            if _clock() >= deadline:
                open_reader(p / DB_NAME, grace=False).close()  # raises the verdict on the file as it is now
                continue  # it became whole at this moment
            _sleep(0.2)


def _study(storage: Storage, name: str | None) -> dict[str, Any]:
    studies = storage.list_studies()
    if not studies:
        raise TorchSearchError(f"storage {str(storage.path)!r} holds no study yet")
    if name is None:
        if len(studies) > 1:
            names = ", ".join(repr(s["name"]) for s in studies)
            raise TorchSearchError(f"storage holds several studies ({names}): pick one with --study NAME")
        return studies[0]
    for s in studies:
        if s["name"] == name:
            return s
    names = ", ".join(repr(s["name"]) for s in studies)
    raise TorchSearchError(f"no study named {name!r}; studies: {names}")


def _fmt_time(t: float | None) -> str:
    return "" if t is None else _dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def _trial_row(t: Trial, metric: str, *, fmt: str = "table") -> dict[str, Any]:
    row: dict[str, Any] = {"number": t.number, "state": t.state, "value": t.value, "best_step": t.best_step}
    row.update({f"params.{k}": v for k, v in t.params.items()})
    row["last"] = t.last(metric)
    row["epochs"] = max(t.metrics.get(metric, {}), default=None)
    row["duration_s"] = None if t.duration is None else round(t.duration, 3)  # time run, pauses left out
    if fmt == "json":
        row["paused_s"] = round(t.paused_s, 3)
    row["stop_code"] = t.stop_code  # "pruned" for a trial a pruner stopped (its epochs: the rung it reached)
    row["stop_reason"] = t.stop_reason
    row["error"] = t.error
    row["queued"] = t.queued if fmt == "json" else ("by hand" if t.queued else None)
    if fmt == "json":
        row["notes"] = t.notes
    else:
        row["notes"] = " | ".join(n["text"] for n in t.notes) or None
    return row


def _emit(rows: list[dict[str, Any]], fmt: str, out: Any, *, as_object: bool = False) -> None:
    if fmt == "json":
        json.dump(rows[0] if as_object and rows else rows, out, indent=2, default=str)
        out.write("\n")
        return
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    if fmt == "csv":
        w = csv.DictWriter(out, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if r.get(k) is None else r.get(k) for k in cols})
        return
    if not rows:
        out.write("(none)\n")
        return
    cells = [[_fmt(r.get(c)).replace("\n", " ")[:80] for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    out.write("  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip() + "\n")
    for row in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() + "\n")


def _cmd_studies(args: argparse.Namespace, out: Any) -> int:
    storage = _open(args.path)
    rows = []
    for s in storage.list_studies():
        trials = storage.trials(s["id"], with_metrics=False)
        counts: dict[str, int] = {}
        for t in trials:
            counts[t.state] = counts.get(t.state, 0) + 1
        done = [t for t in trials if t.state in ("completed", "stopped") and t.has_value()]
        best = None
        if done:
            best = (min if s["mode"] == "min" else max)(done, key=lambda t: t.value)  # type: ignore[arg-type]
        rows.append({
            "name": s["name"], "status": study_status(storage, s, counts), "metric": s["metric"], "mode": s["mode"],
            "scheduler": s["scheduler"],
            "trials": len(trials), **{k: counts.get(k, 0) for k in ("completed", "stopped", "failed")},
            "best_value": None if best is None else best.value,
            "best_trial": None if best is None else best.number,
            "created": _fmt_time(s["created"]), "end_reason": s["end_reason"],
        })
    _emit(rows, args.format, out)
    return 0


def _queued_row(q: dict[str, Any], space: Sequence[str], *, fmt: str) -> dict[str, Any]:
    """A trial queued by hand and not started yet, with a trial row's columns: state ``queued``,
    no number yet, the params given (those left out are picked by the scheduler when it starts)."""
    row: dict[str, Any] = {"number": None, "state": "queued", "value": None, "best_step": None}
    row.update({f"params.{k}": q["params"][k] for k in space if k in q["params"]})
    row.update({"last": None, "epochs": None, "duration_s": None})
    if fmt == "json":
        row["paused_s"] = None
    row.update({"stop_code": None, "stop_reason": None, "error": None,
                "queued": True if fmt == "json" else "by hand", "notes": [] if fmt == "json" else None,
                "queued_at": _fmt_time(q["time"])})
    return row


def _cmd_trials(args: argparse.Namespace, out: Any) -> int:
    storage = _open(args.path)
    s = _study(storage, args.study)
    trials = [] if args.state == QUEUED else storage.trials(s["id"])
    if args.state:
        trials = [t for t in trials if t.state == args.state]
    if args.pruned:
        trials = [t for t in trials if t.stop_code == "pruned"]
    rows = [_trial_row(t, s["metric"], fmt=args.format) for t in trials]
    # trials queued by hand and not started yet: listed after the trials in every format (table:
    # below them), unless a filter asks for other trials only
    waiting = storage.queued(s["id"]) if args.state in (None, QUEUED) and not args.pruned else []
    if args.format != "table":
        names = list(s["space"])
        _emit(rows + [_queued_row(q, names, fmt=args.format) for q in waiting], args.format, out)
        return 0
    if args.state != QUEUED:
        _emit(rows, args.format, out)
        pruner = storage.study_pruner(s["id"])
        if pruner:
            shown = ", ".join(f"{k}={v!r}" for k, v in pruner.get("args", {}).items())
            rungs = ", ".join(map(str, pruner.get("rungs") or [])) or "none (it compares every epoch)"
            out.write(f"\npruner: {pruner.get('kind')}({shown}); rungs at epochs {rungs}\n")
    if waiting:
        out.write(f"\nqueued by hand, to run first in the study's next run ({len(waiting)}):\n")
        for q in waiting:
            out.write(f"  {json.dumps(q['params'])}  (queued {_fmt_time(q['time'])})\n")
    elif args.state == QUEUED:
        out.write("(none)\n")
    return 0


def _cmd_best(args: argparse.Namespace, out: Any) -> int:
    storage = _open(args.path)
    s = _study(storage, args.study)
    done = [t for t in storage.trials(s["id"]) if t.state in ("completed", "stopped") and t.has_value()]
    if not done:
        raise TorchSearchError(f"study {s['name']!r} has no completed trial with a finite {s['metric']!r} yet")
    if s["mode"] == "max":
        best = max(done, key=lambda t: (t.value, -t.number))  # type: ignore[arg-type, return-value]
    else:
        best = min(done, key=lambda t: (t.value, t.number))  # type: ignore[arg-type, return-value]
    row = {"study": s["name"], "metric": s["metric"], "mode": s["mode"], **_trial_row(best, s["metric"])}
    if args.format == "json":
        row = {"study": s["name"], "metric": s["metric"], "mode": s["mode"], "number": best.number,
               "value": best.value, "best_step": best.best_step, "params": best.params, "state": best.state,
               "checkpoint": best.checkpoint}
    _emit([row], args.format, out, as_object=True)
    return 0


def _cmd_dashboard(args: argparse.Namespace, out: Any) -> int:
    from .dashboard import serve  # lazy: the web server is not needed by the other commands

    if Path(args.path).exists() and not Path(args.path).is_dir():
        raise TorchSearchError(missing_storage(args.path))
    # a folder that does not exist yet is served too: a study started at the same moment creates it;
    # a foreign, empty or newer study.db is refused by serve() before it listens
    try:
        return serve(args.path, host=args.host, port=args.port, out=out)
    except OSError as e:
        raise TorchSearchError(f"dashboard: cannot listen on {args.host}:{args.port}: {e.strerror or e}") from e


def _cmd_export(args: argparse.Namespace, out: Any) -> int:
    from .dashboard.export import export_tensorboard  # lazy: needs the optional tensorboard package

    if Path(args.tensorboard).exists() and not Path(args.tensorboard).is_dir():
        raise TorchSearchError(f"export: --tensorboard {args.tensorboard!r} is a file, not a folder: give a folder "
                               "for the TensorBoard logs (it is created when missing)")
    runs = export_tensorboard(_open(args.path), args.tensorboard, study=args.study)
    print(f"wrote {len(runs)} trial runs under {args.tensorboard!r}; view them with: "
          f"tensorboard --logdir {args.tensorboard}", file=out)
    return 0


def _cmd_lineage(args: argparse.Namespace, out: Any) -> int:
    from types import SimpleNamespace

    from ._lineage import schedule

    storage = _open(args.path)
    s = _study(storage, args.study)
    if args.trial is not None and args.trial not in {t.number for t in storage.trials(s["id"], with_metrics=False)}:
        raise TorchSearchError(f"study {s['name']!r} has no trial {args.trial}")
    rows = [{"trial": r["trial"], "step": r["step"], "donor": r["donor"], "operations": "; ".join(r["operations"]),
             "time": _fmt_time(r["time"])} for r in storage.lineage(s["id"], args.trial)]
    segments = []
    if args.trial is not None:
        segments = schedule(SimpleNamespace(storage=storage, id=s["id"]), args.trial)
    if args.format == "json":
        json.dump({"lineage": storage.lineage(s["id"], args.trial), "schedule": segments}, out, indent=2, default=str)
        out.write("\n")
        return 0
    _emit(rows, args.format, out)
    if segments and args.format == "table":
        out.write(f"\nhyperparameter schedule behind trial {args.trial}'s weights:\n")
        _emit([{"trial": g["trial"], "from_step": g["start"], "to_step": "end" if g["end"] is None else g["end"],
                **{f"params.{k}": v for k, v in g["params"].items()}} for g in segments], "table", out)
    return 0


def _open_for_writing(path: str, name: str | None) -> tuple[Storage, dict[str, Any]]:
    """The storage at ``path`` opened for writing notes and queued trials (an older database is
    migrated), and study ``name`` in it. Never creates a storage: it must hold a study."""
    _open(path).close()  # refuses a missing, foreign or newer database; waits for one being created
    storage = Storage(Path(path))
    return storage, _study(storage, name)


def _cmd_note(args: argparse.Namespace, out: Any) -> int:
    storage, s = _open_for_writing(args.path, args.study)
    try:
        note = storage.add_note(s["id"], args.number, args.text)
    except ValueError as e:
        raise TorchSearchError(str(e)) from e
    finally:
        storage.close()
    print(f"note added to trial {note['trial']} of study {s['name']!r} at {_fmt_time(note['time'])}", file=out)
    return 0


def _cmd_enqueue(args: argparse.Namespace, out: Any) -> int:
    from ._enqueue import check_params, parse_assignment
    from .space import Space

    storage, s = _open_for_writing(args.path, args.study)
    try:
        space = Space.from_dict(s["space"])
        pairs = [parse_assignment(space, a) for a in args.params]
        for name in dict.fromkeys(n for n, _ in pairs):
            given_as = [a for a, (n, _) in zip(args.params, pairs) if n == name]
            if len(given_as) > 1:
                raise TorchSearchError(f"enqueue: {name!r} is given {len(given_as)} times ({', '.join(given_as)}); "
                                       "give each parameter once")
        given = dict(pairs)
        params = check_params(space, given)
        storage.enqueue(s["id"], params)
        waiting = len(storage.queued(s["id"]))
    finally:
        storage.close()
    rest = [n for n in space.names if n not in params]
    filled = f"; the scheduler picks {', '.join(rest)}" if rest else ""
    print(f"queued {json.dumps(params)} in study {s['name']!r} ({waiting} waiting){filled}; queued trials run "
          "first, in order, in the study's next tune() or optimize()", file=out)
    return 0


def _port(text: str) -> int:
    """``--port``: an integer from 0 to 65535 (argparse names the option in its error)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 65535 (0 picks a free port), got {text!r}") \
            from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 to 65535 (0 picks a free port), got {port}")
    return port


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="torchsearch", description="Look at torchsearch studies stored in a folder, "
                                "note on their trials, queue trials of your own.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp: argparse.ArgumentParser, study: bool) -> None:
        sp.add_argument("path", help="storage folder (the storage= given to tune)")
        if study:
            sp.add_argument("--study", default=None, help="study name (needed when the folder holds several)")
        sp.add_argument("--format", choices=["table", "json", "csv"], default="table", help="output format")

    sp = sub.add_parser("studies", help="list the studies in a storage folder",
                        description="List every study in a storage folder with its trial counts and best value.")
    common(sp, study=False)
    sp.set_defaults(func=_cmd_studies)
    sp = sub.add_parser("trials", help="list the trials of a study",
                        description="List every trial of a study: state, params, best and last metric, "
                                    "epochs, duration, stop reason or error.")
    common(sp, study=True)
    sp.add_argument("--state", default=None,
                    choices=[*get_args(TrialState), QUEUED],
                    help="only trials in this state (queued: queued by hand, not started yet)")
    sp.add_argument("--pruned", action="store_true",
                    help="only trials a pruner stopped (state stopped, stop code 'pruned')")
    sp.set_defaults(func=_cmd_trials)
    sp = sub.add_parser("best", help="show the best trial of a study",
                        description="Show the best completed or stopped trial of a study.")
    common(sp, study=True)
    sp.set_defaults(func=_cmd_best)
    sp = sub.add_parser("dashboard", help="serve a live web page over a storage folder",
                        description="Serve the dashboard (studies, trial table, live charts, PBT lineage) for a "
                                    "storage folder, while its study runs or after. Read-only.")
    sp.add_argument("path", help="storage folder (the storage= given to tune)")
    sp.add_argument("--port", type=_port, default=8080, help="port, 0 to 65535 (default 8080; 0 picks a free one)")
    sp.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1; any other is reachable from the network)")
    sp.set_defaults(func=_cmd_dashboard)
    sp = sub.add_parser("export", help="export a study for TensorBoard (HParams)",
                        description="Write each trial's metrics and hyperparameters in TensorBoard's HParams "
                                    "format (needs the tensorboard package).")
    sp.add_argument("path", help="storage folder (the storage= given to tune)")
    sp.add_argument("--tensorboard", required=True, metavar="DIR", help="TensorBoard log folder to write")
    sp.add_argument("--study", default=None, help="only this study (default: every study in the folder)")
    sp.set_defaults(func=_cmd_export)
    sp = sub.add_parser("lineage", help="show PBT exploits: who copied whom, when, with which changes",
                        description="List the PBT exploits of a study (trial, step, donor, explore operations); "
                                    "with --trial, only that trial's, then the hyperparameter schedule behind its "
                                    "weights (through its donors).")
    common(sp, study=True)
    sp.add_argument("--trial", type=int, default=None, help="one trial's lineage and schedule")
    sp.set_defaults(func=_cmd_lineage)
    sp = sub.add_parser("note", help="add a note to a trial",
                        description="Add a timestamped note to a trial (a trial may hold several). Shown by "
                                    "`torchsearch trials` and in the dashboard. Works while the study runs.")
    sp.add_argument("path", help="storage folder (the storage= given to tune)")
    sp.add_argument("number", type=int, help="the trial's number")
    sp.add_argument("text", help="the note")
    sp.add_argument("--study", default=None, help="study name (needed when the folder holds several)")
    sp.set_defaults(func=_cmd_note)
    sp = sub.add_parser("enqueue", help="queue a trial of your own for the study's next run",
                        description="Queue a trial with the given parameter values (read with each "
                                    "parameter's type; parameters left out are picked by the scheduler). "
                                    "Queued trials run first, in order, in the next tune() or optimize() "
                                    "of the study, even past its n_trials.")
    sp.add_argument("path", help="storage folder (the storage= given to tune)")
    sp.add_argument("params", nargs="+", metavar="key=value", help="parameter values, e.g. lr=0.01 act=relu")
    sp.add_argument("--study", default=None, help="study name (needed when the folder holds several)")
    sp.set_defaults(func=_cmd_enqueue)
    return p


def main(argv: Sequence[str] | None = None, out: Any = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, out) or 0)
    except TorchSearchError as e:
        print(f"torchsearch: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
