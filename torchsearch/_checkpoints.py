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

from .exceptions import StorageError

__all__ = ["FILE_MAGIC", "NOT_SAVED", "LAST", "to_bytes", "from_bytes", "write_file", "read_file"]

FILE_MAGIC = b"torchsearch-state-v1\n"
#: The start of the ``error`` a trial records when its final weights could not be written (a
#: full disk, a read-only folder): the trial keeps its state and value, only its weights are lost.
NOT_SAVED = "final weights not saved"
#: Appended to a trial's checkpoint key for its final weights, kept beside those of its best
#: evaluation when they differ (no such file: the final weights are the best ones).
LAST = "-last"


def to_bytes(state: dict[str, Any] | bytes | bytearray) -> bytes:
    """``state`` as checkpoint bytes (already serialized bytes pass through)."""
    if isinstance(state, (bytes, bytearray)):
        return bytes(state)
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


#: The first bytes of ``torch.save`` output (a zip archive, torch >= 1.6).
TORCH_ZIP_MAGIC = b"PK\x03\x04"


def from_bytes(blob: bytes, name: str = "the checkpoint") -> dict[str, Any]:
    """The state in checkpoint bytes, either format (on the CPU).

    Anything else (random bytes, an empty file, a pickle that needs more than tensors and plain
    containers) is a :class:`StorageError` naming ``name`` and saying it is not a torchsearch
    checkpoint. torch's own advice to retry with ``weights_only=False`` is not passed on: that
    would run whatever code the file holds.
    """
    if blob.startswith(FILE_MAGIC):
        from ._state import decode

        return decode(blob[len(FILE_MAGIC):])
    if not blob.startswith(TORCH_ZIP_MAGIC):
        what = "it is empty (0 bytes)" if not blob else f"it starts with {blob[:8]!r}"
        raise StorageError(f"{name} is not a torchsearch checkpoint: neither torch.save output nor a torchsearch "
                           f"state ({what})")
    import pickle

    import torch

    try:
        return torch.load(io.BytesIO(blob), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:  # raised from None: its text tells the user to load unsafely
        raise StorageError(f"{name} is not a torchsearch checkpoint: it holds objects other than tensors and plain "
                           "containers (torchsearch loads weights only, never code)") from None


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
    return from_bytes(target.read_bytes(), f"checkpoint file {str(target)!r}")
