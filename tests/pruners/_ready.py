"""A pruner built and set up as a study would set it up (mode, metric), for the unit tests."""

from __future__ import annotations


def ready(cls, mode: str = "max", max_epochs: int | None = 27, **kw):
    """``cls(**kw)`` set up for ``mode`` on "accuracy"; ``max_epochs`` is passed where not None."""
    if max_epochs is not None:
        kw["max_epochs"] = max_epochs
    pruner = cls(**kw)
    pruner.setup(mode=mode, metric="accuracy")
    return pruner
