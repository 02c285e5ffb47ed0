"""A PBT trial's history through its donors: the hyperparameter schedule behind its weights, and
its replay from scratch.

Read from the lineage rows in storage (one per exploit: ``trial``, ``step``, ``donor``,
``donor_step``, ``old_params``, ``new_params``), never from their display text
(``operations``). torch is imported only by :func:`replay`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["schedule", "replay", "rewind"]


def _landed(row: dict[str, Any]) -> int:
    """The step a trial continued from after the exploit ``row``: the donor's step. A database
    written before the ``donor_step`` column has none: the member's own step stands in."""
    return row["step"] if row.get("donor_step") is None else int(row["donor_step"])


def rewind(rows: list[dict[str, Any]], step: int,
           params: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A member's state at ``step`` (its durable copy after a crash) against its lineage ``rows``
    (its own, in order; ``params``: its stored params): the params that state trains on with,
    and the rows it has not been through (lost with the process that made them).

    A state at ``step`` has been through every row that landed at ``step`` or before (its
    weights came from there), and through none that landed after. The params are those of the
    last row it has been through (an explore at ``step`` itself is taken: it changed no weight),
    else the member's first params. The coordinator never leaves on disk a member's state from
    before an exploit that lands on that state's own step (see ``Population.resume_next``), so
    the step alone tells which rows a copy holds.
    """
    last = max((i for i, r in enumerate(rows) if _landed(r) <= step), default=None)
    if last is None:
        return (dict(rows[0]["old_params"]) if rows else dict(params)), list(rows)
    return dict(rows[last]["new_params"]), list(rows[last + 1:])


def schedule(study: Any, number: int, until: int | None = None) -> list[dict[str, Any]]:
    """The hyperparameter schedule that produced trial ``number``'s weights (up to step ``until``).

    Follows the lineage back through donors: a list of segments ``{"trial", "start", "end",
    "params"}`` in training order, contiguous from step 0: each segment starts where the
    previous one ended. ``start`` and ``end`` are steps on the timeline of ``trial``; the weights
    trained ``end - start`` epochs with ``params`` in that segment (``end`` None: until the trial
    ended). Replaying the segments in order retrains the same schedule.

    Built from the lineage rows' ``step``, ``donor`` and ``donor_step`` columns (never from
    their display text): an exploit row says that at its step the trial took the donor's state
    at ``donor_step`` and went on from there with ``new_params``. A row whose donor is the trial
    itself is a resume after a crash: the trial went back to its own durable copy at
    ``donor_step`` (the rows before it that landed later are not in its weights any more, but
    may be in those of a member that copied it meanwhile: rows are never deleted).
    """
    rows = study.storage.lineage(study.id)
    return _segments(study, rows, number, until, len(rows))


def _segments(study: Any, rows: list[dict[str, Any]], number: int, until: int | None,
              before: int) -> list[dict[str, Any]]:
    """:func:`schedule` of ``number``'s state at step ``until`` as it was when lineage row
    ``before`` was written (the rows after it happened later: not in those weights)."""
    mine = [(i, r) for i, r in enumerate(rows[:before]) if r["trial"] == number
            and (until is None or _landed(r) <= until)]  # the exploits that state had been through
    if not mine:
        first = next((r for r in rows if r["trial"] == number), None)
        initial = first["old_params"] if first is not None else study.storage.trial(study.id, number).params
        return [{"trial": number, "start": 0, "end": until, "params": initial}]
    i, last = mine[-1]
    landed = _landed(last)
    if last["donor"] is None:  # explore only: the trial's own weights went on
        head = _segments(study, rows, number, last["step"], i)
    else:
        head = _segments(study, rows, last["donor"], landed, i)
    if until is not None and until <= landed:  # copied right at the exploit: not trained since
        return head
    return [*head, {"trial": number, "start": landed, "end": until, "params": last["new_params"]}]


def replay(study: Any, module_cls: type, number: int, *, device: str = "cpu", seed: int | None = None) -> Any:
    """Train a fresh ``module_cls`` following trial ``number``'s :func:`schedule`; return its Trainer.

    Each segment's params are applied in place (``apply_hyperparameters``) at the step they
    took effect; the trainer ends at the trial's last reported step, having trained exactly
    that many epochs (the segments are contiguous).
    """
    import torch

    from ._jobs import exploit
    from .trainer import Trainer

    segments = schedule(study, number)
    reported = study.storage.trial(study.id, number).metrics.get(study.metric, {})
    last = max(reported, default=0)
    if seed is not None:
        torch.manual_seed(seed)
    trainer: Any = None
    for seg in segments:
        end = last if seg["end"] is None else seg["end"]
        if trainer is None:
            trainer = Trainer(module_cls(dict(seg["params"]), device=device), device=device)
        else:
            exploit(trainer, None, dict(seg["params"]))
        if end > trainer.epoch:
            trainer.fit(end)
    return trainer
