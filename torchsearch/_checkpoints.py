"""Checkpoint bytes and files: what :class:`~torchsearch.storage.Storage` keeps beside its database.

A checkpoint is either ``torch.save`` output (final weights) or :data:`FILE_MAGIC` followed by
the wire format of :mod:`torchsearch._state` (PBT's durable copies, written as a worker sent
them: nothing is decoded on the way, and reading one back never unpickles a class).
Files are replaced atomically (a temporary file, then ``os.replace``).
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["FILE_MAGIC", "to_bytes", "from_bytes", "write_file", "read_file"]

FILE_MAGIC = b"torchsearch-state-v1\n"


def to_bytes(state: dict[str, Any] | bytes | bytearray) -> bytes:
    """``state`` as checkpoint bytes (already serialized bytes pass through)."""
    if isinstance(state, (bytes, bytearray)):
        return bytes(state)
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def from_bytes(blob: bytes) -> dict[str, Any]:
    """The state in checkpoint bytes, either format (on the CPU)."""
    if blob.startswith(FILE_MAGIC):
        from ._state import decode

        return decode(blob[len(FILE_MAGIC):])
    import torch

    return torch.load(io.BytesIO(blob), weights_only=True, map_location="cpu")


def write_file(target: Path, state: dict[str, Any] | bytes | bytearray) -> None:
    """Write ``state`` to ``target`` atomically (raises OSError or RuntimeError)."""
    data = to_bytes(state)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_file(target: Path) -> dict[str, Any]:
    """The state in checkpoint file ``target``, either format (on the CPU)."""
    return from_bytes(target.read_bytes())
