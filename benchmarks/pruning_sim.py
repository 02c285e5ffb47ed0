"""Simulated studies on synthetic curves (benchmarks/pruning.py, part b).

Every method trains the same synthetic curves (``pruning_curves.Family``) on ``workers``
simulated workers, one epoch per time unit, until ``budget`` epochs are spent in all; each
evaluation is one epoch's value. What is recorded: the best value reported so far against the
epochs spent. The decisions are the real ones:

- ours: the torchsearch scheduler and pruner objects, driven as the coordinator drives them
  (a free slot goes to ``pruner.next_promotion()`` first, else to ``scheduler.suggest()``;
  a paused trial resumes where it paused);
- Optuna: an ``optuna.Study`` with its sampler and pruner through ask / report / should_prune;
- Ray Tune: its ``ASHAScheduler`` / ``AsyncHyperBandScheduler`` objects fed each result (the
  decision logic of ``tune.run`` without its actors); Ray's random search draws the configs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from pruning_curves import SPACE, Family


class Trace:
    """Best value reported against epochs spent."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.best = -math.inf
        self.curve = np.full(budget, np.nan)
        self.spent = 0
        self.trials = 0
        self.full = 0   # trials trained to max_epochs

    def add(self, value: float) -> None:
        self.best = max(self.best, value)
        self.curve[self.spent] = self.best
        self.spent += 1

    @property
    def done(self) -> bool:
        return self.spent >= self.budget


def run_ours(family: Family, budget: int, scheduler: Any, pruner: Any, *, workers: int = 4, seed: int = 0,
             rungs: bool = True) -> Trace:
    E = family.max_epochs
    scheduler.setup(SPACE, mode="max", seed=seed)
    if pruner is not None:
        pruner.setup(mode="max", max_epochs=E, metric="accuracy")
        if rungs:
            scheduler.set_rungs(pruner.rungs())
    tr = Trace(budget)
    curves: dict[int, np.ndarray] = {}
    epoch: dict[int, int] = {}
    best: dict[int, float] = {}
    running: list[int] = []
    nxt = 0

    def end(n: int, state: str) -> None:
        running.remove(n)
        scheduler.on_complete(n, best.get(n), state)
        if pruner is not None:
            pruner.on_complete(n, best.get(n), state)

    while not tr.done:
        while len(running) < workers:
            n = pruner.next_promotion() if pruner is not None else None
            if n is not None:
                pruner.on_resume(n)
                running.append(n)
                continue
            params = scheduler.suggest()
            if params is None:
                break
            n, nxt = nxt, nxt + 1
            scheduler.on_trial_start(n, params)
            if pruner is not None:
                pruner.on_trial_start(n, params)
            curves[n], epoch[n] = family.curve(params, n), 0
            tr.trials += 1
            running.append(n)
        if not running:
            break
        for n in list(running):
            if tr.done:
                break
            epoch[n] += 1
            step, v = epoch[n], float(curves[n][epoch[n] - 1])
            tr.add(v)
            best[n] = max(best.get(n, -math.inf), v)
            d = scheduler.on_report(n, step, v)
            if d.action == "continue" and pruner is not None:
                d = pruner.on_report(n, step, v)
            if step >= E:
                tr.full += 1
                end(n, "completed")
            elif d.action == "stop":
                end(n, "stopped")
            elif d.action == "pause":
                running.remove(n)
    return tr


def _optuna_params(trial: Any) -> dict[str, Any]:
    return {"lr": trial.suggest_float("lr", 1e-4, 1.0, log=True), "reg": trial.suggest_float("reg", 0.0, 1.0),
            "width": trial.suggest_int("width", 1, 8)}


def run_optuna(family: Family, budget: int, sampler: Any, pruner: Any, *, workers: int = 4) -> Trace:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    E = family.max_epochs
    tr = Trace(budget)
    running: list[list[Any]] = []  # [trial, curve, epoch, best]
    n = 0
    while not tr.done:
        while len(running) < workers:
            t = study.ask()
            running.append([t, family.curve(_optuna_params(t), n), 0, -math.inf])
            n += 1
            tr.trials += 1
        for item in list(running):
            if tr.done:
                break
            t, curve, e, b = item
            e += 1
            v = float(curve[e - 1])
            item[2], item[3] = e, max(b, v)
            tr.add(v)
            t.report(v, e)
            if e >= E:
                tr.full += 1
                study.tell(t, item[3])
                running.remove(item)
            elif t.should_prune():
                study.tell(t, state=optuna.trial.TrialState.PRUNED)
                running.remove(item)
    return tr


class _RayTrial:
    def __init__(self, i: int) -> None:
        self.trial_id = f"t{i}"


def run_ray(family: Family, budget: int, scheduler: Any, *, workers: int = 4, seed: int = 0) -> Trace:
    """``scheduler``: a Ray Tune ``AsyncHyperBandScheduler`` (ASHAScheduler) with metric, mode and
    max_t set. Ray's ``on_trial_add`` picks a bracket with numpy's global generator: seeded here."""
    from ray.tune.schedulers import TrialScheduler

    np.random.seed(seed)
    rng = np.random.default_rng([seed, 17])
    E = family.max_epochs
    tr = Trace(budget)
    running: list[list[Any]] = []
    n = 0
    while not tr.done:
        while len(running) < workers:
            t = _RayTrial(n)
            scheduler.on_trial_add(None, t)
            running.append([t, family.curve(SPACE.sample(rng), n), 0])
            n += 1
            tr.trials += 1
        for item in list(running):
            if tr.done:
                break
            t, curve, e = item
            e += 1
            item[2] = e
            v = float(curve[e - 1])
            tr.add(v)
            action = scheduler.on_trial_result(None, t, {"training_iteration": e, "accuracy": v})
            if e >= E:
                tr.full += 1
                scheduler.on_trial_complete(None, t, {"training_iteration": e, "accuracy": v})
                running.remove(item)
            elif action == TrialScheduler.STOP:
                scheduler.on_trial_remove(None, t)
                running.remove(item)
    return tr


def methods(E: int, seed: int) -> dict[str, Callable[[Family, int, int], Trace]]:
    """name -> run(family, budget, workers)."""
    from torchsearch.pruners import ASHA, Hyperband, Median
    from torchsearch.schedulers import Bayes, Random
    from torchsearch.schedulers.tpe import TPE

    def ours(sched: Callable[[], Any], pruner: Callable[[], Any] | None, rungs: bool = True):
        return lambda f, b, w: run_ours(f, b, sched(), None if pruner is None else pruner(), workers=w, seed=seed,
                                        rungs=rungs)

    def optuna_(pruner: str):
        def run(f, b, w):
            import optuna
            p = (optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3) if pruner == "sh" else
                 optuna.pruners.HyperbandPruner(min_resource=1, max_resource=E, reduction_factor=3))
            return run_optuna(f, b, optuna.samplers.TPESampler(seed=seed), p, workers=w)
        return run

    def ray_(kind: str):
        def run(f, b, w):
            from ray.tune.schedulers import ASHAScheduler
            brackets = 1 if kind == "asha" else 4
            s = ASHAScheduler(time_attr="training_iteration", metric="accuracy", mode="max", max_t=E,
                              grace_period=1, reduction_factor=3, brackets=brackets)
            return run_ray(f, b, s, workers=w, seed=seed)
        return run

    return {
        "Random (full)": ours(lambda: Random(seed=seed), None),
        "Random+Median": ours(lambda: Random(seed=seed), lambda: Median()),
        "Random+ASHA (promote)": ours(lambda: Random(seed=seed), lambda: ASHA()),
        "Random+ASHA (stop)": ours(lambda: Random(seed=seed), lambda: ASHA(promote=False)),
        "Random+Hyperband": ours(lambda: Random(seed=seed), lambda: Hyperband()),
        "Random+ASHA (promote) from epoch 3": ours(lambda: Random(seed=seed), lambda: ASHA(min_epochs=3)),
        "TPE+ASHA (promote)": ours(lambda: TPE(seed=seed), lambda: ASHA()),
        "TPE+Hyperband": ours(lambda: TPE(seed=seed), lambda: Hyperband()),
        "TPE+Hyperband not told the rungs": ours(lambda: TPE(seed=seed), lambda: Hyperband(), rungs=False),
        "TPE+ASHA (promote) not told the rungs": ours(lambda: TPE(seed=seed), lambda: ASHA(), rungs=False),
        "Bayes+Hyperband": ours(lambda: Bayes(seed=seed), lambda: Hyperband()),
        "Optuna TPE+SuccessiveHalving": optuna_("sh"),
        "Optuna TPE+Hyperband": optuna_("hb"),
        "Ray ASHAScheduler": ray_("asha"),
        "Ray AsyncHyperBand (4 brackets)": ray_("hb"),
    }
