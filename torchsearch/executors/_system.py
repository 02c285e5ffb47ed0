"""What :class:`~torchsearch.executors.Processes` asks of the operating system: device names,
socket buffers for the worker pipes, and how a worker process ended."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["parse_devices", "plan_slots", "widen", "describe_exit"]

_BUFFER = 8 << 20  # socket buffer asked for each end of a worker's pipe (the kernel caps it: net.core.wmem_max)


def widen(conn: Any) -> None:
    """Ask for large socket buffers on ``conn``: a PBT state (hundreds of KB, MBs on a GPU model)
    is then written in one go instead of in ~200 KB pieces, each waiting for the reader to be
    scheduled (a 300 KB round trip: 371 us -> 251 us, half the sender's CPU, on a 2-core VM).
    Best effort: where the platform refuses, the defaults stay."""
    try:
        sock = socket.socket(fileno=conn.fileno())
    except OSError:
        return
    try:
        for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            sock.setsockopt(socket.SOL_SOCKET, opt, _BUFFER)
    except OSError:
        pass
    finally:
        sock.detach()  # the Connection still owns the descriptor


def parse_devices(devices: str | Sequence[str]) -> list[str]:
    allowed = "'cpu', 'cuda' (every visible GPU), 'cuda:0,cuda:2' or a list of those"
    if isinstance(devices, str):
        names = [d.strip() for d in devices.split(",") if d.strip()]
    elif isinstance(devices, Sequence) and all(isinstance(d, str) for d in devices):
        names = [d.strip() for d in devices]
    else:
        raise ValueError(f"Processes: devices must be {allowed}, got devices={devices!r}")
    if not names:
        raise ValueError(f"Processes: devices must be {allowed}, got devices={devices!r}")
    out: list[str] = []
    for name in names:
        if name == "cpu":
            out.append("cpu")
            continue
        if name == "cuda" or name.startswith("cuda:"):
            count = torch.cuda.device_count()
            if count == 0:
                raise ValueError(f"Processes: devices={devices!r} asks for CUDA, but torch sees no CUDA device "
                                 f"(torch {torch.__version__}); use devices='cpu'")
            if name == "cuda":
                out.extend(f"cuda:{i}" for i in range(count))
                continue
            index = name[5:]
            if not index.isdigit() or int(index) >= count:
                raise ValueError(f"Processes: device {name!r} in devices={devices!r} does not exist; "
                                 f"visible: {', '.join(f'cuda:{i}' for i in range(count))}")
            out.append(name)
            continue
        raise ValueError(f"Processes: unknown device {name!r} in devices={devices!r}; allowed: {allowed}")
    if len(set(out)) != len(out):
        raise ValueError(f"Processes: devices={devices!r} names a device twice; use per_device=2 to share one")
    return out


def plan_slots(devices: str | Sequence[str], workers: int | None, per_device: int,
               threads: int | None) -> tuple[list[str], list[str], int]:
    """``(devices, one device per worker slot, torch threads per worker)`` for ``Processes``."""
    for label, v in (("workers", workers), ("threads", threads)):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise ValueError(f"Processes: {label} must be an int >= 1 or None, got {label}={v!r}")
    if not isinstance(per_device, int) or isinstance(per_device, bool) or per_device < 1:
        raise ValueError(f"Processes: per_device must be an int >= 1, got per_device={per_device!r}")
    names = parse_devices(devices)
    cores = os.cpu_count() or 1
    if workers is None:
        if names == ["cpu"]:
            workers = max(1, cores // 2) if per_device == 1 else per_device
        else:
            workers = len(names) * per_device
    elif per_device != 1 and workers != len(names) * per_device:
        raise ValueError(f"Processes: workers={workers} contradicts per_device={per_device} on {len(names)} "
                         f"device(s); give one of them")
    slots = [names[i % len(names)] for i in range(workers)]
    return names, slots, threads or max(1, cores // workers)


def describe_exit(code: int | None) -> str:
    if code is None:
        return "is not responding"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {code}"
