"""Fail fast: a mistake in the code stops the study at its first trial instead of failing every one.

A study keeps going when a trial fails: a NaN loss, an out-of-memory error or a ``ValueError``
inside the model usually depend on the hyperparameters, and the next trial may do fine. A
*programming error* does not: every trial would repeat it. While no trial of the study has
finished with a value yet (none ``completed`` or ``stopped``, earlier runs included), a trial
that fails with a programming error makes ``tune()`` / ``optimize()`` raise it at once, with a
hint, and the trial is recorded ``interrupted``: it does not count towards ``n_trials`` and runs
again first once the code is fixed.

What counts as a programming error (:func:`hint`), by the exception's class as the coordinator
receives it (a worker process sends ``"ClassName: message"``):

- :class:`~torchsearch.exceptions.TrialError` and its subclass
  :class:`~torchsearch.exceptions.ContractError`: a study metric the trial does not report, a
  ``setup`` that does not set ``model``/``optimizer``/``train_loader``/``val_loader``, a
  ``training_step`` that returns no tensor, a ``validation_step`` that returns no dict;
- ``KeyError`` for a key that the trial's params do not hold (a parameter missing from the space);
- ``NameError`` (and ``UnboundLocalError``), ``AttributeError``, ``ImportError`` (and
  ``ModuleNotFoundError``), ``SyntaxError``, ``NotImplementedError`` (a TrialModule method left out).

Anything else (``TrialFailed`` for non-finite values, ``RuntimeError`` with out-of-memory or a
shape mismatch, ``ValueError``, ``TypeError`` from user code, a ``KeyError`` for another key)
fails only its trial. Once one trial of the study has a value, nothing fails fast: a programming
error that only some hyperparameters reach fails only those trials.

A script that starts worker processes (``workers=``/``devices=``) without the
``if __name__ == "__main__":`` guard cannot work at all: each spawned worker runs the script
again from the top. :func:`main_guard_problem` sees it in the coordinator before any worker is
started.
"""

from __future__ import annotations

import ast
import builtins
import functools
import re
import sys
from collections.abc import Mapping
from typing import Any

from . import exceptions as _exceptions

__all__ = ["hint", "split", "rebuild", "main_guard_problem", "WHY"]

#: Said after the hint: why the study stopped, and what happens to the trial.
WHY = ("torchsearch stops the study at a programming error while no trial has a value yet, instead of failing "
       "every trial; this trial is recorded interrupted (it does not count towards n_trials) and runs again "
       "first when the same command is run after the fix")

_ALWAYS = {"NameError", "UnboundLocalError", "AttributeError", "ImportError", "ModuleNotFoundError",
           "SyntaxError", "IndentationError", "TabError", "NotImplementedError", "TrialError", "ContractError"}


def split(error: BaseException | str) -> tuple[str, str]:
    """``(class name, message)`` of an exception, or of its text ``"ClassName: message"``."""
    if isinstance(error, BaseException):
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        return type(error).__name__, (repr(message) if isinstance(error, KeyError) else str(message))
    kind, sep, message = str(error).partition(": ")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", kind):
        return "", str(error)
    kind = kind.rsplit(".", 1)[-1]
    if kind == "TrialFailed":  # a worker's report that the coordinator refused: "TrialFailed: TrialError: ..."
        inner, sep, rest = message.partition(": ")
        if sep and inner != "TrialFailed" and isinstance(getattr(_exceptions, inner, None), type):
            return inner, rest
    return kind, message


def _missing_key(message: str, params: Mapping[str, Any]) -> str | None:
    try:
        key = ast.literal_eval(message.strip())
    except (ValueError, SyntaxError):
        return None
    if isinstance(key, str) and key not in params:
        return key
    return None


def hint(error: BaseException | str, params: Mapping[str, Any]) -> str | None:
    """The hint for a programming error (see the module docstring), or None for an error that
    may depend on the hyperparameters. ``params``: the failed trial's params."""
    kind, message = split(error)
    if kind == "KeyError":
        key = _missing_key(message, params)
        if key is None:
            return None
        return (f"the trial's params have no key {key!r} (they have {sorted(params)}): add {key!r} to the search "
                f"space, or read it with hp.get({key!r}, default)")
    if kind not in _ALWAYS:
        return None
    if "is not among the reported metrics" in message:
        return ("metric= must name one of the metrics validation_step returns (listed above), and the study's "
                "mode must fit it")
    if "setup(hp) must set" in message:
        return ("setup(hp) must set self.model, self.optimizer, self.train_loader and self.val_loader "
                "(self.lr_scheduler is optional)")
    if "training_step must return" in message:
        return "training_step(batch) must return the loss as a tensor (return loss, not loss.item())"
    if "validation_step must return" in message:
        return "validation_step(batch) must return a dict of metrics, e.g. {'loss': loss, 'accuracy': accuracy}"
    if kind in ("ImportError", "ModuleNotFoundError"):
        return ("a module the trial imports is missing (in worker processes: the TrialModule must be importable, "
                "defined in a .py file rather than typed into an interactive session)")
    return "a mistake in the code, the same for every trial: fix it and run the same command again"


def rebuild(kind: str, message: str) -> BaseException:
    """The exception a worker process reported as ``"kind: message"``, as the same class where it
    is a built-in or a torchsearch one (so ``except KeyError`` works as in this process), else a
    :class:`~torchsearch.TrialError`."""
    cls = getattr(_exceptions, kind, None) or getattr(builtins, kind, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            if cls is KeyError:
                return KeyError(ast.literal_eval(message))
            return cls(message)
        except Exception:  # noqa: BLE001 - an odd constructor: fall back to the text
            pass
    return _exceptions.TrialError(f"{kind}: {message}" if kind else message)


def with_hint(error: BaseException, number: int, text: str, traceback: str | None = None) -> BaseException:
    """``error`` with notes: which trial, the hint, why the study stopped (and, from a worker
    process, the worker's traceback)."""
    error.add_note(f"torchsearch: trial {number} failed with this error. Hint: {text}.")
    error.add_note(f"({WHY}.)")
    if traceback:
        error.add_note("The traceback in the worker process:\n" + traceback.rstrip())
    return error


@functools.lru_cache(maxsize=8)
def _guarded_lines(path: str, mtime: float) -> list[tuple[int, int]] | None:
    """The line ranges of the module-level ``if __name__ == "__main__":`` blocks of ``path``."""
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return None
    out = []
    for node in tree.body:
        if isinstance(node, ast.If) and any(_is_guard(t) for t in ast.walk(node.test)):
            out.append((node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno))
    return out


def _is_guard(test: ast.AST) -> bool:
    """``__name__ == "__main__"`` (either way round), also inside a larger condition."""
    if not isinstance(test, ast.Compare) or len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    parts = [test.left, *test.comparators]
    names = {p.id for p in parts if isinstance(p, ast.Name)}
    consts = {p.value for p in parts if isinstance(p, ast.Constant)}
    return names == {"__name__"} and consts == {"__main__"}


def main_guard_problem() -> str | None:
    """Why worker processes cannot be spawned from the current call, or None.

    Walks out of the call to the top level of the ``__main__`` script; if that line is not inside
    an ``if __name__ == "__main__":`` block, each spawned worker would run the script again from
    the top (and try to start workers of its own). Scripts without a file (an interactive session,
    ``python -c``) and sources that cannot be read are not judged.
    """
    import os

    frame = sys._getframe(1)
    while frame is not None:
        g = frame.f_globals
        if frame.f_code.co_name == "<module>" and g.get("__name__") in ("__main__", "__mp_main__"):
            path = g.get("__file__")
            if not path or not os.path.isfile(path):
                return None
            if g.get("__name__") == "__mp_main__":
                return _guard_text(path, frame.f_lineno)
            try:
                ranges = _guarded_lines(os.path.abspath(path), os.path.getmtime(path))
            except OSError:
                return None
            if ranges is None or any(lo <= frame.f_lineno <= hi for lo, hi in ranges):
                return None
            return _guard_text(path, frame.f_lineno)
        frame = frame.f_back
    return None


def _guard_text(path: str, line: int) -> str:
    return (f"{path}, line {line}, starts worker processes from the top level of the script, outside an "
            "`if __name__ == \"__main__\":` block. Worker processes are spawned: each one imports the script "
            "again, which would start the study again instead of taking trials. Put the code that runs the "
            "study under the guard:\n\n    if __name__ == \"__main__\":\n        study = ts.tune(...)\n")
