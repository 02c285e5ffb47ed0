"""Ray Tune's PopulationBasedTraining on the digits MLP of ``pbt_digits.py``, for comparison.

    python benchmarks/_ray_pbt.py                  # short config: population 8, 30 epochs, 2 workers, reuse_actors on
    python benchmarks/_ray_pbt.py --long --no-reuse

Each configuration is one Ray trial (a ``tune.Trainable``, 1 CPU, 1 torch thread) whose step is one
epoch of the bare loop (``_pbt_bench.train_epoch``) on the module ``pbt_digits.py``'s study trains;
PBT (asynchronous, Ray's default) perturbs lr, momentum and dropout every ``interval`` epochs,
exploiting through checkpoints written with ``torch.save``. Timed as ``pbt_digits.py`` times
torchsearch's study: the whole job from just before ``ray.init`` (the daemons and actors starting)
to the last result, and the steady state from the first result to the last, both read from the
``clock`` metric each evaluation returns; the CPU seconds of the driver and of every process Ray
started (gcs_server, raylet, its agents, idle workers and actors, the ended ones included); every
result the driver receives, which is every epoch trained (a member that copies a donor restores
the donor's checkpoint and its iteration, and may train epochs again).

Ray's start is local and on loopback only (``address="local"``: a Ray of its own, never another
process's; ``_node_ip_address="127.0.0.1"``, no dashboard,
``num_cpus`` = workers, a small object store) and Ray is shut down at the end. Ray is optional:
it is imported inside the functions that need it.

The trial's state between steps is :class:`TrialState`, kept apart from Ray so that it is tested
without it (``tests/benchmarks/test_ray_pbt_adapter.py``): a trial that a reused actor takes
starts from its own initial weights and a fresh optimiser, and a restore that follows (Ray
restores after ``reset_config`` when the trial has a checkpoint) replaces both.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pbt_bench import PATHS, TreeCpu, train_epoch  # noqa: E402
from digits_pbt import SPACE  # noqa: E402


class TrialState:
    """One Ray trial's module (model, optimiser, loaders) between steps: what the Trainable holds.

    ``reset(config)`` starts a trial: the module built from ``config`` with torch seeded by
    ``config["seed"]`` (its own initial weights, as the plain loop seeds member i with i) and a
    fresh optimiser. ``load(state)`` puts a checkpoint's weights and optimiser state in, then this
    trial's own (perhaps explored) hyperparameters.
    """

    def __init__(self, module_cls: type, config: dict[str, Any]) -> None:
        self.module_cls = module_cls
        self.reset(config)

    def reset(self, config: dict[str, Any]) -> None:
        torch.manual_seed(config["seed"])
        self.config = dict(config)
        self.module = self.module_cls(dict(config), device="cpu")

    def step(self) -> dict[str, float]:
        return train_epoch(self.module)

    def state(self) -> dict[str, Any]:
        return {"model": self.module.model.state_dict(), "optimizer": self.module.optimizer.state_dict()}

    def load(self, state: dict[str, Any]) -> None:
        self.module.model.load_state_dict(state["model"])
        self.module.optimizer.load_state_dict(state["optimizer"])  # brings the donor's lr and momentum ...
        self.module.apply_hyperparameters(dict(self.config))       # ... so set this trial's own again


def make_trainable(module_cls: type):
    """A ``tune.Trainable`` class over :class:`TrialState` for ``module_cls`` (imports Ray)."""
    from ray import tune

    class DigitsTrainable(tune.Trainable):
        def setup(self, config):
            torch.set_num_threads(1)
            self.trial = TrialState(module_cls, config)

        def step(self):
            return self.trial.step()

        def save_checkpoint(self, checkpoint_dir):
            torch.save(self.trial.state(), os.path.join(checkpoint_dir, "state.pt"))

        def load_checkpoint(self, checkpoint_dir):
            self.trial.load(torch.load(os.path.join(checkpoint_dir, "state.pt")))

        def reset_config(self, new_config):  # reuse_actors: a new trial on this actor; a restore may follow
            self.trial.reset(new_config)
            return True

    DigitsTrainable.__name__ = DigitsTrainable.__qualname__ = f"{module_cls.__name__}Trainable"
    return DigitsTrainable


def run_ray(configs: list[dict], epochs: int, workers: int, interval: int, *, module_cls: type,
            reuse_actors: bool, seed: int = 0) -> dict:
    """Train ``configs`` with Ray Tune's PBT for ``epochs`` epochs on ``workers`` CPU slots.

    Returns times (``time.time()``: ``start`` before ``ray.init``, ``first``/``last`` the clocks of
    the first and last evaluations, ``fit_end`` when ``Tuner.fit`` returned, ``init_s``,
    ``shutdown_s``), ``epochs`` trained and ``widths`` (epochs trained at each width), accuracy
    (``best_any``: best evaluation of any member at any epoch, the last one of an iteration trained
    again; ``best_final``: best member's final epoch), ``cpu`` (seconds by process name, up to the return of ``fit``) and ``errors``.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining
    from ray.tune.search.basic_variant import BasicVariantGenerator

    class Results(tune.Callback):  # every result the driver receives: one per epoch trained
        def __init__(self):
            self.rows: list[tuple[str, int, float, float, int]] = []

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self.rows.append((trial.trial_id, result["training_iteration"], result["accuracy"], result["clock"],
                              trial.config["width"]))

    space = {k: SPACE[k] for k in ("lr", "momentum", "dropout")}
    mutations = {"lr": tune.loguniform(space["lr"].low, space["lr"].high),
                 "momentum": tune.uniform(space["momentum"].low, space["momentum"].high),
                 "dropout": tune.uniform(space["dropout"].low, space["dropout"].high)}
    points = [{**c, "seed": i} for i, c in enumerate(configs)]  # plain_loop seeds member i with i
    param_space = {**mutations, "width": tune.choice(sorted({c["width"] for c in configs})),
                   "activation": tune.choice(sorted({c["activation"] for c in configs})),
                   "seed": tune.randint(0, 2**31)}
    random.seed(seed)
    np.random.seed(seed)
    pbt = PopulationBasedTraining(time_attr="training_iteration", perturbation_interval=interval,
                                  hyperparam_mutations=mutations, quantile_fraction=0.25)
    saved_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(PATHS + ([saved_path] if saved_path else []))  # Ray's workers import the module
    cpu = TreeCpu().start()
    start = time.time()
    ray.init(address="local", num_cpus=workers, include_dashboard=False, _node_ip_address="127.0.0.1",
             object_store_memory=256 * 2**20, log_to_driver=False, logging_level="ERROR")
    init_s = time.time() - start
    results = Results()
    try:
        with tempfile.TemporaryDirectory() as folder:
            tuner = tune.Tuner(
                tune.with_resources(make_trainable(module_cls), {"cpu": 1}),
                param_space=param_space,
                tune_config=tune.TuneConfig(metric="accuracy", mode="max", scheduler=pbt, num_samples=len(configs),
                                            search_alg=BasicVariantGenerator(points_to_evaluate=points),
                                            max_concurrent_trials=workers, reuse_actors=reuse_actors),
                run_config=tune.RunConfig(name="pbt", storage_path=folder, verbose=0, callbacks=[results],
                                          stop={"training_iteration": epochs},
                                          checkpoint_config=tune.CheckpointConfig(checkpoint_frequency=interval)),
            )
            with contextlib.redirect_stdout(io.StringIO()):  # Ray prints its banner whatever verbose is
                grid = tuner.fit()
            fit_end = time.time()
            used = cpu.read()
            errors = grid.num_errors
    finally:
        t = time.time()
        ray.shutdown()
        shutdown_s = time.time() - t
        if saved_path is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved_path
    rows = results.rows
    if errors or len({r[0] for r in rows if r[1] == epochs}) != len(configs):
        raise RuntimeError(f"Ray Tune: {len({r[0] for r in rows if r[1] == epochs})} of {len(configs)} trials reached "
                           f"{epochs} epochs, {errors} errored (interrupted?): no figures from this run")
    final: dict[str, float] = {}
    history: dict[tuple[str, int], float] = {}  # an iteration trained again: its last evaluation
    widths: dict[int, int] = {}
    for trial_id, it, acc, _, width in rows:
        widths[width] = widths.get(width, 0) + 1
        history[(trial_id, it)] = acc
        if it == epochs:
            final[trial_id] = acc
    return {"version": ray.__version__, "reuse_actors": reuse_actors, "start": start, "init_s": init_s,
            "first": min(r[3] for r in rows), "last": max(r[3] for r in rows), "fit_end": fit_end,
            "shutdown_s": shutdown_s, "epochs": len(rows), "widths": widths, "finished": len(final),
            "best_any": max(history.values()), "best_final": max(final.values(), default=float("nan")),
            "cpu": used, "errors": errors}


def main(argv: list[str] | None = None) -> None:
    from _pbt_bench import CONFIGS
    from pbt_digits import initial_configs

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--long", action="store_true", help="the long configuration (9x the training data)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--no-reuse", action="store_true", help="Ray's default reuse_actors=False")
    args = p.parse_args(argv)
    module_cls, epochs = CONFIGS["long" if args.long else "short"]
    epochs = args.epochs or epochs
    r = run_ray(initial_configs(8, 0), epochs, 2, 2, module_cls=module_cls, reuse_actors=not args.no_reuse)
    print(f"Ray Tune {r['version']} PBT, reuse_actors={r['reuse_actors']}: whole job {r['last'] - r['start']:.2f}s "
          f"(ray.init {r['init_s']:.2f}s), steady state {r['last'] - r['first']:.2f}s, {r['epochs']} epochs trained "
          f"for {8 * epochs}, best {r['best_any']:.4f} (any epoch) / {r['best_final']:.4f} (final epoch), "
          f"CPU {r['cpu']['total']:.1f}s, {r['errors']} errored trial(s)")


if __name__ == "__main__":
    main()
