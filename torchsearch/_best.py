"""The weights of a running trial's best evaluation, kept in memory while it trains.

A trial's value is its best evaluation of the study metric, so the weights a study keeps for it
are those of that evaluation, not the last one. :class:`BestWeights` mirrors the coordinator's
rule (the first strictly better finite value wins; ties keep the earlier step) and, when a report
improves the best, takes a CPU copy of the model's ``state_dict`` (the model only: the optimiser
state is not needed to use the weights, and the final weights keep it). Reports that do not
improve cost nothing.

Across a pause (PBT, ASHA promotions) the best travels in the trainer state under :data:`KEY`:
its value, step and model copy; when the best is the evaluation the state is taken at, the copy
is left out (the state's own module holds those weights) and a fingerprint of the weights stands
in for it, so that a state whose module was replaced meanwhile (an exploit carried out on a
paused state) is recognised and its best weights are known to be lost rather than confused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["BestWeights", "KEY", "kept_best"]

#: The entry of a trainer state that holds the best evaluation (see :meth:`BestWeights.state`).
KEY = "best"


def _copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _fingerprint(model: torch.nn.Module | Mapping[str, torch.Tensor]) -> float:
    """A cheap summary of the weights (a model, or its ``state_dict``): equal weights give equal
    values, other weights (almost surely) other ones."""
    total = 0.0
    weights = model if isinstance(model, Mapping) else model.state_dict()
    for i, v in enumerate(weights.values()):
        if v.is_floating_point() and v.numel():
            total += float(v.detach().double().sum()) * (i + 1) + float(v.detach().reshape(-1)[0].double())
    return total


class BestWeights:
    """The best evaluation of ``metric`` (``mode``) seen so far in this run of a trial, and a copy
    of the model's weights at that evaluation."""

    def __init__(self, metric: str, mode: str) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"BestWeights: mode must be 'min' or 'max', got mode={mode!r}")
        self.metric, self.mode = metric, mode
        self.value: float | None = None
        self.step: int | None = None
        self.model: dict[str, torch.Tensor] | None = None
        self.lost = False          # the best evaluation's weights are not available (see restore)
        self.current = False       # the model still holds the best evaluation's weights (no exploit since)
        self.copies = 0            # copies taken in this run (the cost, for the overhead benchmark)

    def _better(self, value: float) -> bool:
        if self.value is None:
            return True
        return value < self.value if self.mode == "min" else value > self.value

    def seen(self, metrics: Mapping[str, float], step: int, model: torch.nn.Module) -> bool:
        """An evaluation at ``step`` with ``metrics``; copies the weights when it improves the best.
        Returns whether it did."""
        value = metrics.get(self.metric)
        if value is None:
            return False
        value = float(value)
        if not math.isfinite(value) or not self._better(value):
            return False
        self.value, self.step, self.lost, self.current = value, int(step), False, True
        self.model = _copy(model)
        self.copies += 1
        return True

    def replaced(self) -> None:
        """The model's weights were replaced (a PBT exploit): a later evaluation at the best's step
        holds other weights."""
        self.current = False

    def state(self, model: torch.nn.Module, epoch: int) -> dict[str, Any] | None:
        """The entry for a trainer state taken at ``epoch`` (None before any evaluation)."""
        if self.value is None:
            return None
        if self.lost:
            return {"value": self.value, "step": self.step, "model": None, "fingerprint": None}
        if self.current and self.step == epoch:  # the state's module holds these weights: no second copy travels
            return {"value": self.value, "step": self.step, "model": None, "fingerprint": _fingerprint(model)}
        return {"value": self.value, "step": self.step, "model": self.model, "fingerprint": None}

    def restore(self, entry: Mapping[str, Any] | None, model: torch.nn.Module) -> None:
        """Take back the best of a resumed state (``entry``: its :data:`KEY`), ``model`` holding the
        resumed weights. When the entry points at the state's own weights but ``model`` holds other
        ones (an exploit replaced them while the trial was paused), the best weights are lost."""
        if not entry:
            return
        self.value, self.step = float(entry["value"]), int(entry["step"])
        self.model, self.lost, self.current = None, False, False
        if entry.get("model") is not None:
            self.model = {k: v.clone() for k, v in entry["model"].items()}
        elif entry.get("fingerprint") is not None and math.isclose(
                _fingerprint(model), float(entry["fingerprint"]), rel_tol=1e-9, abs_tol=1e-9):
            self.model, self.current = _copy(model), True
        else:
            self.lost = True

    def result(self, final_epoch: int) -> tuple[dict[str, Any] | None, int | None]:
        """``(best_state_dict, best_step)`` for the job's result, the trainer at ``final_epoch``.
        ``best_state_dict`` is None when the final weights are the best ones (the best is the last
        evaluation and nothing changed the weights since), ``best_step`` None when the best
        evaluation's weights are not known."""
        if self.value is None or self.lost:
            return None, None
        if self.current and self.step == final_epoch:
            return None, self.step
        return {"model": self.model}, self.step


def kept_best(state: Mapping[str, Any]) -> tuple[dict[str, Any] | None, int | None]:
    """``(best_weights, best_step)`` of a kept trainer state (a PBT member still paused when its
    study ends), as :meth:`BestWeights.result` gives them for the state's own module weights."""
    entry = state.get(KEY)
    if not entry:
        return None, None
    if entry.get("model") is not None:
        return {"model": entry["model"]}, int(entry["step"])
    model = (state.get("module") or {}).get("model")
    if entry.get("fingerprint") is not None and model is not None and math.isclose(
            _fingerprint(model), float(entry["fingerprint"]), rel_tol=1e-9, abs_tol=1e-9):
        return None, int(entry["step"])
    return None, None
