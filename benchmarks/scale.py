"""Trial throughput and PBT on Ray: torchsearch's Ray executor against Ray Tune (and Processes, Optuna).

    python benchmarks/scale.py                       # everything, the issue's sizes (long on 2 cores)
    python benchmarks/scale.py --short 1000 --long 40 --tune-default-short 200
    python benchmarks/scale.py --no-pbt              # (a) only
    python benchmarks/scale.py --only-pbt            # (b) only
    python benchmarks/scale.py --only-pbt --pbt-repeats 3   # (b) in 3 rounds, medians

(a) Throughput. The same objective on every side: a trial sleeps ``--short-s`` seconds (5 ms) or
``--long-s`` (1 s), then reports one value (a uniform draw ``x``). Sleeping stands for the trial's
work so that the sides do not compete with each other's CPU for it: what is measured is each
tool's own cost per trial. ``--slots`` trials at once (2) on every side:

- ``Processes``: torchsearch, ``Processes("cpu", workers=slots)``, Random scheduler, in-memory storage;
- ``Ray``: torchsearch's Ray executor on a local Ray (one long-lived actor per slot);
- ``Tune (defaults)``: Ray Tune ``Tuner`` on a function trainable, ``max_concurrent_trials=slots``,
  its default ``reuse_actors=False`` (an actor per trial);
- ``Tune (reuse)``: the same with ``reuse_actors=True``;
- ``Optuna``: ``study.optimize(n_trials, n_jobs=slots)`` (threads: a sleeping trial frees the GIL).

Each side is timed on one clock (``time.perf_counter``) from before its start-up (``ray.init``
for the Ray sides, with the same arguments: a new local instance, loopback only, no dashboard,
``num_cpus`` = slots; spawning the worker processes for Processes) to the return of the call that ran the
trials; shutting down is not counted. The ideal is ``n * seconds / slots``; overhead is
``wall / ideal - 1``; trials per second is ``n / wall``.

(b) PBT on digits (population 8, 30 epochs, interval 2, 2 CPU slots of 1 torch thread): the
study of ``pbt_digits.py`` (``run_study``: same module, space, PBT, timing and figures) on the
Ray executor, against Ray Tune's PBT with ``reuse_actors=True`` (``_ray_pbt.run_ray``). Whole
job: from just before ``ray.init`` to the last evaluation's clock, on both sides. In the same
run, the lower bound of the job on this machine: ``ray.init`` alone (same arguments), and the
bare training loop of the same members (``pbt_digits.plain_parallel``: no framework, the same
module, data and batch size, the 8 configurations split over the same number of processes, 1
torch thread each), timed from when the processes have imported, loaded the data and trained
one warm-up epoch, and from spawning them. ``--pbt-repeats`` runs the three in rounds (the two
sides alternate which goes first) and prints the medians.

Targets (printed as PASS/FAIL lines): Ray >= 5x Ray Tune's throughput on the short trials (the
better of Tune's two configurations); Ray <= 10% over the ideal on the 1 s trials; PBT on Ray
<= 1/3 of Ray Tune's PBT wall time (whole job).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT / "benchmarks"), str(ROOT / "examples"), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # Ray on 127.0.0.1 only (with _node_ip_address below)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ["RAY_ADDRESS"] = "local"  # every ray.init here (_ray_pbt's too) starts its own Ray, never joins another's

import torchsearch as ts  # noqa: E402
from torchsearch.schedulers import Random  # noqa: E402

SPACE = {"x": ts.Float(0.0, 1.0)}


class Sleep:
    """The objective on torchsearch's sides: sleep, then report x."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, trial: Any) -> None:
        time.sleep(self.seconds)
        trial.report({"value": float(trial.params["x"]), "clock": time.time()}, step=1, final=True)


def ray_init(slots: int) -> None:
    import ray

    for attempt in (1, 2):  # (on a loaded machine the raylet may miss Ray's start-up deadline once)
        try:
            ray.init(address="local", num_cpus=slots, include_dashboard=False, _node_ip_address="127.0.0.1",
                     object_store_memory=256 * 2**20, log_to_driver=False, logging_level="ERROR")
            return
        except Exception as e:  # noqa: BLE001
            if attempt == 2 or "timed out during startup" not in str(e):
                raise
            print(f"  (ray.init failed, once: {e}; started again)", flush=True)
            ray.shutdown()


def ray_shutdown() -> None:
    import ray

    ray.shutdown()


# -- (a) the sides ----------------------------------------------------------------------------------
def run_processes(n: int, seconds: float, slots: int) -> tuple[float, int]:
    from torchsearch.executors import Processes

    t0 = time.perf_counter()
    study = ts.Study(space=SPACE, scheduler=Random(seed=0), metric="value", mode="max", verbose=False)
    study.run(Sleep(seconds), n_trials=n, executor=Processes("cpu", workers=slots, threads=1))
    wall = time.perf_counter() - t0
    return wall, _clocks(study)


def _clocks(study: Any) -> list[float]:
    return [t.metrics["clock"][1] for t in study.trials if t.state == "completed"]


def run_ray(n: int, seconds: float, slots: int) -> tuple[float, int]:
    from torchsearch.executors import Ray

    t0 = time.perf_counter()
    ray_init(slots)
    try:
        study = ts.Study(space=SPACE, scheduler=Random(seed=0), metric="value", mode="max", verbose=False)
        study.run(Sleep(seconds), n_trials=n, executor=Ray(max_concurrent=slots))
        wall = time.perf_counter() - t0
    finally:
        ray_shutdown()
    return wall, _clocks(study)


def run_tune(n: int, seconds: float, slots: int, reuse: bool) -> tuple[float, int]:
    from ray import tune

    def trainable(config: dict[str, Any]) -> None:
        time.sleep(seconds)
        tune.report({"value": config["x"], "clock": time.time()})

    t0 = time.perf_counter()
    ray_init(slots)
    try:
        with tempfile.TemporaryDirectory() as folder:
            tuner = tune.Tuner(
                tune.with_resources(trainable, {"cpu": 1}), param_space={"x": tune.uniform(0.0, 1.0)},
                tune_config=tune.TuneConfig(metric="value", mode="max", num_samples=n, max_concurrent_trials=slots,
                                            reuse_actors=reuse),
                run_config=tune.RunConfig(name="scale", storage_path=folder, verbose=0))
            with contextlib.redirect_stdout(io.StringIO()):
                grid = tuner.fit()
            wall = time.perf_counter() - t0
            done = [r.metrics["clock"] for r in grid if r.error is None]
    finally:
        ray_shutdown()
    return wall, done


def run_optuna(n: int, seconds: float, slots: int) -> tuple[float, int]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        time.sleep(seconds)
        trial.set_user_attr("clock", time.time())
        return x

    t0 = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=n, n_jobs=slots)
    wall = time.perf_counter() - t0
    return wall, [t.user_attrs["clock"] for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


SIDES = {
    "Processes": run_processes,
    "Ray": run_ray,
    "Tune (defaults)": lambda n, s, k: run_tune(n, s, k, reuse=False),
    "Tune (reuse)": lambda n, s, k: run_tune(n, s, k, reuse=True),
    "Optuna": run_optuna,
}


def throughput(label: str, counts: dict[str, int], seconds: float, slots: int) -> dict[str, dict[str, float]]:
    out = {}
    for side, fn in SIDES.items():
        n = counts[side]
        if n <= 0:
            continue
        wall, clocks = fn(n, seconds, slots)
        ideal = n * seconds / slots
        # steady state: from the first trial's end to the last's (start-up excluded), n - 1 trials
        steady = (len(clocks) - 1) / (max(clocks) - min(clocks)) if len(clocks) > 1 and max(clocks) > min(clocks) \
            else float("nan")
        out[side] = {"n": n, "wall": wall, "rate": n / wall, "overhead": wall / ideal - 1, "done": len(clocks),
                     "steady": steady}
        print(f"  {label:>6} {side:<16} {n:5d} trials ({len(clocks)} completed) in {wall:8.2f}s: {n / wall:8.1f} "
              f"trials/s, ideal {ideal:7.2f}s, overhead {100 * (wall / ideal - 1):8.1f}%; steady state "
              f"{steady:8.1f} trials/s (ideal {slots / seconds:g})", flush=True)
    return out


# -- (b) PBT ------------------------------------------------------------------------------------------
def pbt_bound(epochs: int, slots: int) -> dict[str, float]:
    """The job's lower bound: ``ray.init`` alone, and the bare loop of the same members split
    over ``slots`` processes (warm: after their imports, data and a warm-up epoch; cold: from
    spawning them to their end)."""
    import pbt_digits
    from _pbt_bench import CONFIGS

    module_cls, _ = CONFIGS["short"]
    t0 = time.perf_counter()
    ray_init(slots)
    init = time.perf_counter() - t0
    ray_shutdown()
    t0 = time.perf_counter()
    split, cpu = pbt_digits.plain_parallel(module_cls, pbt_digits.initial_configs(8, 0), epochs, ["cpu"] * slots, 1)
    return {"init": init, "split": split, "cold": time.perf_counter() - t0, "cpu": cpu}


def pbt(epochs: int, slots: int, tune_first: bool = False) -> tuple[dict, dict]:
    import pbt_digits
    from _pbt_bench import CONFIGS, PATHS
    from _ray_pbt import run_ray as tune_pbt

    from torchsearch.executors import Ray

    module_cls, _ = CONFIGS["short"]
    configs = pbt_digits.initial_configs(8, 0)
    theirs = tune_pbt(configs, epochs, slots, 2, module_cls=module_cls, reuse_actors=True) if tune_first else None
    args = argparse.Namespace(population=8, interval=2, seed=0, devices="cpu", workers=slots, threads=1)

    class RayStarted(Ray):  # ray.init inside the timed region (run_study starts its clock before `with`)
        def __enter__(self) -> Ray:
            ray_init(slots)
            return super().__enter__()

        def __exit__(self, *exc: Any) -> None:
            super().__exit__(*exc)
            ray_shutdown()

    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(PATHS + ([saved] if saved else []))  # the actors import the module
    make = pbt_digits.make_executor
    pbt_digits.make_executor = lambda a: RayStarted(max_concurrent=slots)
    try:
        ours = pbt_digits.run_study(module_cls, args, epochs)
    finally:
        pbt_digits.make_executor = make
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    if theirs is None:
        theirs = tune_pbt(configs, epochs, slots, 2, module_cls=module_cls, reuse_actors=True)
    return ours, theirs


def pbt_rounds(epochs: int, slots: int, repeats: int) -> list[str]:
    """(b): ``repeats`` rounds of (ours, Ray Tune's, the bound); PASS/FAIL lines on the medians."""
    import statistics

    print(f"(b) PBT on digits: population 8, {epochs} epochs, interval 2, {slots} slots, {repeats} round(s)", flush=True)
    rows: dict[str, list[float]] = {k: [] for k in ("ours", "theirs", "first_ours", "first_theirs", "init", "split",
                                                   "cold")}
    for r in range(repeats):
        ours, theirs = pbt(epochs, slots, tune_first=r % 2 == 1)
        for name, res in (("torchsearch Ray", ours), ("Ray Tune PBT (reuse_actors=True)", theirs)):
            print(f"  {name}: whole job {res['last'] - res['start']:.2f}s (start-up {res['init_s']:.2f}s, first result "
                  f"at {res['first'] - res['start']:.2f}s), steady state {res['last'] - res['first']:.2f}s, "
                  f"{res['epochs']} epochs trained, best {res['best_any']:.4f} any epoch / {res['best_final']:.4f} final, "
                  f"CPU {res['cpu']['total']:.1f}s, {res['errors']} errored", flush=True)
        low = pbt_bound(epochs, slots)
        print(f"  bound: ray.init alone {low['init']:.2f}s; the bare loop split over {slots} processes {low['split']:.2f}s "
              f"once started ({low['cold']:.2f}s from spawning them: imports, data, a warm-up epoch; CPU "
              f"{low['cpu']:.1f}s)", flush=True)
        rows["ours"].append(ours["last"] - ours["start"])
        rows["theirs"].append(theirs["last"] - theirs["start"])
        rows["first_ours"].append(ours["first"] - ours["start"])
        rows["first_theirs"].append(theirs["first"] - theirs["start"])
        for k in ("init", "split", "cold"):
            rows[k].append(low[k])
    m = {k: statistics.median(v) for k, v in rows.items()}
    a, b = m["ours"], m["theirs"]
    floor = m["init"] + m["split"]
    print(f"  median of {repeats}: ours {a:.2f}s (first result at {m['first_ours']:.2f}s), Ray Tune's {b:.2f}s (first "
          f"result at {m['first_theirs']:.2f}s); bound: ray.init {m['init']:.2f}s + bare loop split {m['split']:.2f}s = "
          f"{floor:.2f}s = {floor / b:.2f}x Ray Tune's; 1/3 of Ray Tune's ({b / 3:.2f}s) leaves {b / 3 - floor:.2f}s for "
          "the rest (the actors' imports and data, our overhead)", flush=True)
    return [verdict(a <= b / 3, f"PBT on Ray {a:.1f}s = {a / b:.2f}x Ray Tune PBT's {b:.1f}s (whole job"
                                f"{', median of ' + str(repeats) if repeats > 1 else ''}); target <= 0.33x; the bare "
                                f"loop and ray.init alone take {floor:.1f}s = {floor / b:.2f}x")]


def verdict(ok: bool, text: str) -> str:
    return f"{'pass' if ok else 'FAIL'}: {text}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--short", type=int, default=1000, help="short trials per side")
    p.add_argument("--short-s", type=float, default=0.005)
    p.add_argument("--long", type=int, default=200, help="1 s trials per side")
    p.add_argument("--long-s", type=float, default=1.0)
    p.add_argument("--tune-default-short", type=int, default=None,
                   help="short trials for Tune with its defaults (an actor per trial; default: --short)")
    p.add_argument("--tune-default-long", type=int, default=None, help="1 s trials for Tune with its defaults")
    p.add_argument("--epochs", type=int, default=30, help="PBT epochs")
    p.add_argument("--pbt-repeats", type=int, default=1, help="rounds of (b): ours, Ray Tune's, the bound")
    p.add_argument("--no-pbt", action="store_true")
    p.add_argument("--only-pbt", action="store_true")
    args = p.parse_args(argv)
    import ray
    import torch

    print(f"scale: {args.slots} slots, {os.cpu_count()} cores, torch {torch.__version__}, Ray {ray.__version__}; "
          f"load average before: {Path('/proc/loadavg').read_text().strip() if Path('/proc/loadavg').exists() else 'n/a'}",
          flush=True)
    lines = []
    if not args.only_pbt and args.short == 0:  # (a) with the 1 s trials only
        print(f"(a) throughput, {args.long_s:g} s trials:", flush=True)
        long = throughput("long", {**{k: args.long for k in SIDES}, "Tune (defaults)": args.tune_default_long or args.long},
                          args.long_s, args.slots)
        over = long["Ray"]["overhead"]
        lines.append(verdict(over <= 0.10, f"Ray {100 * over:.1f}% over the ideal on {args.long} trials of "
                                           f"{args.long_s:g} s; target <= 10%"))
    elif not args.only_pbt:
        def counts(n: int, tune_default: int | None) -> dict[str, int]:
            return {**{k: n for k in SIDES}, "Tune (defaults)": n if tune_default is None else tune_default}

        print(f"(a) throughput, {args.short_s * 1000:g} ms trials:", flush=True)
        short = throughput("short", counts(args.short, args.tune_default_short), args.short_s, args.slots)
        print(f"(a) throughput, {args.long_s:g} s trials:", flush=True)
        long = throughput("long", counts(args.long, args.tune_default_long), args.long_s, args.slots)
        tune_best = max(short[k]["rate"] for k in ("Tune (defaults)", "Tune (reuse)") if k in short)
        ratio = short["Ray"]["rate"] / tune_best
        lines.append(verdict(ratio >= 5, f"Ray {short['Ray']['rate']:.1f} trials/s on {args.short_s * 1000:g} ms trials = "
                                         f"{ratio:.1f}x Ray Tune's best ({tune_best:.1f}/s); target >= 5x"))
        over = long["Ray"]["overhead"]
        lines.append(verdict(over <= 0.10, f"Ray {100 * over:.1f}% over the ideal on {args.long} trials of "
                                           f"{args.long_s:g} s; target <= 10%"))
    if not args.no_pbt:
        lines += pbt_rounds(args.epochs, args.slots, args.pbt_repeats)
    for line in lines:
        print(line, flush=True)


if __name__ == "__main__":
    main()
