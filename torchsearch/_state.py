"""Trainer states in memory and between processes.

:func:`pack_state` makes a CPU copy of a ``Trainer.state_dict()`` that ``torch.load(...,
weights_only=True)`` can read back (numpy's and Python's RNG states become tensors); :func:`encode` /
:func:`decode` are the wire format between the coordinator and its worker processes: the
structure as a plain pickle that may name no class, then the raw bytes of every tensor.
"""

from __future__ import annotations

import io
import math
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = ["to_cpu", "pack_state", "unpack_state", "encode", "decode", "replace_entry", "dumps_state", "loads_state"]


def _is_ref(obj: Any) -> bool:
    return type(obj) is tuple and len(obj) == 2 and obj[0] == "__tensor__"


def _rebuild(obj: Any, leaf: Callable[[Any], Any]) -> Any:
    """``obj`` with its nested dicts, lists and tuples rebuilt and ``leaf`` applied to the rest
    (a wire reference to a tensor, ``("__tensor__", i)``, is a leaf)."""
    if isinstance(obj, dict):
        return {k: _rebuild(v, leaf) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rebuild(v, leaf) for v in obj]
    if isinstance(obj, tuple) and not _is_ref(obj):
        return tuple(_rebuild(v, leaf) for v in obj)
    return leaf(obj)


def to_cpu(obj: Any) -> Any:
    """A detached CPU copy of every tensor in a nested dict / list / tuple (other leaves kept)."""
    return _rebuild(obj, lambda v: v.detach().to("cpu", copy=True) if isinstance(v, torch.Tensor) else v)


def pack_state(state: dict[str, Any], *, copy: bool = True) -> dict[str, Any]:
    """A CPU copy of a trainer state that ``torch.load(weights_only=True)`` reads back
    (numpy's and Python's RNG states become tensors). ``copy=False`` shares the tensors (to encode them)."""
    out = to_cpu(state) if copy else dict(state)
    rng = out.get("rng")
    if rng is not None and not copy:
        out["rng"] = rng = dict(rng)
    if rng and isinstance(rng.get("numpy"), tuple):
        name, keys, pos, has_gauss, cached = rng["numpy"]
        rng["numpy"] = {"name": name, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                        "has_gauss": int(has_gauss), "cached": float(cached)}
    py = rng.get("python") if rng else None
    if isinstance(py, tuple) and len(py) == 3 and isinstance(py[1], tuple):
        # 625 Python ints would make the skeleton 50x larger (and slow to walk): one tensor instead
        version, words, gauss = py
        rng["python"] = {"version": version, "words": torch.tensor(words, dtype=torch.int64), "gauss": gauss}
    return out


def unpack_state(state: dict[str, Any]) -> dict[str, Any]:
    """Undo :func:`pack_state` (in place) so ``Trainer.load_state_dict`` accepts it."""
    rng = state.get("rng")
    if rng and isinstance(rng.get("numpy"), dict):
        n = rng["numpy"]
        rng["numpy"] = (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    if rng and isinstance(rng.get("python"), dict):
        py = rng["python"]
        rng["python"] = (py["version"], tuple(py["words"].tolist()), py["gauss"])
    return state


class _NoGlobals(pickle.Unpickler):
    """Reads plain containers and scalars only: a state's skeleton never names a class."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"a trainer state must not reference {module}.{name}")


def encode(packed: dict[str, Any]) -> bytes:
    """Wire format between processes: the structure (plain pickle, no classes) with each tensor
    replaced by a reference, then the tensors' raw bytes (16-byte aligned). Much faster than
    ``torch.save``/``torch.load`` for the many small tensors of a trainer state."""
    chunks: list[bytes] = []
    metas: list[tuple[str, tuple[int, ...], int]] = []
    offset = 0

    def ref(obj: Any) -> Any:
        nonlocal offset
        if not isinstance(obj, torch.Tensor):
            return obj
        t = obj.detach().to("cpu").contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes()
        pad = (-len(raw)) % 16
        chunks.append(raw + b"\0" * pad)
        metas.append((str(t.dtype).removeprefix("torch."), tuple(t.shape), offset))
        offset += len(raw) + pad
        return ("__tensor__", len(metas) - 1)

    return _join(_rebuild(packed, ref), metas, chunks)


def _join(skeleton: Any, metas: list[tuple[str, tuple[int, ...], int]], chunks: list[Any]) -> bytes:
    head = pickle.dumps((skeleton, metas), protocol=5)
    return b"".join([len(head).to_bytes(8, "little"), head, *chunks])


def _parts(blob: bytes) -> tuple[Any, list[tuple[str, tuple[int, ...], int]], memoryview]:
    """The skeleton, the tensor metas and the tensor bytes of an :func:`encode` blob."""
    n = int.from_bytes(blob[:8], "little")
    skeleton, metas = _NoGlobals(io.BytesIO(blob[8:8 + n])).load()
    return skeleton, metas, memoryview(blob)[8 + n:]


def _nbytes(dtype: str, shape: tuple[int, ...]) -> int:
    """Bytes of a tensor's data in the wire format (without the padding)."""
    return math.prod(shape) * getattr(torch, dtype).itemsize


def decode(blob: bytes) -> dict[str, Any]:
    """Read :func:`encode` output back: fresh CPU tensors (private to the caller)."""
    skeleton, metas, view = _parts(blob)
    data = bytearray(view)
    tensors = []
    for dtype, shape, offset in metas:
        count = _nbytes(dtype, shape)
        flat = torch.frombuffer(data, dtype=torch.uint8, count=count, offset=offset) if count else \
            torch.empty(0, dtype=torch.uint8)
        tensors.append(flat.view(getattr(torch, dtype)).reshape(shape))

    return _rebuild(skeleton, lambda v: tensors[v[1]] if _is_ref(v) else v)


def replace_entry(own: bytes, key: str, donor: bytes, *, optional: tuple[str, ...] = ()) -> bytes:
    """``own`` (an :func:`encode` blob of a dict) with entry ``key`` taken from ``donor``'s (and
    each of the ``optional`` entries the donor has), without decoding a tensor: the skeletons
    are read, the tensor bytes copied as they are (only those the result refers to).

    PBT's pause that exploits: the paused trial's RNG with the donor's module state (weights,
    optimiser) and epoch count; ``decode`` of the result equals rebuilding the dict."""
    skeleton, own_metas, own_data = _parts(own)
    other, other_metas, other_data = _parts(donor)
    if not isinstance(skeleton, dict) or not isinstance(other, dict) or key not in other:
        raise ValueError(f"replace_entry: both blobs must encode dicts and the donor's must have {key!r}")
    keys = (key, *(k for k in optional if k in other and k != key))
    chunks: list[memoryview] = []
    metas: list[tuple[str, tuple[int, ...], int]] = []
    offset = 0

    def mover(old_metas: list[tuple[str, tuple[int, ...], int]], data: memoryview) -> Callable[[Any], Any]:
        def move(ref: Any) -> Any:  # a tensor: its bytes appended, its reference renumbered
            nonlocal offset
            if not _is_ref(ref):
                return ref
            dtype, shape, at = old_metas[ref[1]]
            size = _nbytes(dtype, shape)
            size += (-size) % 16
            chunks.append(data[at:at + size])
            metas.append((dtype, shape, offset))
            offset += size
            return ("__tensor__", len(metas) - 1)
        return move

    merged = _rebuild({k: v for k, v in skeleton.items() if k not in keys}, mover(own_metas, own_data))
    take = mover(other_metas, other_data)
    for k in keys:
        merged[k] = _rebuild(other[k], take)
    return _join(merged, metas, chunks)


def dumps_state(state: dict[str, Any]) -> bytes:
    """A trainer state as bytes for another process (see :func:`encode`)."""
    return encode(pack_state(state, copy=False))


def loads_state(blob: bytes) -> dict[str, Any]:
    return unpack_state(decode(blob))
