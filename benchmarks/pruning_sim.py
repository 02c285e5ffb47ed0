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
  decision logic of ``tune.run`` without its actors); Ray's random search draws the configs;
  its synchronous ``HyperBandScheduler`` through a stand-in for Tune's controller (``run_ray_hb``).
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
        self.epochs: dict[int, int] = {}  # (ours) trial -> epochs it trained
        self.params: dict[int, dict[str, Any]] = {}  # (ours) trial -> its configuration

    def add(self, value: float) -> None:
        self.best = max(self.best, value)
        self.curve[self.spent] = self.best
        self.spent += 1

    @property
    def done(self) -> bool:
        return self.spent >= self.budget


def run_ours(family: Family, budget: int, scheduler: Any, pruner: Any, *, workers: int = 4, seed: int = 0,
             rungs: bool = True, end_aware: int | None = None) -> Trace:
    """``end_aware`` (an experiment, not what the coordinator does): once fewer than this many
    epochs of the budget are left, a free slot goes to ``next_promotion(last=True)`` (each rung
    may promote its best) before any new trial."""
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
    scheduler_params: dict[int, dict[str, Any]] = {}
    nxt = 0

    def end(n: int, state: str) -> None:
        running.remove(n)
        scheduler.on_complete(n, best.get(n), state)
        if pruner is not None:
            pruner.on_complete(n, best.get(n), state)

    while not tr.done:
        while len(running) < workers:
            ending = end_aware is not None and budget - tr.spent < end_aware
            n = pruner.next_promotion(last=ending) if pruner is not None else None
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
            scheduler_params[n] = params
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
    tr.epochs, tr.params = dict(epoch), {n: scheduler_params[n] for n in epoch}
    return tr


def _optuna_params(trial: Any) -> dict[str, Any]:
    return {"lr": trial.suggest_float("lr", 1e-4, 1.0, log=True), "reg": trial.suggest_float("reg", 0.0, 1.0),
            "width": trial.suggest_int("width", 1, 8)}


def run_optuna(family: Family, budget: int, sampler: Any, pruner: Any, *, workers: int = 4) -> Trace:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # a fixed name: Optuna's HyperbandPruner puts a trial in a bracket by a hash of the study's
    # name and the trial number, and a generated name made its runs differ from run to run
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner,
                                study_name=f"{family.name}-{family.seed}")
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


def run_ray(family: Family, budget: int, scheduler: Any, *, workers: int = 4, seed: int = 0,
            draw: Callable[[], dict[str, Any]] | None = None) -> Trace:
    """``scheduler``: a Ray Tune ``AsyncHyperBandScheduler`` (ASHAScheduler) with metric, mode and
    max_t set. Ray's ``on_trial_add`` picks a bracket with numpy's global generator: seeded here.
    ``draw``: where configurations come from (default: Ray's random search, seeded)."""
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
            running.append([t, family.curve(draw() if draw else SPACE.sample(rng), n), 0])
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


class _Controller:
    """The part of Ray Tune's ``TuneController`` that ``HyperBandScheduler`` calls back: it stops
    paused trials of a finished rung (``stop_trial``: the scheduler hears ``on_trial_remove``)."""

    def __init__(self) -> None:
        self.scheduler: Any = None

    def stop_trial(self, t: Any) -> None:
        from ray.tune.experiment import Trial

        if t.status in (Trial.PENDING, Trial.PAUSED):
            t.status = Trial.TERMINATED
            self.scheduler.on_trial_remove(self, t)
        elif t.status == Trial.RUNNING:  # pragma: no cover - the scheduler stops the running trial by its answer
            t.status = Trial.TERMINATED
            self.scheduler.on_trial_complete(self, t, None)


def run_ray_hb(family: Family, budget: int, scheduler: Any, *, workers: int = 4, seed: int = 0) -> Trace:
    """Ray Tune's synchronous ``HyperBandScheduler`` as ``tune.run`` drives it: Ray's random
    search keeps up to 200 trials pending (each added to a bracket as it is created); a free slot
    goes to ``choose_trial_to_run()`` (a pending trial or a paused one promoted, in the least
    complete bracket first), else to the oldest pending trial. A paused trial resumes where it
    paused; one the scheduler stops while paused is dropped."""
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import TrialScheduler

    rng = np.random.default_rng([seed, 17])
    ctrl = _Controller()
    ctrl.scheduler = scheduler
    E = family.max_epochs
    tr = Trace(budget)
    state: dict[Any, list[Any]] = {}  # trial -> [curve, epoch]
    pending: list[Any] = []
    running: list[Any] = []
    n = 0

    def top_up() -> None:
        nonlocal n
        while sum(t.status == Trial.PENDING for t in pending) < 200:
            t = _RayTrial(n)
            t.status, t.is_saving = Trial.PENDING, False
            scheduler.on_trial_add(ctrl, t)
            state[t] = [family.curve(SPACE.sample(rng), n), 0]
            pending.append(t)
            n += 1

    while not tr.done:
        top_up()
        while len(running) < workers:
            t = scheduler.choose_trial_to_run(ctrl)
            if t is None:
                t = next((p for p in pending if p.status == Trial.PENDING), None)
                if t is None:
                    break
            if t in pending:
                pending.remove(t)
            if state[t][1] == 0:
                tr.trials += 1
            t.status = Trial.RUNNING
            running.append(t)
            top_up()
        for t in list(running):
            if tr.done:
                break
            curve = state[t][0]
            state[t][1] = e = state[t][1] + 1
            v = float(curve[e - 1])
            tr.add(v)
            result = {"training_iteration": e, "accuracy": v}
            action = scheduler.on_trial_result(ctrl, t, result)
            if e >= E:
                tr.full += 1
                running.remove(t)
                t.status = Trial.TERMINATED
                scheduler.on_trial_complete(ctrl, t, result)
            elif action == TrialScheduler.STOP:
                running.remove(t)
                t.status = Trial.TERMINATED
                scheduler.on_trial_complete(ctrl, t, result)
            elif action == TrialScheduler.PAUSE:
                running.remove(t)
                t.status = Trial.PAUSED
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

    def ray_(kind: str, ours_draws: bool = False):
        def run(f, b, w):
            from ray.tune.schedulers import ASHAScheduler
            brackets = 1 if kind == "asha" else 4
            s = ASHAScheduler(time_attr="training_iteration", metric="accuracy", mode="max", max_t=E,
                              grace_period=1, reduction_factor=3, brackets=brackets)
            draw = None
            if ours_draws:  # the configurations our Random(seed) hands out, in the same order
                r = Random(seed=seed)
                r.setup(SPACE, mode="max", seed=seed)
                draw = r.suggest
            return run_ray(f, b, s, workers=w, seed=seed, draw=draw)
        return run

    def bayes(pruned: str = "worst", model: str | None = None) -> Any:
        b = Bayes(rung_model=model or "input", seed=seed)
        b._pruned = pruned  # what the GP does with trials pruned below its level (see schedulers._levels)
        return b

    def ray_hb(f, b, w):
        from ray.tune.schedulers import HyperBandScheduler
        s = HyperBandScheduler(time_attr="training_iteration", metric="accuracy", mode="max", max_t=E,
                               reduction_factor=3)
        return run_ray_hb(f, b, s, workers=w, seed=seed)

    return {
        "Random (full)": ours(lambda: Random(seed=seed), None),
        "Random+Median": ours(lambda: Random(seed=seed), lambda: Median()),
        "Random+ASHA (promote)": ours(lambda: Random(seed=seed), lambda: ASHA()),
        "Random+ASHA (stop)": ours(lambda: Random(seed=seed), lambda: ASHA(promote=False)),
        "Random+Hyperband": ours(lambda: Random(seed=seed), lambda: Hyperband()),
        "Random+ASHA (promote) quantile": ours(lambda: Random(seed=seed), lambda: ASHA(cutoff="quantile")),
        "Random+ASHA (stop) quantile": ours(lambda: Random(seed=seed), lambda: ASHA(promote=False, cutoff="quantile")),
        "Random+Hyperband quantile": ours(lambda: Random(seed=seed), lambda: Hyperband(cutoff="quantile")),
        "Random+ASHA (promote) from epoch 3": ours(lambda: Random(seed=seed), lambda: ASHA(min_epochs=3)),
        "Random+ASHA (promote) last 27 epochs promote": lambda f, b, w: run_ours(
            f, b, Random(seed=seed), ASHA(), workers=w, seed=seed, end_aware=f.max_epochs),
        "Random+ASHA (promote) last 81 epochs promote": lambda f, b, w: run_ours(
            f, b, Random(seed=seed), ASHA(), workers=w, seed=seed, end_aware=3 * f.max_epochs),
        "TPE+ASHA (promote)": ours(lambda: TPE(seed=seed), lambda: ASHA()),
        "TPE+Hyperband": ours(lambda: TPE(seed=seed), lambda: Hyperband()),
        "TPE+Hyperband not told the rungs": ours(lambda: TPE(seed=seed), lambda: Hyperband(), rungs=False),
        "TPE+ASHA (promote) not told the rungs": ours(lambda: TPE(seed=seed), lambda: ASHA(), rungs=False),
        "Bayes+Hyperband": ours(bayes, lambda: Hyperband()),
        "Bayes+Hyperband not told the rungs": ours(bayes, lambda: Hyperband(), rungs=False),
        "Bayes+Hyperband epoch as input": ours(lambda: bayes(model="input"), lambda: Hyperband()),
        "Bayes+Hyperband model at a rung": ours(lambda: bayes(model="level"), lambda: Hyperband()),
        "Optuna TPE+SuccessiveHalving": optuna_("sh"),
        "Optuna TPE+Hyperband": optuna_("hb"),
        "Ray ASHAScheduler": ray_("asha"),
        "Ray ASHAScheduler on our Random's configs": ray_("asha", ours_draws=True),
        "Ray AsyncHyperBand (4 brackets)": ray_("hb"),
        "Ray HyperBandScheduler": ray_hb,
    }
