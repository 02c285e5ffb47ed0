"""The worker side of :class:`~torchsearch.executors.Processes`: a spawned process pinned to one
device slot that takes trials from its pipe, trains them, and makes one round trip per report.
"""

from __future__ import annotations

import os
import random
import signal
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = ["worker_main", "dumps", "loads"]



def dumps(obj: Any) -> bytes:
    from .._state import encode

    return encode(obj)


def loads(blob: bytes) -> Any:
    from .._state import decode

    return decode(blob)


def _needs_state(decision: Any) -> bool:
    return decision.action == "pause" or (decision.checkpoint and decision.action == "continue")


class _RemoteTrial:
    """The worker's stand-in for the coordinator's ActiveTrial: ``report`` is a round trip."""

    def __init__(self, conn: Any, number: int, params: dict[str, Any], resume: bytes | None,
                 resume_held: bool = False, held_here: list[int] | None = None) -> None:
        self._conn = conn
        self.number = number
        self.params = dict(params)
        self._resume = resume
        self._donor: dict[str, Any] | None = None
        self.resume_held = resume_held  # resumes on the module this process kept at its pause
        self.held_here = held_here      # paused trials whose modules this process keeps

    def __repr__(self) -> str:
        return f"RemoteTrial(number={self.number}, params={self.params!r})"

    def report(self, metrics: dict[str, float], step: int, *, state: Callable[[], dict[str, Any]] | None = None,
               final: bool = False) -> Any:
        from ..exceptions import TrialFailed
        from .._state import dumps_state, loads_state

        values = {str(k): float(v) for k, v in metrics.items()}
        self._conn.send(("report", self.number, values, int(step), bool(final)))
        reply = self._conn.recv()
        if reply[0] == "error":
            raise TrialFailed(reply[1])
        _, decision, donor = reply
        if decision.action == "exploit":
            self._donor = None if donor is None else loads_state(donor)
            self.params = dict(decision.params)
        elif _needs_state(decision):
            if state is None:
                raise TrialFailed(f"trial {self.number}: the scheduler asked for its state ({decision.action}), "
                                  "but the job did not pass state= to report()")
            full = state()
            if decision.action == "pause" and decision.donor is not None:  # the donor's module replaces it
                full = {k: v for k, v in full.items() if k != "module"}
            self._conn.send(("state", self.number, int(step), dumps_state(full)))
        return decision

    def donor_state(self) -> dict[str, Any]:
        donor, self._donor = self._donor, None
        if donor is None:
            raise RuntimeError(f"trial {self.number}: donor_state() is only available after an exploit decision")
        return donor

    def resume_state(self) -> dict[str, Any] | None:
        from .._state import loads_state

        blob, self._resume = self._resume, None
        return None if blob is None else loads_state(blob)


def _call(job: Callable[..., Any], trial: _RemoteTrial, device: str) -> Any:
    from .._jobs import TrainJob

    if isinstance(job, TrainJob):
        return job(trial, device)
    return job(trial)


def worker_main(conn: Any, device: str, threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator handles Ctrl+C and ends us
    torch.set_num_threads(threads)
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    try:
        conn.send(("ready", os.getpid()))
    except (BrokenPipeError, OSError):
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the coordinator is gone
        if msg[0] == "exit":
            return
        _, number, params, job, resume, seed, held, keep = msg
        if seed is not None:
            torch.manual_seed(seed)
            np.random.seed(seed % 2**32)
            random.seed(seed)
        trial = _RemoteTrial(conn, number, params, resume, held, keep)
        try:
            result = _call(job, trial, device)
            info = {"value": getattr(result, "value", None), "stop_code": getattr(result, "stop_code", None),
                    "stop_reason": getattr(result, "stop_reason", None), "paused": getattr(result, "paused", False), "held": getattr(result, "held", False)}
            state = getattr(result, "state_dict", None)
            conn.send(("done", number, info, None if state is None else dumps(state)))
        except (BrokenPipeError, EOFError, ConnectionResetError):
            return
        except BaseException as e:  # noqa: BLE001 - report every failure, then take the next trial
            text = f"{type(e).__name__}: {e}"
            if isinstance(e, torch.cuda.OutOfMemoryError):
                text += f" (on {device})"
                torch.cuda.empty_cache()
            try:
                conn.send(("failed", number, text, traceback.format_exc()))
            except (BrokenPipeError, OSError):
                return
