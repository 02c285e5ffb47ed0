"""Run the GP math on one intra-op torch thread (``Bayes`` wraps each fit and suggestion in it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["one_thread"]


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the GP math on one intra-op torch thread, then restore the caller's setting.

    The matrices are small (n <= a few hundred rows): threads cost more than they save, and on
    a busy machine they made a suggestion five times slower.
    """
    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
