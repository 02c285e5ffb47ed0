"""Part (a) of benchmarks/pruning.py: pruners on a real training task, at equal total epochs.

    python benchmarks/pruning.py real --seeds 3                # ours and Optuna
    python benchmarks/pruning.py real --seeds 5 --ray          # and Ray Tune's ASHA / HyperBand

The task is ``_pruning_task.NoisyDigits`` (digits with 30% noisy training labels: curves cross),
``--epochs`` per full trial (27). Every method gets ``B = N * epochs / 3`` epochs (N =
``--n-full``, 27) on one worker in this process (Ray: one CPU slot); "Random (full, 3x)" is N
full-length Random trials (3B epochs). Our side runs ``tune(..., pruner=..., epoch_budget=B)``;
Optuna's runs the same module in a plain loop with ``trial.report`` / ``should_prune``; Ray
Tune's runs it as a ``tune.Trainable`` with a stopper that ends the experiment after B results
(a local Ray on loopback: ``address="local"``, ``_node_ip_address="127.0.0.1"``). "Random (full)"
is the first B epochs of the 3x search (the same configurations and trial seeds, so the same
values epoch for epoch), not trained twice; its wall time is the 3x search's, pro rata.
For each: the best validation accuracy reported within the budget, trials started, the wall
time, and the best value against epochs spent (``benchmarks/pruning_real.png``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import torchsearch as ts  # noqa: E402
from _pruning_task import SPACE, NoisyDigits, train_epoch  # noqa: E402


def _trace(folder: str, name: str) -> list[float]:
    """Every accuracy report of the study, in the order stored (one per epoch trained)."""
    con = sqlite3.connect(f"file:{Path(folder) / 'study.db'}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT r.value FROM reports r JOIN trials t ON r.trial_id = t.id "
                           "WHERE r.name = 'accuracy' ORDER BY r.time, r.rowid").fetchall()
    finally:
        con.close()
    return [float(v) for (v,) in rows]


def run_ours(scheduler, pruner, E: int, budget: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        study = ts.tune(NoisyDigits, SPACE, scheduler=scheduler, pruner=pruner, metric="accuracy", mode="max",
                        epochs=E, epoch_budget=budget, seed=seed, storage=folder, verbose=False,
                        study_name="pruning")
        wall = time.perf_counter() - t
        trials = study.trials
        values = _trace(folder, "pruning")
        study.storage.close() if hasattr(study.storage, "close") else None
    pruned = sum(1 for tr in trials if tr.stop_code == "pruned")
    return {"values": values, "trials": len(trials), "pruned": pruned, "wall_s": wall,
            "full": sum(1 for tr in trials if tr.state == "completed")}


def run_optuna(pruner_kind: str, E: int, budget: int, seed: int) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = (optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3) if pruner_kind == "sh" else
              optuna.pruners.HyperbandPruner(min_resource=1, max_resource=E, reduction_factor=3))
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner,
                                study_name=f"digits-{seed}")  # fixed: HyperbandPruner's brackets hash the name
    values: list[float] = []
    trials = full = 0
    t0 = time.perf_counter()
    while len(values) < budget:
        trial = study.ask()
        params = {"lr": trial.suggest_float("lr", 1e-4, 0.3, log=True),
                  "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
                  "width": 2 ** trial.suggest_int("log2_width", 4, 9), "dropout": trial.suggest_float("dropout", 0.0, 0.6)}
        torch.manual_seed(seed * 100_003 + trials)
        m = NoisyDigits(params)
        trials += 1
        best, state = -math.inf, None
        for epoch in range(1, E + 1):
            acc = train_epoch(m)
            values.append(acc)
            best = max(best, acc)
            trial.report(acc, epoch)
            if len(values) >= budget:
                state = "budget"
                break
            if epoch < E and trial.should_prune():
                state = "pruned"
                break
        if state == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            full += state is None
            study.tell(trial, best)
    return {"values": values, "trials": trials, "pruned": None, "full": full, "wall_s": time.perf_counter() - t0}


def run_ray(kind: str, E: int, budget: int, seed: int) -> dict:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import random

    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, HyperBandScheduler
    from ray.tune.stopper import Stopper

    class Trainable(tune.Trainable):
        def setup(self, config):
            torch.set_num_threads(1)
            torch.manual_seed(config["seed"])
            p = {k: config[k] for k in ("lr", "weight_decay", "dropout")}
            p["width"] = 2 ** config["log2_width"]
            self.m = NoisyDigits(p)

        def step(self):
            return {"accuracy": train_epoch(self.m)}

        def reset_config(self, new_config):  # reuse_actors=True: the actor takes the next trial
            self.setup(new_config)
            return True

        def save_checkpoint(self, d):
            torch.save({"model": self.m.model.state_dict(), "opt": self.m.optimizer.state_dict()}, os.path.join(d, "s.pt"))

        def load_checkpoint(self, d):
            s = torch.load(os.path.join(d, "s.pt"))
            self.m.model.load_state_dict(s["model"])
            self.m.optimizer.load_state_dict(s["opt"])

    class Budget(Stopper):
        def __init__(self):
            self.n = 0

        def __call__(self, trial_id, result):
            self.n += 1
            return result["training_iteration"] >= E

        def stop_all(self):
            return self.n >= budget

    class Results(tune.Callback):
        def __init__(self):
            self.values: list[float] = []
            self.trials: set[str] = set()
            self.full = 0

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self.values.append(result["accuracy"])
            self.trials.add(trial.trial_id)
            self.full += result["training_iteration"] >= E

    sched = (ASHAScheduler(time_attr="training_iteration", max_t=E, grace_period=1, reduction_factor=3) if kind == "asha"
             else HyperBandScheduler(time_attr="training_iteration", max_t=E, reduction_factor=3))
    random.seed(seed)
    np.random.seed(seed)
    space = {"lr": tune.loguniform(1e-4, 0.3), "weight_decay": tune.loguniform(1e-6, 1e-2),
             "log2_width": tune.randint(4, 10), "dropout": tune.uniform(0.0, 0.6), "seed": tune.randint(0, 2**31)}
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), str(HERE.parent)] + ([saved] if saved else []))
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=1, include_dashboard=False, _node_ip_address="127.0.0.1", object_store_memory=256 * 2**20,
             log_to_driver=False, logging_level="ERROR")
    results = Results()
    try:
        with tempfile.TemporaryDirectory() as folder:
            tuner = tune.Tuner(
                tune.with_resources(Trainable, {"cpu": 1}), param_space=space,
                tune_config=tune.TuneConfig(metric="accuracy", mode="max", scheduler=sched, num_samples=budget,
                                            max_concurrent_trials=1, reuse_actors=True),
                run_config=tune.RunConfig(name="prune", storage_path=folder, verbose=0, callbacks=[results],
                                          stop=Budget()))
            with contextlib.redirect_stdout(io.StringIO()):
                tuner.fit()
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    return {"values": results.values[:budget], "trials": len(results.trials), "pruned": None, "full": results.full,
            "wall_s": time.perf_counter() - t0}


def methods(E: int, seed: int, with_ray: bool) -> dict:
    from torchsearch.pruners import ASHA, Hyperband, Median
    from torchsearch.schedulers import Bayes, Random
    from torchsearch.schedulers.tpe import TPE

    class DeafBayes(Bayes):  # the same GP, fitted to finished trials only (as without a pruner)
        def set_rungs(self, rungs):
            pass

    def level_bayes(seed: int) -> Bayes:  # with a pruner, the GP at a rung (BOHB's) instead of the epoch as an input
        return Bayes(rung_model="level", seed=seed)

    table = {
        "Random (full)": lambda b: run_ours(Random(seed=seed), None, E, b, seed),
        "Random+Median": lambda b: run_ours(Random(seed=seed), Median(), E, b, seed),
        "Random+ASHA (promote)": lambda b: run_ours(Random(seed=seed), ASHA(), E, b, seed),
        "Random+ASHA (stop)": lambda b: run_ours(Random(seed=seed), ASHA(promote=False), E, b, seed),
        "Random+Hyperband": lambda b: run_ours(Random(seed=seed), Hyperband(), E, b, seed),
        "Random+ASHA (promote) quantile": lambda b: run_ours(Random(seed=seed), ASHA(cutoff="quantile"), E, b, seed),
        "Random+ASHA (stop) quantile": lambda b: run_ours(Random(seed=seed), ASHA(promote=False, cutoff="quantile"),
                                                          E, b, seed),
        "Random+Hyperband quantile": lambda b: run_ours(Random(seed=seed), Hyperband(cutoff="quantile"), E, b, seed),
        "TPE+Hyperband": lambda b: run_ours(TPE(seed=seed), Hyperband(), E, b, seed),
        "Bayes+Hyperband": lambda b: run_ours(Bayes(seed=seed), Hyperband(), E, b, seed),
        "Bayes+Hyperband not told the rungs": lambda b: run_ours(DeafBayes(seed=seed), Hyperband(), E, b, seed),
        "Bayes+Hyperband model at a rung": lambda b: run_ours(level_bayes(seed), Hyperband(), E, b, seed),
        "Optuna TPE+SuccessiveHalving": lambda b: run_optuna("sh", E, b, seed),
        "Optuna TPE+Hyperband": lambda b: run_optuna("hb", E, b, seed),
    }
    if with_ray:
        table["Ray ASHAScheduler"] = lambda b: run_ray("asha", E, b, seed)
        table["Ray HyperBandScheduler"] = lambda b: run_ray("hb", E, b, seed)
    return table


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=27)
    ap.add_argument("--n-full", type=int, default=27)
    ap.add_argument("--ray", action="store_true")
    ap.add_argument("--only", default=None, help="comma-separated method names")
    ap.add_argument("--out", default=str(HERE / "pruning_real.jsonl"))
    ap.add_argument("--report", action="store_true", help="only summarise --out")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    E, N = args.epochs, args.n_full
    B = N * E // 3
    if not args.report:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            table = methods(E, seed, args.ray)
            runs = {"Random (full, 3x)": lambda b, t=table: t["Random (full)"](3 * b), **table}
            if args.only:
                keep = set(args.only.split(","))
                runs = {k: v for k, v in runs.items() if k in keep}
            full3 = None
            for name, run in runs.items():
                if name == "Random (full)" and full3 is not None:
                    # the first B epochs of the 3x search are this run, epoch for epoch (the same
                    # Random(seed) configurations and trial seeds): not trained again
                    r = {**full3, "values": full3["values"][:B], "trials": -(-B // E), "full": B // E,
                         "wall_s": full3["wall_s"] * B / len(full3["values"])}
                else:
                    r = run(B)
                if name == "Random (full, 3x)":
                    full3 = r
                row = {"seed": seed, "method": name, "best": max(r["values"]), "epochs": len(r["values"]),
                       "trials": r["trials"], "full": r["full"], "pruned": r["pruned"], "wall_s": r["wall_s"],
                       "values": r["values"], "E": E, "B": B}
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
                print(f"seed {seed} {name:32s} best {row['best']:.4f} epochs {row['epochs']} trials {row['trials']} "
                      f"full {row['full']} {row['wall_s']:.1f}s", file=sys.stderr, flush=True)
    report(args.out, B, E, N)


def report(path: str, B: int, E: int, N: int) -> None:
    rows = [json.loads(line) for line in open(path)]
    rows = [r for r in rows if r["E"] == E and r["B"] == B]
    names = list(dict.fromkeys(r["method"] for r in rows))
    ref = {r["seed"]: r["best"] for r in rows if r["method"] == "Random (full, 3x)"}
    print(f"NoisyDigits, {E} epochs per full trial, budget {B} epochs ({3 * B} for the 3x search); "
          f"{len(ref)} seeds")
    print(f"{'method':32s}{'median best':>12s}{'min':>8s}{'max':>8s}{'>= 3x':>7s}{'trials':>8s}{'full':>6s}"
          f"{'epochs':>8s}{'wall s':>8s}")
    for name in names:
        mine = [r for r in rows if r["method"] == name]
        bests = [r["best"] for r in mine]
        hit = sum(r["best"] >= ref.get(r["seed"], math.inf) for r in mine)
        print(f"{name:32s}{statistics.median(bests):12.4f}{min(bests):8.4f}{max(bests):8.4f}{hit:4d}/{len(mine):<2d}"
              f"{statistics.median(r['trials'] for r in mine):8.0f}{statistics.median(r['full'] for r in mine):6.0f}"
              f"{statistics.median(r['epochs'] for r in mine):8.0f}{statistics.median(r['wall_s'] for r in mine):8.1f}")
    from pruning_targets import target_lines

    print()
    for t in target_lines(rows, [None], N):
        print(t)
    default = Path(path).resolve() == (HERE / "pruning_real.jsonl").resolve()
    plot(rows, names, B, HERE / "pruning_real.png" if default else Path(path).with_suffix(".png"))  # (another --out: beside it)


def plot(rows: list[dict], names: list[str], B: int, path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(8, 5))
    for name in names:
        if name == "Random (full, 3x)":
            continue
        cs = []
        for r in rows:
            if r["method"] == name:
                c = np.maximum.accumulate(np.array(r["values"][:B], dtype=float))
                cs.append(np.pad(c, (0, B - len(c)), mode="edge"))
        med = np.median(np.array(cs), axis=0)
        ax.plot(np.arange(1, B + 1), med, "--" if name.startswith(("Optuna", "Ray")) else "-", label=name, lw=1.2)
    ax.set_xlabel("epochs spent (all trials)")
    ax.set_ylabel("best validation accuracy so far (median over seeds)")
    ax.set_ylim(0.8, None)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
