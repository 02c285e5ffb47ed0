"""What runs inside a trial: train a TrialModule (``tune``) or call a function (``optimize``).

A job is a picklable callable ``job(trial) -> JobResult``; ``trial`` is an
:class:`~torchsearch.study.ActiveTrial` (or a worker's proxy of one) whose ``report(metrics,
step)`` returns the scheduler's decision. Raising marks the trial failed.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ._best import KEY as BEST_KEY
from ._best import BestWeights
from ._state import to_cpu
from .exceptions import ContractError, TrialFailed

__all__ = ["JobResult", "TrainJob", "ObjectiveJob", "trial_seed", "exploit"]


@dataclass
class JobResult:
    """How a job ended. ``value`` overrides the best reported value (``optimize`` uses it)."""

    value: float | None = None
    #: the final weights (the module's ``state_dict``)
    state_dict: dict[str, Any] | None = None
    #: the weights of the evaluation whose value is the trial's value (``{"model": ...}``), when
    #: they differ from the final ones (None: the final weights are the best ones)
    best_state_dict: dict[str, Any] | None = None
    #: the step of that evaluation; None when the job did not keep the best weights (no metric
    #: given, or lost: see :mod:`torchsearch._best`)
    best_step: int | None = None
    stop_code: str | None = None
    stop_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: the trial was paused (PBT): its state went to the coordinator, it resumes later
    paused: bool = False
    #: paused, and this process holds its module: resumed here, it needs no state sent back
    held: bool = False


@functools.lru_cache(maxsize=4096)
def trial_seed(study_seed: int | None, number: int) -> int | None:
    """A per-trial seed spawned from the study seed (None stays None)."""
    if study_seed is None:
        return None
    return int(np.random.SeedSequence([study_seed, number]).generate_state(1)[0])


class ObjectiveJob:
    """Call ``objective(params) -> float`` once and report it as the study metric at step 0."""

    def __init__(self, objective: Callable[[dict[str, Any]], float], metric: str) -> None:
        self.objective = objective
        self.metric = metric

    def __call__(self, trial: Any) -> JobResult:
        value = self.objective(dict(trial.params))
        if isinstance(value, torch.Tensor):
            value = value.item()
        try:
            value = float(value)
        except (TypeError, ValueError):
            # a programming error (a missing ``return``): while no trial has a value, the study
            # raises it at once instead of failing every trial in turn (``_failfast``)
            raise ContractError(f"objective must return a number (the value to optimise), "
                                f"got {value!r} ({type(value).__name__})") from None
        if not math.isfinite(value):
            raise TrialFailed(f"objective returned {value}")
        trial.report({self.metric: value}, step=0)
        return JobResult(value=value)


#: The logger of the Ignite engines of trials run by a study: quiet up to CRITICAL unless the
#: user lowers its level (``logging.getLogger("torchsearch.trial.engine").setLevel(...)``).
_ENGINE_LOG = logging.getLogger("torchsearch.trial.engine")
if _ENGINE_LOG.level == logging.NOTSET:
    _ENGINE_LOG.setLevel(logging.CRITICAL)

#: The module of the last trial that paused in this process, kept so that the next resumed
#: member can reuse it instead of running ``setup`` again (building a small model and its
#: loaders can cost a good part of an epoch). Its whole state is overwritten by the resumed
#: member's state, and ``apply_hyperparameters`` must accept the member's params, else a fresh
#: module is built. One per process: a worker runs one trial at a time.
_IDLE_MODULES: list[Any] = []
_IDLE_LIMIT = 1


#: Trials that paused in this process, by number: their module and the rest of their trainer
#: state (epoch, engine, metrics, RNG). The coordinator knows which of them it may still resume
#: here with their state unchanged (``trial.held_here``); resumed here (``trial.resume_held``),
#: a trial continues on its own module: no state is sent, decoded or loaded. The others are let
#: go (their module may still serve as an idle one).
_HELD: dict[int, tuple[Any, dict[str, Any]]] = {}
#: On an accelerator, the held modules of one process may take at most this share of the
#: device's memory (weights, optimiser state); on the CPU they are not limited.
_HELD_DEVICE_SHARE = 0.1


def _let_go(keep: set[int]) -> None:
    for number in [n for n in _HELD if n not in keep]:
        _let_go_of(_HELD.pop(number)[0])


def _let_go_of(module: Any) -> None:
    _IDLE_MODULES.append(module)
    del _IDLE_MODULES[:max(0, len(_IDLE_MODULES) - _IDLE_LIMIT)]


def _nbytes(module: Any) -> int:
    tensors = [*module.model.parameters(), *module.model.buffers()]
    for state in module.optimizer.state.values():
        tensors.extend(v for v in state.values() if isinstance(v, torch.Tensor))
    return sum(t.numel() * t.element_size() for t in tensors)


def _may_hold(module: Any) -> bool:
    """Whether this process may keep ``module`` for its trial's return (device memory)."""
    device = module.device
    if device.type != "cuda":
        return True
    total = torch.cuda.get_device_properties(device).total_memory
    held = sum(_nbytes(m) for m, _ in _HELD.values() if m.device == device)
    return held + _nbytes(module) <= _HELD_DEVICE_SHARE * total


def _same_device(a: torch.device, b: str | torch.device) -> bool:
    b = torch.device(b)
    if b.type == "cuda" and b.index is None:
        b = torch.device("cuda", torch.cuda.current_device())
    return a == b


def _idle_module(module_cls: type, device: str, resume: dict[str, Any]) -> Any:
    """A kept module of ``module_cls`` on ``device`` into which ``resume`` loads, or None."""
    while _IDLE_MODULES:
        module = _IDLE_MODULES.pop()
        if type(module) is not module_cls or not _same_device(module.device, device):
            continue
        try:
            module.load_state_dict(resume["module"])  # shapes differ (another width): build instead
        except (RuntimeError, ValueError, KeyError):
            continue
        return module
    return None


def _handler_shape(h: Any) -> bool:
    """Whether ``h`` is something :meth:`Trainer.add_handler` takes."""
    return (isinstance(h, tuple) and len(h) == 2) or hasattr(h, "attach") or callable(h)


def check_handlers(handlers: Any, where: str) -> None:
    """Refuse, before any trial runs, ``handlers=`` that no trial could attach."""
    if callable(handlers) and not hasattr(handlers, "attach"):
        return  # a factory: its result is checked at each trial (a programming error fails fast there)
    if isinstance(handlers, (str, bytes)) or not isinstance(handlers, Iterable):
        raise TypeError(f"{where}: handlers must be a list of Ignite handlers or a function returning one, "
                        f"got handlers={handlers!r}")
    for h in handlers:
        if not _handler_shape(h):
            raise TypeError(f"{where}: each of handlers must be an (event, callable) pair, an object with "
                            f"attach(engine) or a callable f(trainer), got {h!r} in handlers={handlers!r}")


class TrainJob:
    """Build ``module_cls(params)`` on a device and train it with :class:`~torchsearch.Trainer`.

    After each evaluation the validation metrics are reported; a ``stop`` decision ends
    training with its reason. ``deadline`` (a value of ``clock()``, ``time.monotonic`` by
    default) stops the trial when the study's time budget runs out. With the study's ``metric``
    and ``mode``, the weights of the best evaluation are kept in memory as the trial runs (see
    :mod:`torchsearch._best`) and returned beside the final ones.
    """

    def __init__(self, module_cls: type, *, epochs: int, device: str = "cpu", eval_every: int = 1,
                 handlers: Sequence[Any] | Callable[[], Sequence[Any]] = (), seed: int | None = None,
                 deadline: float | None = None, keep_state: bool = True,
                 clock: Callable[[], float] = time.monotonic, metric: str | None = None,
                 mode: str | None = None) -> None:
        self.clock = clock
        self.metric, self.mode = metric, mode
        self.module_cls = module_cls
        self.epochs = epochs
        self.device = device
        self.eval_every = eval_every
        self.handlers = handlers
        self.seed = seed
        self.deadline = deadline
        self.keep_state = keep_state

    def _handlers(self) -> Sequence[Any]:
        if not callable(self.handlers):
            return list(self.handlers)
        returned = self.handlers()
        try:
            made = list(returned)
        except TypeError:
            made = None
        bad = None if made is None else next((h for h in made if not _handler_shape(h)), None)
        if made is None or bad is not None:
            got = f"a list holding {bad!r}" if made is not None else repr(returned)
            raise ContractError(f"handlers={self.handlers!r} must return a list of handlers (each an (event, "
                                f"callable) pair, an object with attach(engine) or a callable f(trainer)), got {got}")
        return made

    def _trainer(self, module: Any, device: str | None):  # -> Trainer
        from .trainer import Trainer

        trainer = Trainer(module, device=device or self.device, eval_every=self.eval_every, handlers=self._handlers())
        # a failing trial is recorded with its error and traceback; Ignite's own "Engine run is
        # terminating due to exception" line would repeat it on stderr for every failed trial
        trainer.train_engine.logger = trainer.eval_engine.logger = _ENGINE_LOG
        return trainer

    def build(self, trial: Any, device: str | None = None, *, seeded: bool = True):  # -> Trainer
        s = trial_seed(self.seed, trial.number) if seeded else None  # (a resume restores its own RNG)
        if s is not None:
            torch.manual_seed(s)
        module = self.module_cls(dict(trial.params), device=device or self.device)
        return self._trainer(module, device)

    def __call__(self, trial: Any, device: str | None = None) -> JobResult:
        from ignite.engine import Events

        keep = getattr(trial, "held_here", None)  # trials the coordinator may still resume here
        if keep is not None:
            _let_go({*keep, trial.number})
        held = _HELD.pop(trial.number, None)
        trainer = None
        resume = None
        rest_held: dict[str, Any] = {}  # the rest of the state of a trial resumed on its kept module
        if held is not None and not getattr(trial, "resume_held", False):
            _let_go_of(held[0])  # the coordinator changed its state meanwhile (or starts it afresh)
            held = None
        if getattr(trial, "resume_held", False):
            if held is None:
                raise TrialFailed(f"trial {trial.number}: the coordinator resumes it on the module this process "
                                  "kept at its pause, but this process holds none")
            module, rest_held = held
            trainer = self._trainer(module, device)
            trainer.load_state_dict(rest_held, module=False)
        elif hasattr(trial, "resume_state"):
            resume = trial.resume_state()
        if resume is not None:
            module = _idle_module(self.module_cls, device or self.device, resume)
            if module is not None:
                trainer = self._trainer(module, device)
                trainer.load_state_dict(resume, module=False)  # (_idle_module loaded the module state)
                if not module.apply_hyperparameters(dict(trial.params)):
                    trainer = None  # the kept module cannot take these params: build one
        if trainer is None:
            trainer = self.build(trial, device, seeded=resume is None)
            if resume is not None:
                try:
                    trainer.load_state_dict(resume)
                except (RuntimeError, ValueError, KeyError) as e:  # a pause that exploited changed its shape
                    raise _misfit("the kept weights it resumes from", trainer.module, f"params {dict(trial.params)}",
                                  e) from e
                trainer.module.apply_hyperparameters(dict(trial.params))  # after a pause that exploited
        best = BestWeights(self.metric, self.mode) if self.keep_state and self.metric and self.mode else None
        if best is not None:
            best.restore((resume or rest_held).get(BEST_KEY), trainer.module.model)
        paused = False
        rest: dict[str, Any] = {}

        def full_state(tr: Any) -> dict[str, Any]:
            out = tr.state_dict()
            entry = None if best is None else best.state(tr.module.model, tr.epoch)
            if entry is not None:
                out[BEST_KEY] = entry
            return out

        def on_eval(tr: Any, metrics: dict[str, float]) -> None:
            nonlocal paused
            taken: list[dict[str, Any]] = []  # the state the report took, if it took one

            def state() -> dict[str, Any]:
                taken.append(full_state(tr))
                return taken[-1]

            if best is not None:
                best.seen(metrics, tr.epoch, tr.module.model)

            # a handler that stopped training at this evaluation (Patience...) makes it the last one:
            # no pause or exploit can follow it
            decision = trial.report(metrics, step=tr.epoch, state=state, final=tr.epoch >= self.epochs or tr.stopped)
            if decision.action == "stop":
                tr.stop(decision.code or "scheduler", decision.reason or "stopped by the scheduler")
            elif decision.action == "exploit":
                donor = trial.donor_state() if decision.donor is not None else None
                exploit(tr, donor, decision.params or dict(trial.params))
                if donor is not None and best is not None:
                    best.replaced()
            elif decision.action == "pause":
                paused = True
                full = taken[-1] if taken else full_state(tr)
                rest.update((k, v) for k, v in full.items() if k != "module")
                tr.train_engine.terminate()

        trainer.on_evaluation(on_eval)
        if self.deadline is not None:
            deadline = self.deadline

            def check_deadline(engine: Any) -> None:
                if self.clock() >= deadline:
                    trainer.stop("study_time_budget", "study time budget exhausted")

            trainer.train_engine.add_event_handler(Events.ITERATION_COMPLETED, check_deadline)
        if getattr(trial, "trial_timeout", None):  # every iteration is a sign of progress (see Study.run)
            tick = trial.tick
            for engine in (trainer.train_engine, trainer.eval_engine):
                engine.add_event_handler(Events.ITERATION_COMPLETED, lambda _: tick())
        trainer.fit(self.epochs)
        if paused:
            module = trainer.module
            module.optimizer.zero_grad(set_to_none=True)  # each step starts with zero_grad: no need to keep them
            if keep is not None and _may_hold(module):
                _HELD[trial.number] = (module, rest)
                return JobResult(paused=True, held=True)
            _let_go_of(module)
            return JobResult(paused=True)
        state = best_state = best_step = None
        if self.keep_state:
            state = {k: to_cpu(v) for k, v in trainer.module.state_dict().items()}
            if best is not None:
                best_state, best_step = best.result(trainer.epoch)
        return JobResult(state_dict=state, best_state_dict=best_state, best_step=best_step,
                         stop_code=trainer.stop_code, stop_reason=trainer.stop_reason)


def exploit(trainer: Any, donor: dict[str, Any] | None, params: dict[str, Any]) -> None:
    """PBT exploit inside a running trainer: take the donor's module state (weights, optimiser,
    LR scheduler) and its epoch count, then apply ``params`` in place; rebuild the module when
    it cannot.

    The trial goes on from the donor's epoch (the weights were trained that long): it trains
    only the epochs left from there. It keeps its own RNG. ``donor=None`` explores only: the
    trial keeps its own state and epoch.
    """
    module = trainer.module
    copied = donor is not None
    before = dict(module.hp)  # (apply_hyperparameters sets hp even when it returns False)
    if donor is None:
        donor = {"module": {k: to_cpu(v) for k, v in module.state_dict().items()}}
    elif "epoch" in donor:
        s = trainer.train_engine.state
        s.epoch = int(donor["epoch"])
        s.iteration = int(donor["iteration"]) if not s.epoch_length or donor["iteration"] % s.epoch_length == 0 \
            else s.epoch * s.epoch_length  # (the donor's epochs were another length: whole epochs all the same)
    try:
        module.load_state_dict(donor["module"])
        in_place = module.apply_hyperparameters(dict(params))
    except (RuntimeError, ValueError, KeyError):  # e.g. the donor's layers have another width
        in_place = False
    if in_place:
        return
    fresh = type(module)(dict(params), device=trainer.device)
    try:
        fresh.load_state_dict(donor["module"])
    except (RuntimeError, ValueError, KeyError) as e:
        what = "the donor's weights" if copied else "its own weights"
        changed = {k: v for k, v in params.items() if before.get(k) != v}
        raise _misfit(what, fresh, f"the explored params {changed}", e) from e
    fresh.apply_hyperparameters(dict(params))
    trainer.swap_module(fresh)


def _misfit(what: str, module: Any, params: str, e: BaseException) -> TrialFailed:
    """The error of PBT weights that do not fit a module built with ``params`` (after an explore)."""
    return TrialFailed(
        f"PBT: {what} do not fit a {type(module).__name__} built with {params} "
        f"({type(e).__name__}: {str(e).splitlines()[0]}). A parameter that shapes the model (a layer width, "
        "say) cannot change under copied weights: PBT(hyperparams=[...]) must name only parameters that "
        "leave the model's shape as it is")
