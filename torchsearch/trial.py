"""What the user subclasses (:class:`TrialModule`) and what a study records (:class:`Trial`)."""

from __future__ import annotations

from typing import Any

import torch

from ._record import FINISHED_STATES, Trial, TrialState
from .exceptions import ContractError

__all__ = ["TrialModule", "Trial", "TrialState", "FINISHED_STATES"]


class TrialModule:
    """One trainable configuration: subclass it and fill in three methods.

    ``setup(hp)`` builds everything from the hyperparameters and sets the attributes
    ``model``, ``optimizer``, ``train_loader``, ``val_loader`` and, optionally,
    ``lr_scheduler`` (stepped once per epoch by the Trainer). ``training_step(batch)`` returns
    the loss; ``validation_step(batch)`` returns a dict of metrics, which the Trainer averages
    over the validation set weighted by batch size.

    Batches arrive already on ``self.device``; train/eval modes and ``torch.no_grad()`` are
    the Trainer's job. ``self.device`` is set before ``setup`` runs, and the model is moved
    there right after it (parameters move in place, so the optimiser keeps them).
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    train_loader: Any
    val_loader: Any
    lr_scheduler: Any = None

    def __init__(self, hp: dict[str, Any], *, device: str | torch.device = "cpu") -> None:
        self.hp = dict(hp)
        self.device = torch.device(device)
        self.lr_scheduler = None
        self.setup(self.hp)
        missing = [a for a in ("model", "optimizer", "train_loader", "val_loader") if getattr(self, a, None) is None]
        if missing:
            raise ContractError(f"{type(self).__name__}.setup(hp) must set {', '.join(missing)}")
        # on the device before any optimiser state is loaded: Optimizer.load_state_dict puts
        # its buffers (momentum...) on the device the parameters have at that moment
        self.model.to(self.device)

    def setup(self, hp: dict[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement setup(self, hp)")

    def training_step(self, batch: Any) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement training_step(self, batch)")

    def validation_step(self, batch: Any) -> dict[str, float | torch.Tensor]:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} must implement validation_step(self, batch)")

    def batch_size(self, batch: Any) -> int:
        """How many samples a batch holds (the weight of its metrics). Override for odd batches."""
        if isinstance(batch, torch.Tensor):
            return int(batch.shape[0])
        if isinstance(batch, dict):
            return self.batch_size(next(iter(batch.values())))
        if isinstance(batch, (list, tuple)) and batch:
            return self.batch_size(batch[0])
        return 1

    def apply_hyperparameters(self, hp: dict[str, Any]) -> bool:
        """Apply new hyperparameters in place (PBT explore); return False to be rebuilt instead.

        The default sets every key of ``hp`` that the optimiser's param_groups hold (``lr``,
        ``momentum``, ``weight_decay``, ``eps``...) in each group, without rebuilding the
        optimiser, and returns True when every changed key was applied that way. Otherwise the
        module is rebuilt from ``hp`` (``setup``) and the copied state loaded into it.
        Override it for hyperparameters you can change in place yourself::

            def apply_hyperparameters(self, hp):
                for m in self.model.modules():
                    if isinstance(m, nn.Dropout):
                        m.p = hp["dropout"]
                self.set_optimizer_hyperparameters(hp)
                self.hp = dict(hp)
                return True
        """
        changed = {k for k, v in hp.items() if k not in self.hp or self.hp[k] != v}
        applied = self.set_optimizer_hyperparameters(hp)
        self.hp = dict(hp)
        return changed <= applied

    def set_optimizer_hyperparameters(self, hp: dict[str, Any]) -> set[str]:
        """Set each key of ``hp`` found in the optimiser's param_groups; return the keys set."""
        applied: set[str] = set()
        for group in self.optimizer.param_groups:
            for k, v in hp.items():
                if k != "params" and k in group and not isinstance(group[k], (tuple, list)):
                    group[k] = v
                    applied.add(k)
        if "lr" in applied and self.lr_scheduler is not None and hasattr(self.lr_scheduler, "base_lrs"):
            self.lr_scheduler.base_lrs = [hp["lr"] for _ in self.lr_scheduler.base_lrs]
        return applied

    def state_dict(self) -> dict[str, Any]:
        """Model, optimiser and LR scheduler state."""
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}
        if self.lr_scheduler is not None:
            state["lr_scheduler"] = self.lr_scheduler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
        if self.lr_scheduler is not None and "lr_scheduler" in state:
            self.lr_scheduler.load_state_dict(state["lr_scheduler"])
