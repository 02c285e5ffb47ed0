"""Trainer: runs one TrialModule on one device with two Ignite engines (train and evaluate)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine, Events
from ignite.utils import convert_tensor

from .exceptions import ContractError, TrialFailed
from .handlers._base import StopHandler
from .handlers._stop import request_stop, stop_record, watch
from .trial import TrialModule

__all__ = ["Trainer"]


def _plain(obj: Any) -> bool:
    """Made of dicts, lists, tuples, numbers, strings, None and tensors only."""
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in obj.items())
    if type(obj) in (list, tuple):  # (not a named tuple: its class would have to be unpickled)
        return all(_plain(v) for v in obj)
    return obj is None or isinstance(obj, (bool, int, float, str, torch.Tensor))

EvalCallback = Callable[["Trainer", dict[str, float]], None]


class Trainer:
    """Train a :class:`TrialModule` on one device, evaluating every ``eval_every`` epochs.

    Args:
        module: the configured module (``setup`` already ran).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``... Batches are moved there, the model too.
        eval_every: evaluate after every N epochs (and always after the last one).
        handlers: extra Ignite handlers: ``(event, callable)`` pairs added to the training
            engine, or objects with ``attach(trainer_engine)`` (Ignite's own handlers such as
            ``TerminateOnNan`` or ``ProgressBar``), or callables ``f(trainer)`` that attach
            themselves to ``trainer.train_engine`` / ``trainer.eval_engine``. torchsearch's
            own handlers (``Patience``, ``Divergence``...) attach to both engines.
        check_finite: a NaN or infinite training loss raises :class:`TrialFailed`: at once on
            the CPU, at the end of the epoch on an accelerator (no device sync per iteration).

    ``train_engine.state.output`` is the loss of the last iteration: a float on the CPU, a
    detached 0-d tensor on an accelerator (reading it every iteration would sync the device; the
    NaN check is then made once per epoch);
    ``eval_engine.state.metrics`` holds the last validation metrics (batch-size weighted means),
    also kept in :attr:`metrics`. :meth:`stop` ends training after the current iteration with a
    recorded reason; so do handlers that stop ``train_engine`` through
    :func:`torchsearch.handlers.request_stop` (their reason lands in :attr:`stop_reason`).
    """

    def __init__(
        self,
        module: TrialModule,
        *,
        device: str | torch.device = "cpu",
        eval_every: int = 1,
        handlers: Iterable[Any] = (),
        check_finite: bool = True,
    ) -> None:
        if not isinstance(module, TrialModule):
            raise TypeError(f"Trainer: module must be a TrialModule, got {type(module).__name__}")
        if not isinstance(eval_every, int) or isinstance(eval_every, bool) or eval_every < 1:
            raise ValueError(f"Trainer: eval_every must be an int >= 1, got eval_every={eval_every!r}")
        self.module = module
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        module.device = self.device
        module.model.to(self.device)
        self.eval_every = eval_every
        self.check_finite = check_finite
        self._non_blocking = self.device.type == "cuda"
        self.metrics: dict[str, float] = {}
        self.stop_code: str | None = None
        self.stop_reason: str | None = None
        self._max_epochs: int | None = None
        self._eval_callbacks: list[EvalCallback] = []
        self._train_mode = False
        self._finite: torch.Tensor | None = None
        self._stateful: list[Any] = []  # attached handlers whose state travels with state_dict()

        self.train_engine = Engine(self._train_step)
        watch(self.train_engine)  # train_engine.state.stop_code / stop_reason: None when nothing stopped the run
        self.eval_engine = Engine(self._eval_step)
        self.eval_engine.add_event_handler(Events.STARTED, self._eval_reset)
        self.eval_engine.add_event_handler(Events.ITERATION_COMPLETED, self._eval_accumulate)
        self.eval_engine.add_event_handler(Events.COMPLETED, self._eval_finish)
        self.train_engine.add_event_handler(Events.EPOCH_COMPLETED, self._end_of_epoch)
        self.train_engine.add_event_handler(Events.EPOCH_STARTED, self._to_train_mode)
        for h in handlers:
            self.add_handler(h)

    # -- wiring ---------------------------------------------------------------------------
    def add_handler(self, handler: Any) -> None:
        """Attach an extra handler (see the class docstring for the accepted shapes)."""
        if isinstance(handler, tuple) and len(handler) == 2:
            self.train_engine.add_event_handler(handler[0], handler[1])
        elif isinstance(handler, StopHandler):  # needs the evaluator too
            handler.attach(self)
        elif hasattr(handler, "attach"):
            handler.attach(self.train_engine)
        elif callable(handler):
            handler(self)
        else:
            raise TypeError(
                f"Trainer: a handler must be an (event, callable) pair, an object with attach(engine) "
                f"or a callable f(trainer), got {handler!r}"
            )
        if not isinstance(handler, tuple) and callable(getattr(handler, "state_dict", None)) \
                and callable(getattr(handler, "load_state_dict", None)):
            self._stateful.append(handler)

    def on_evaluation(self, callback: EvalCallback) -> None:
        """Call ``callback(trainer, metrics)`` after each evaluation (it may call :meth:`stop`)."""
        self._eval_callbacks.append(callback)

    def stop(self, code: str, reason: str) -> None:
        """End training after the current iteration, recording why (first reason wins)."""
        request_stop(self.train_engine, code, reason)
        self._take_stop_record()

    def _take_stop_record(self) -> None:
        record = stop_record(self.train_engine)
        if self.stop_code is None and record is not None:
            self.stop_code, self.stop_reason = record

    @property
    def stopped(self) -> bool:
        """Whether training was stopped (by :meth:`stop` or a handler), also before ``fit`` returns."""
        self._take_stop_record()
        return self.stop_code is not None

    @property
    def epoch(self) -> int:
        return self.train_engine.state.epoch

    # -- engines --------------------------------------------------------------------------
    def _to_device(self, batch: Any) -> Any:
        if self.device.type == "cpu":
            return batch
        return convert_tensor(batch, device=self.device, non_blocking=self._non_blocking)

    def _train_step(self, engine: Engine, batch: Any) -> float | torch.Tensor:
        m = self.module
        if not self._train_mode:  # once per epoch, not per iteration: train() walks every submodule
            m.model.train()
            self._train_mode = True
        m.optimizer.zero_grad(set_to_none=True)
        loss = m.training_step(self._to_device(batch))
        if not isinstance(loss, torch.Tensor):
            raise ContractError(f"{type(m).__name__}.training_step must return a loss tensor, got {type(loss).__name__}")
        loss.backward()
        m.optimizer.step()
        if self.device.type != "cpu":
            # no host sync per iteration on an accelerator: the finite check is accumulated on the
            # device and read once per epoch (handlers that want the float read it themselves)
            loss = loss.detach()
            if self.check_finite:
                ok = torch.isfinite(loss)
                self._finite = ok if self._finite is None else self._finite & ok
            return loss
        value = float(loss.detach())
        if self.check_finite and not math.isfinite(value):
            raise TrialFailed(
                f"training loss became {value} at epoch {engine.state.epoch}, iteration {engine.state.iteration}"
            )
        return value

    def _check_finite_epoch(self, engine: Engine) -> None:
        flag, self._finite = self._finite, None
        if flag is not None and not bool(flag):
            raise TrialFailed(f"training loss became non-finite (nan or inf) during epoch {engine.state.epoch}")

    def _eval_step(self, engine: Engine, batch: Any) -> tuple[dict[str, Any], int]:
        m = self.module
        with torch.no_grad():
            out = m.validation_step(self._to_device(batch))
        if not isinstance(out, dict):
            raise ContractError(f"{type(m).__name__}.validation_step must return a dict of metrics, got {type(out).__name__}")
        return out, m.batch_size(batch)

    def _to_train_mode(self, engine: Engine) -> None:
        self._train_mode = False
        self._finite = None

    def _eval_reset(self, engine: Engine) -> None:
        self._train_mode = False
        self.module.model.eval()
        self._sums: dict[str, Any] = {}
        self._count = 0

    def _eval_accumulate(self, engine: Engine) -> None:
        out, n = engine.state.output
        for k, v in out.items():
            v = v.detach().double() if isinstance(v, torch.Tensor) else float(v)
            self._sums[k] = self._sums.get(k, 0.0) + v * n
        self._count += n

    def _eval_finish(self, engine: Engine) -> None:
        count = max(self._count, 1)
        metrics = {k: float(v) / count for k, v in self._sums.items()}
        engine.state.metrics.update(metrics)
        self.metrics = metrics

    def _end_of_epoch(self, engine: Engine) -> None:
        self._check_finite_epoch(engine)
        sched = self.module.lr_scheduler
        if sched is not None and not isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step()
        epoch = engine.state.epoch
        if epoch % self.eval_every == 0 or epoch == self._max_epochs:
            self.evaluate()
            if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau) and "loss" in self.metrics:
                sched.step(self.metrics["loss"])
            for cb in self._eval_callbacks:
                cb(self, self.metrics)

    # -- public ---------------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """Run the evaluator over ``val_loader``; return the weighted-mean metrics."""
        self.eval_engine.run(self.module.val_loader)
        self.module.model.train()
        return dict(self.metrics)

    def fit(self, epochs: int) -> dict[str, float]:
        """Train up to epoch ``epochs`` (continuing from a loaded state); return last metrics."""
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise ValueError(f"Trainer.fit: epochs must be an int >= 1, got epochs={epochs!r}")
        self._max_epochs = epochs
        if self.train_engine.state.epoch >= epochs:
            return dict(self.metrics)
        self.train_engine.run(self.module.train_loader, max_epochs=epochs)
        self._take_stop_record()
        return dict(self.metrics)

    def swap_module(self, module: TrialModule) -> None:
        """Train ``module`` from now on (PBT rebuilds a module whose hyperparameters changed);
        the engines keep their epoch and iteration counts."""
        if not isinstance(module, TrialModule):
            raise TypeError(f"Trainer.swap_module: module must be a TrialModule, got {type(module).__name__}")
        old = self.module
        self.module = module
        self._train_mode = False
        module.device = self.device
        module.model.to(self.device)
        if module.train_loader is not old.train_loader:
            self.train_engine.set_data(module.train_loader)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: module state, epoch, iteration, RNG states, and
        the states of the attached handlers that have one (``handlers``, in attach order: a PBT
        member's ``Patience`` keeps counting across its turns)."""
        s = self.train_engine.state
        state = {
            "module": self.module.state_dict(),
            "epoch": int(s.epoch),
            "iteration": int(s.iteration),
            "engine": self.train_engine.state_dict() if s.max_epochs is not None else None,
            "metrics": dict(self.metrics),
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": np.random.get_state(),
                "python": random.getstate(),
            },
        }
        if self.device.type == "cuda":
            state["rng"]["cuda"] = torch.cuda.get_rng_state(self.device)
        handlers = [h.state_dict() for h in self._stateful]
        if handlers and all(_plain(h) for h in handlers):  # (read back without unpickling any class)
            state["handlers"] = [dict(h) for h in handlers]
        return state

    def load_state_dict(self, state: dict[str, Any], *, restore_rng: bool = True, module: bool = True) -> None:
        """Continue from ``state`` (:meth:`state_dict`); ``module=False`` keeps the module as it is
        (it already holds that state: a paused PBT trial resumed in the process that kept it).
        The handlers' states (``Patience``'s count...) are restored when the same handlers are
        attached in the same order."""
        if module:
            self.module.load_state_dict(state["module"])
        handlers = state.get("handlers")
        if handlers and len(handlers) == len(self._stateful):  # the same handlers, attached in the same order
            for h, h_state in zip(self._stateful, handlers):
                h.load_state_dict(h_state)
        if state.get("engine"):
            self.train_engine.load_state_dict(state["engine"])
        self.metrics = dict(state.get("metrics", {}))
        rng = state.get("rng")
        if restore_rng and rng:
            torch.set_rng_state(rng["torch"])
            np.random.set_state(rng["numpy"])
            random.setstate(rng["python"])
            if "cuda" in rng and self.device.type == "cuda":
                torch.cuda.set_rng_state(rng["cuda"], self.device)
