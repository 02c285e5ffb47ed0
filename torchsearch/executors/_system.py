"""What :class:`~torchsearch.executors.Processes` asks of the operating system: device names,
socket buffers for the worker pipes, and how a worker process ended."""

from __future__ import annotations

import os
import signal
import sys
import socket
from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["check_device", "parse_devices", "plan_slots", "widen", "describe_exit", "die_with_parent", "PARENT_ENV"]

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


_CUDA_BUILD = ("install a CUDA build of torch (on Linux, `pip install torch` from PyPI is one; elsewhere see "
               "https://pytorch.org/get-started/locally/)")


def _cuda_count(argument: str, value: Any, where: str) -> int:
    """How many CUDA devices torch sees; a ValueError naming ``argument=value`` when none."""
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        if count > 0:
            return count
    why = (f"this torch ({torch.__version__}) was built without CUDA: {_CUDA_BUILD}"
           if not torch.backends.cuda.is_built() else
           f"torch {torch.__version__} has CUDA but finds no GPU (driver missing, or hidden by "
           f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r})")
    raise ValueError(f"{where}: {argument}={value!r} asks for CUDA, but torch sees no CUDA device: {why}; "
                     f"or use {argument}='cpu'")


def _cuda_index(name: str, count: int, argument: str, value: Any, where: str) -> None:
    index = name[5:]
    if not index.isdigit() or int(index) >= count:
        raise ValueError(f"{where}: {argument}={value!r}: device {name!r} does not exist; torch sees {count} "
                         f"CUDA device(s): {', '.join(f'cuda:{i}' for i in range(count))}")


def check_device(device: Any, where: str, argument: str = "device") -> str:
    """``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, a ``torch.device``) as a
    name, checked against what this torch can use: a CUDA device on a CPU-only torch, or
    ``cuda:7`` where torch sees one GPU, is a ValueError naming ``argument`` at once (each trial
    used to fail on its own with torch's AssertionError)."""
    allowed = "'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device"
    if isinstance(device, torch.device):
        name = str(device)
    elif isinstance(device, str):
        name = device.strip()
    else:
        raise TypeError(f"{where}: {argument} must be {allowed}, got {argument}={device!r}")
    try:
        parsed = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"{where}: unknown device, {argument}={device!r}; allowed: {allowed}") from None
    if parsed.type == "cuda":
        count = _cuda_count(argument, device, where)
        if parsed.index is not None:
            _cuda_index(f"cuda:{parsed.index}", count, argument, device, where)
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{where}: {argument}={device!r} asks for Apple's MPS, but this torch cannot use it here; "
                         f"use {argument}='cpu'")
    return name


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
            count = _cuda_count("devices", devices, "Processes")
            if name == "cuda":
                out.extend(f"cuda:{i}" for i in range(count))
                continue
            _cuda_index(name, count, "devices", devices, "Processes")
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


#: The coordinator's pid, handed to the worker processes it spawns (``Processes._start``).
PARENT_ENV = "TORCHSEARCH_COORDINATOR_PID"


def die_with_parent(parent: int) -> None:
    """Make this worker process die when its coordinator ``parent`` dies, however it dies
    (SIGKILL included), even while the worker is hung in C code holding the GIL.

    On Linux the kernel sends us SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``; it
    fires when the *thread* that spawned us ends, so workers must be spawned by the thread that
    runs the study, as ``Processes`` does). Elsewhere, and as a second line on Linux, the worker's
    watch thread ends the process when its parent pid changes (see ``_worker._Watch``). A parent
    that died before this call is caught by the same check here."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)
