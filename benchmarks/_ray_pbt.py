"""Ray Tune's PopulationBasedTraining on the digits MLP of ``pbt_digits.py``, for comparison.

    python benchmarks/_ray_pbt.py        # population 8, 30 epochs, 2 workers, interval 2; reuse_actors on, off

Each configuration is one Ray trial (a ``tune.Trainable``, 1 CPU, 1 torch thread) whose step is one
epoch of the plain loop in ``pbt_digits.py`` on the model and loaders ``DigitsPBT`` builds; PBT
(asynchronous, as Ray's default) perturbs lr, momentum and dropout every ``interval`` epochs,
exploiting through checkpoints written with ``torch.save``. It measures the wall time of
``Tuner.fit()`` (Ray's start-up by ``ray.init`` shown apart; actor start-up is inside the fit, as it
is Ray's own cost) and counts the results the driver receives against population x epochs: more
when an exploited trial restarts from its donor's older checkpoint and trains those epochs again.
Ray 2.60's ``metrics_dataframe`` (result.json) may hold fewer: a resumed trial's log is copied back
from the storage folder, losing rows written since the last sync. Ray is optional: it is imported
inside ``run_ray`` only.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
PATHS = [str(ROOT), str(ROOT / "examples"), str(ROOT / "benchmarks")]
for _p in reversed(PATHS):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from digits_pbt import SPACE, DigitsPBT  # noqa: E402


def run_ray(configs: list[dict], epochs: int, workers: int, interval: int, *, reuse_actors: bool,
            seed: int = 0) -> dict:
    """Train ``configs`` with Ray Tune's PBT for ``epochs`` epochs on ``workers`` CPU slots."""
    import ray
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining
    from ray.tune.search.basic_variant import BasicVariantGenerator

    class DigitsTrainable(tune.Trainable):
        def setup(self, config):
            torch.set_num_threads(1)
            torch.manual_seed(config["seed"])
            self.m = DigitsPBT(dict(config), device="cpu")

        def step(self):  # one epoch, as pbt_digits.plain_loop: the module's own training and validation steps
            m = self.m
            m.model.train()
            for batch in m.train_loader:
                m.optimizer.zero_grad(set_to_none=True)
                m.training_step(batch).backward()
                m.optimizer.step()
            m.model.eval()
            sums, count = {}, 0
            with torch.no_grad():
                for x, y in m.val_loader:
                    for k, v in m.validation_step((x, y)).items():
                        sums[k] = sums.get(k, 0.0) + v * len(y)
                    count += len(y)
            return {k: float(v) / count for k, v in sums.items()}

        def save_checkpoint(self, checkpoint_dir):
            torch.save({"model": self.m.model.state_dict(), "optimizer": self.m.optimizer.state_dict()},
                       os.path.join(checkpoint_dir, "state.pt"))

        def load_checkpoint(self, checkpoint_dir):
            state = torch.load(os.path.join(checkpoint_dir, "state.pt"))
            self.m.model.load_state_dict(state["model"])
            self.m.optimizer.load_state_dict(state["optimizer"])  # brings the donor's lr, momentum back ...
            self.m.apply_hyperparameters(dict(self.config))       # ... so set this trial's (explored) ones

        def reset_config(self, new_config):  # reuse_actors: in place, rebuilt if the width differs
            if not self.m.apply_hyperparameters(dict(new_config)):
                self.setup(new_config)
            return True

    class Count(tune.Callback):  # results the driver receives (metrics_dataframe loses some: see the docstring)
        rows = 0

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self.rows += 1

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
    t0 = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(PATHS)}})
    init_s = time.perf_counter() - t0
    count = Count()
    try:
        with tempfile.TemporaryDirectory() as folder:
            tuner = tune.Tuner(
                tune.with_resources(DigitsTrainable, {"cpu": 1}),
                param_space=param_space,
                tune_config=tune.TuneConfig(metric="accuracy", mode="max", scheduler=pbt, num_samples=len(configs),
                                            search_alg=BasicVariantGenerator(points_to_evaluate=points),
                                            max_concurrent_trials=workers, reuse_actors=reuse_actors),
                run_config=tune.RunConfig(name="pbt", storage_path=folder, verbose=0, callbacks=[count],
                                          stop={"training_iteration": epochs},
                                          checkpoint_config=tune.CheckpointConfig(checkpoint_frequency=interval)),
            )
            t1 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # Ray prints its banner whatever verbose is
                results = tuner.fit()
            wall_s = time.perf_counter() - t1
            frames = [r.metrics_dataframe for r in results]
            rows_df = sum(0 if f is None else len(f) for f in frames)
            finals = [r.metrics["accuracy"] for r in results if r.metrics and "accuracy" in r.metrics]
            errors = results.num_errors
    finally:
        ray.shutdown()
    return {"version": ray.__version__, "wall_s": wall_s, "init_s": init_s, "rows": count.rows,
            "rows_dataframe": rows_df, "expected_rows": len(configs) * epochs,
            "best_accuracy": max(finals, default=float("nan")), "reuse_actors": reuse_actors, "errors": errors}


if __name__ == "__main__":
    from pbt_digits import initial_configs

    configs = initial_configs(8, 0)
    for reuse in (True, False):
        r = run_ray(configs, 30, 2, 2, reuse_actors=reuse)
        print(f"Ray Tune {r['version']} PBT, reuse_actors={reuse}: fit {r['wall_s']:.2f}s (ray.init "
              f"{r['init_s']:.2f}s apart), {r['rows']} results for {r['expected_rows']} epochs "
              f"({r['rows_dataframe']} rows in metrics_dataframe), best accuracy "
              f"{r['best_accuracy']:.4f}, {r['errors']} errored trial(s)")
