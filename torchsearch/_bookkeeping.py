"""What the coordinator writes and reads about trials besides their reports: taking back a
stored study's unfinished trials, keeping the best trial's weights, the progress line, and the
epochs trained so far. Plain functions over :class:`~torchsearch.storage.Storage`."""

from __future__ import annotations

import time
import warnings
from typing import Any

from ._checkpoints import LAST, NOT_SAVED
from ._record import Trial
from .exceptions import StorageError

__all__ = ["take_back", "keep_weights_if_best", "progress_line", "epochs_trained"]


def take_back(storage: Any, study_id: int, space: Any, population: Any
              ) -> tuple[list[Trial], dict[int, dict[str, Any]], list[dict[str, Any]]]:
    """A reopened study's trials (its lease is held): trials that were running when the last
    process died become ``interrupted``; PBT members (and trials paused at a rung) with a durable
    kept state stay ``paused``. Returns the trials, ``number -> packed state`` of those to
    restore, and the params to rerun first (each interrupted configuration once, unless a later
    trial ran it again), in order."""
    trials = storage.trials(study_id, with_metrics=False)
    restore: dict[int, dict[str, Any]] = {}
    for t in trials:
        state = population.load_durable(t.number) if t.state in ("running", "paused") else None
        if state is not None:  # resume it from its last kept state
            storage.update_trial(study_id, t.number, state="paused")
            t.state = "paused"
            restore[t.number] = state
        elif t.state in ("running", "paused"):
            storage.update_trial(study_id, t.number, state="interrupted", ended=time.time(),
                                 error="the process running this trial ended before it finished")
            t.state = "interrupted"
    later: set[str] = set()
    queue = []
    for t in reversed(trials):
        key = space.key(t.params)
        if t.state == "interrupted" and key not in later:
            queue.append(t.params)
        later.add(key)
    return trials, restore, list(reversed(queue))


def keep_weights_if_best(storage: Any, study_id: int, name: str, mode: str, number: int, state_dict: dict[str, Any],
                         best_weights: dict[str, Any] | None = None) -> None:
    """Keep the weights of the study's best trial only (the previous best's are deleted): under
    its ``checkpoint`` key those of its best evaluation (``best_weights``, or the final
    ``state_dict`` when they are the same), and its final weights under the key + ``-last`` when
    they differ. When the job could not keep the best evaluation's weights (a job given no
    metric, a PBT member whose weights an exploit replaced at a pause) the final weights are all
    there is, and ``load_module`` gives them for both. A failed write (full disk, read-only
    folder) fails these weights with a warning, not the study."""
    if storage.best_number(study_id, mode) != number:
        return
    key = f"{name}-trial-{number}"
    try:
        storage.save_checkpoint(key, state_dict if best_weights is None else best_weights)
        if best_weights is not None:
            storage.save_checkpoint(key + LAST, state_dict)
    except StorageError as e:
        warnings.warn(f"study {name!r}: trial {number}'s final weights were not saved, the study goes on: {e}",
                      RuntimeWarning, stacklevel=4)
        storage.update_trial(study_id, number, error=f"{NOT_SAVED}: {e}")
        return  # the previous best's weights stay: they are the best ones saved
    storage.update_trial(study_id, number, checkpoint=key)
    for t in storage.trials(study_id, with_metrics=False):
        if t.checkpoint and t.number != number:
            storage.delete_checkpoint(t.checkpoint)
            storage.delete_checkpoint(t.checkpoint + LAST)
            storage.update_trial(study_id, t.number, checkpoint=None)


def progress_line(storage: Any, study_id: int, name: str, metric: str, mode: str, t: Trial, n_finished: int,
                  elapsed: float) -> str:
    """The line printed when trial ``t`` ends: its state and value (or error), the best so far."""
    best_number = storage.best_number(study_id, mode)
    if best_number is None:
        best_txt = "no best yet"
    else:
        best = storage.trial(study_id, best_number)
        best_txt = f"best {best.value:.6g} (trial {best.number})"
    if t.state == "failed":  # the error, not a value reported before it failed
        what = (t.error or "failed").splitlines()[0][:200]
    else:
        what = f"{metric}={t.value:.6g}" if t.has_value() else (t.error or "no value")
    extra = f" [{t.stop_reason}]" if t.state == "stopped" and t.stop_reason else ""
    return f"[{name}] trial {t.number} {t.state}: {what}{extra} | {best_txt} | {n_finished} done | {elapsed:.1f}s"


def epochs_trained(storage: Any, study_id: int) -> int:
    """Epochs the study's trials trained, from storage: each trial's last step, less the epochs
    a PBT copy carried over from a donor that was ahead (the member did not train those)."""
    reached = sum(max((max(v) for v in t.metrics.values() if v), default=0) for t in storage.trials(study_id))
    carried = sum(max(0, row["donor_step"] - row["step"]) for row in storage.lineage(study_id)
                  if row["donor_step"] is not None)
    return reached - carried
