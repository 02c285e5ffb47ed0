"""What PBT costs on top of plain training, and against Ray Tune: digits MLP, population 8.

    python benchmarks/pbt_digits.py                          # short config, 2 CPU workers, 1 torch thread each
    python benchmarks/pbt_digits.py --repeats 3 --ray        # and Ray Tune's PBT in every round (reuse_actors=True)
    python benchmarks/pbt_digits.py --repeats 3 --ray --ray-no-reuse   # and once with Ray's default (slow)
    python benchmarks/pbt_digits.py --long --repeats 1 --ray # long config: 9x the training data, 40 epochs
    python benchmarks/pbt_digits.py --workers 1 --threads 1  # torchsearch's own cost, no parallel hardware
    python benchmarks/pbt_digits.py --devices cuda           # one worker per visible GPU (no Ray then)

The data and module are ``benchmarks/_pbt_bench.py``'s: the digits MLP of
``examples/digits_pbt.py`` validated on 3231 images (the 359 held-out digits in 9 one-pixel
positions), trained on 1438 images (short) or 12942 (long). Each round, one after the other:

1. plain loop: the population's initial configurations trained one after another for the same
   epochs in a bare PyTorch loop over the module's own ``training_step`` and ``validation_step``
   in this process (warmed up). The ideal parallel time is that divided by the number of
   workers. As a shared machine may not run N processes N times faster, the same loop split
   across N processes started together (each warmed up first) is timed too.
2. torchsearch's PBT study, on a ``Processes`` executor started for it (SQLite storage in a
   temporary folder, durable checkpoints on); no warm-up study.
3. with ``--ray``: Ray Tune's PopulationBasedTraining on the same members, CPU slots and module
   (``benchmarks/_ray_pbt.py``), ``reuse_actors=True``. ``--ray-no-reuse`` runs Ray's default
   ``reuse_actors=False`` once after the rounds.

Both sides are measured the same way:

- **whole job**: from just before the workers are started (``Processes`` spawning its worker
  processes; ``ray.init`` starting Ray's daemons, then its actors) to the last result; the
  driver's own imports are done before on both sides;
- **steady state**: from the first result to the last. A result's time is its evaluation's
  ``clock`` metric, taken in the worker or actor by the same module code on both sides (not
  when the driver hears of it);
- **epochs trained**: every evaluation either side made (Ray trains epochs again when a member
  copies a donor's older checkpoint and iteration), and the steady state against the plain
  loop's time for those same epochs at their widths (an exploit copies the donor's width):
  what remains is overhead, not extra training;
- **CPU seconds** from the start of the job to the driver's return (``tune``; ``Tuner.fit``)
  of the driver and every process below it: our coordinator and worker processes; Ray's
  driver, gcs_server, raylet, agents, idle workers and actors (``_pbt_bench.TreeCpu``);
- **accuracy**: the best evaluation of any member at any epoch, and the best member's final
  epoch (an epoch trained again counts its last evaluation, on both sides, as the study's
  storage keeps one report per step).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torchsearch as ts  # noqa: E402
from _pbt_bench import CONFIGS, TreeCpu, train_epoch  # noqa: E402
from digits_pbt import HYPERPARAMS, SPACE  # noqa: E402
from torchsearch._jobs import exploit  # noqa: E402
from torchsearch._population import dumps_state, loads_state  # noqa: E402
from torchsearch.executors import Processes  # noqa: E402
from torchsearch.schedulers import PBT  # noqa: E402


def initial_configs(population: int, seed: int) -> list[dict]:
    """The configurations PBT starts from (same seed, same draws)."""
    s = PBT(population=max(population, 2), interval=2, hyperparams=HYPERPARAMS, seed=seed)
    s.setup(ts.space.as_space(SPACE), mode="max", seed=seed)
    return [s.suggest() for _ in range(population)]


def plain_loop(module_cls: type, configs: list[dict], epochs: int, device: str) -> tuple[float, list[float]]:
    """Train each configuration in a bare loop (``_pbt_bench.train_epoch``: the module's own
    training_step and validation_step); return total seconds and per-epoch seconds."""
    per_epoch = []
    t0 = time.perf_counter()
    for i, hp in enumerate(configs):
        torch.manual_seed(i)
        m = module_cls(dict(hp), device=device)
        m.model.to(device)
        for _ in range(epochs):
            e0 = time.perf_counter()
            train_epoch(m, device)
            per_epoch.append(time.perf_counter() - e0)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t0, per_epoch


def _plain_share(module_cls, configs, epochs, device, threads, barrier, out):
    torch.set_num_threads(threads)
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    plain_loop(module_cls, configs[:1], 1, device)  # warm-up
    barrier.wait()
    t0, c0 = time.perf_counter(), time.process_time()
    plain_loop(module_cls, configs, epochs, device)
    out.put((time.perf_counter() - t0, time.process_time() - c0))


def plain_parallel(module_cls: type, configs: list[dict], epochs: int, slots: list[str],
                   threads: int) -> tuple[float, float]:
    """Wall time of the plain loop split across one spawned process per slot, started together, and the
    CPU seconds of those processes."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(len(slots) + 1), ctx.Queue()
    procs = [ctx.Process(target=_plain_share,
                         args=(module_cls, configs[i::len(slots)], epochs, d, threads, barrier, out))
             for i, d in enumerate(slots)]
    for proc in procs:
        proc.start()
    barrier.wait()
    t0 = time.perf_counter()
    cpu = sum(out.get()[1] for _ in procs)
    wall = time.perf_counter() - t0
    for proc in procs:
        proc.join()
    return wall, cpu


def exploit_cost(module_cls: type, device: str, reps: int = 30) -> list[float]:
    """Seconds for one exploit along the study's path: serialize, pipe, load, copy, apply."""
    configs = initial_configs(2, 1)
    donor = ts.Trainer(module_cls(dict(configs[0]), device=device), device=device)
    recipient = ts.Trainer(module_cls(dict({**configs[1], "width": configs[0]["width"]}), device=device),
                           device=device)
    donor.fit(1)
    recipient.fit(1)
    a, b = mp.Pipe()
    times = []
    for r in range(reps):
        new = {**configs[0], "lr": configs[0]["lr"] * (1.2 if r % 2 else 0.8)}
        t0 = time.perf_counter()
        blob = dumps_state(donor.state_dict())  # donor's worker: its kept state ...
        sender = threading.Thread(target=a.send_bytes, args=(blob,))
        sender.start()
        blob = b.recv_bytes()                    # ... reaches the coordinator (a pipe, as in Processes)
        sender = threading.Thread(target=a.send_bytes, args=(blob,))
        sender.start()
        state = loads_state(b.recv_bytes())      # coordinator -> the recipient's worker
        sender.join()
        exploit(recipient, state, new)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


def run_study(module_cls: type, args: argparse.Namespace, epochs: int) -> dict:
    """One PBT study on workers started for it; the same fields as ``_ray_pbt.run_ray``'s."""
    cpu = TreeCpu().start()
    with tempfile.TemporaryDirectory() as folder:
        start = time.time()
        with make_executor(args) as executor:
            spawn_s = time.time() - start
            study = ts.tune(module_cls, SPACE, scheduler=PBT(population=args.population, interval=args.interval,
                                                             hyperparams=HYPERPARAMS, seed=args.seed),
                            metric="accuracy", mode="max", epochs=epochs, storage=folder, seed=args.seed,
                            executor=executor, verbose=False)
            fit_end = time.time()
            used = cpu.read()
            t = time.time()
        shutdown_s = time.time() - t
        trials = study.trials
        # epochs trained, at each width: a member trains from its step, and an exploit at its step
        # sends it on from the donor's step (behind: it trains those epochs again, their reports
        # replacing the first ones; ahead: it skips to it) with the donor's width
        widths: dict[int, int] = {}
        again = skipped = 0
        for tr in trials:
            rows = study.lineage(tr.number)
            params, at = (rows[0]["old_params"] if rows else tr.params), 0
            for row in rows + [{"step": max(tr.metrics["accuracy"]), "donor_step": None, "new_params": None}]:
                widths[params["width"]] = widths.get(params["width"], 0) + row["step"] - at
                if row["donor_step"] is not None:
                    again += max(0, row["step"] - row["donor_step"])
                    skipped += max(0, row["donor_step"] - row["step"])
                at, params = row["donor_step"], row["new_params"]
        clocks = [c for tr in trials for c in tr.metrics["clock"].values()]
        return {"start": start, "init_s": spawn_s, "first": min(clocks), "last": max(clocks), "fit_end": fit_end,
                "shutdown_s": shutdown_s, "epochs": sum(widths.values()), "again": again, "skipped": skipped,
                "widths": widths, "finished": sum(tr.state == "completed" for tr in trials),
                "best_any": max(max(tr.metrics["accuracy"].values()) for tr in trials), "best_final": max(tr.last("accuracy") for tr in trials),
                "cpu": used, "errors": sum(tr.state == "failed" for tr in trials), "exploits": len(study.lineage())}


def make_executor(args: argparse.Namespace) -> Processes:
    if args.devices == "cpu":
        return Processes("cpu", workers=args.workers, threads=args.threads)
    return Processes(args.devices, per_device=args.per_device, threads=args.threads)


def figures(r: dict, plain: dict, n: int) -> dict:
    """A side's result ``r`` against the round's plain loop: seconds, ratios, CPU."""
    whole, steady = r["last"] - r["start"], r["last"] - r["first"]
    matched = sum(k * plain["per_width"][w] for w, k in r["widths"].items()) * plain["between"]
    return {"whole": whole, "steady": steady, "whole_ideal": whole / plain["ideal"],
            "steady_ideal": steady / plain["ideal"], "steady_split": steady / plain["split"],
            "steady_matched": steady / (matched / n), "epochs": r["epochs"], "cpu": r["cpu"]["total"],
            "cpu_plain": r["cpu"]["total"] / plain["cpu"], "best_any": r["best_any"], "best_final": r["best_final"],
            "init": r["init_s"], "returned": r["fit_end"] - r["start"]}


def describe(r: dict, f: dict, n_epochs: int) -> str:
    parts = sorted(((k, v) for k, v in r["cpu"].items() if k != "total" and v >= 0.05), key=lambda kv: -kv[1])
    cpu = ", ".join(f"{k} {v:.1f}" for k, v in parts)
    return (f"whole job {f['whole']:.2f}s = {f['whole_ideal']:.2f}x ideal (start-up {f['init']:.2f}s, "
            f"returned at {f['returned']:.2f}s); steady state {f['steady']:.2f}s = {f['steady_ideal']:.2f}x ideal, "
            f"{f['steady_split']:.2f}x split, {f['steady_matched']:.2f}x the plain loop's time for the same "
            f"epochs / workers; {f['epochs']} epochs trained for {n_epochs} ({r['finished']} members finished, "
            f"{r['errors']} errored); CPU {f['cpu']:.1f}s = {f['cpu_plain']:.2f}x the plain loop's ({cpu}); "
            f"accuracy best {f['best_any']:.4f} any epoch, {f['best_final']:.4f} final epoch")


KEYS = ("whole", "whole_ideal", "steady", "steady_ideal", "steady_split", "steady_matched", "epochs", "cpu",
        "cpu_plain", "best_any", "best_final", "init")


def summary(name: str, rows: list[dict]) -> str:
    m = {k: statistics.median(r[k] for r in rows) for k in KEYS}
    return (f"{name}, median of {len(rows)}: whole job {m['whole']:.2f}s = {m['whole_ideal']:.2f}x ideal "
            f"(start-up {m['init']:.2f}s); steady state {m['steady']:.2f}s = {m['steady_ideal']:.2f}x ideal, "
            f"{m['steady_split']:.2f}x split, {m['steady_matched']:.2f}x for the epochs trained; "
            f"{m['epochs']:.0f} epochs trained; CPU {m['cpu']:.1f}s = {m['cpu_plain']:.2f}x the plain loop's; "
            f"accuracy {m['best_any']:.4f} any epoch, {m['best_final']:.4f} final epoch")


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--long", action="store_true",
                   help="the long configuration: 9x the training data (an epoch ~9x longer), 40 epochs")
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--interval", type=int, default=2)
    p.add_argument("--epochs", type=int, default=None, help="default: 30 (short), 40 (long)")
    p.add_argument("--devices", default="cpu")
    p.add_argument("--workers", type=int, default=2, help="CPU workers (with --devices cpu)")
    p.add_argument("--per-device", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch threads per worker (default: cores / workers)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3,
                   help="rounds of (plain loop, plain loop split, PBT study[, Ray]), interleaved; medians reported")
    p.add_argument("--ray", action="store_true",
                   help="also run Ray Tune's PopulationBasedTraining (reuse_actors=True) in every round (needs ray[tune])")
    p.add_argument("--ray-no-reuse", action="store_true",
                   help="and once, after the rounds, with Ray's default reuse_actors=False (slow: 10+ minutes)")
    args = p.parse_args(argv)
    config = "long" if args.long else "short"
    module_cls, default_epochs = CONFIGS[config]
    epochs = args.epochs or default_epochs

    probe = make_executor(args)
    n, slots, threads, device = len(probe.slots), probe.slots, probe.threads, probe.slots[0]
    torch.set_num_threads(threads)
    ray_on = args.ray or args.ray_no_reuse
    if ray_on and not device.startswith("cpu"):
        print("Ray Tune: compared on CPU workers only here; skipped")
        ray_on = False
    if ray_on:
        try:
            from _ray_pbt import run_ray
        except ImportError:
            print("Ray Tune: not installed here (pip install 'ray[tune]' to compare); skipped")
            ray_on = False
    print(f"PBT on digits, {config} config: population {args.population}, interval {args.interval}, {epochs} epochs, "
          f"{n} workers on {slots}, {threads} torch thread(s) each; torch {torch.__version__}; {args.repeats} "
          f"interleaved rounds; load average before: {loadavg()}")
    if device.startswith("cuda"):
        print(f"GPU: {torch.cuda.get_device_name(torch.device(device))}")

    configs = initial_configs(args.population, args.seed)
    plain_loop(module_cls, configs[:1], 1, device)  # warm-up (data, kernels)
    rows: dict[str, list[dict]] = {"torchsearch": [], "Ray Tune": []}
    plains = []
    for r in range(args.repeats):
        c0 = time.process_time()
        t_plain, per_epoch = plain_loop(module_cls, configs, epochs, device)
        c_plain = time.process_time() - c0
        t_par, c_par = plain_parallel(module_cls, configs, epochs, slots, threads)
        per_width: dict[int, list[float]] = {}
        for i, hp in enumerate(configs):
            per_width.setdefault(hp["width"], []).extend(per_epoch[i * epochs:(i + 1) * epochs])
        plain = {"ideal": t_plain / n, "split": t_par, "cpu": c_plain,
                 "per_width": {w: statistics.fmean(v) for w, v in per_width.items()},
                 "between": t_plain / sum(per_epoch)}  # the loop's own time between epochs (model builds)
        plains.append({"plain": t_plain, "split": t_par, "cpu": c_plain, "epoch": statistics.median(per_epoch)})
        print(f"round {r + 1}: plain loop {t_plain:.2f}s (ideal / {n} = {t_plain / n:.2f}s, median epoch "
              f"{statistics.median(per_epoch) * 1e3:.1f} ms, CPU {c_plain:.1f}s); split across {n} processes "
              f"{t_par:.2f}s ({t_plain / t_par:.2f}x speed-up, CPU {c_par:.1f}s)", flush=True)
        sides = [("torchsearch", lambda: run_study(module_cls, args, epochs))]
        if ray_on:
            sides.append(("Ray Tune", lambda: run_ray(configs, epochs, n, args.interval, module_cls=module_cls,
                                                      reuse_actors=True, seed=args.seed)))
        for name, run in (sides if r % 2 == 0 else sides[::-1]):  # alternate which side goes first
            res = run()
            f = figures(res, plain, n)
            rows[name].append(f)
            label = name if name == "torchsearch" else f"Ray Tune {res['version']} reuse_actors=True"
            extra = (f"; {res['exploits']} exploits, {res['again']} epochs trained again, {res['skipped']} skipped"
                     if "exploits" in res else "")
            print(f"  {label}: {describe(res, f, args.population * epochs)}{extra}", flush=True)

    med = {k: statistics.median(p[k] for p in plains) for k in ("plain", "split", "cpu", "epoch")}
    print(f"median of {len(plains)}: plain loop {med['plain']:.2f}s (ideal {med['plain'] / n:.2f}s, median epoch "
          f"{med['epoch'] * 1e3:.1f} ms); split across {n} processes {med['split']:.2f}s "
          f"({med['plain'] / med['split']:.2f}x speed-up)")
    for name, side in rows.items():
        if side:
            print(summary(name, side))
    if rows["Ray Tune"]:
        ts_, ray_ = rows["torchsearch"], rows["Ray Tune"]
        ratio = {k: statistics.median(b[k] / a[k] for a, b in zip(ts_, ray_)) for k in ("whole", "steady", "cpu")}
        print(f"Ray Tune / torchsearch, median of the rounds' ratios: whole job {ratio['whole']:.2f}x, steady state "
              f"{ratio['steady']:.2f}x, CPU {ratio['cpu']:.2f}x")

    costs = exploit_cost(module_cls, device)
    print(f"one exploit (serialize + pipe + load + copy + apply): median {statistics.median(costs) * 1e3:.2f} ms "
          f"over {len(costs)} = {statistics.median(costs) / med['epoch']:.3f} epochs (p90 "
          f"{np.percentile(costs, 90) * 1e3:.2f} ms)")
    if ray_on and args.ray_no_reuse:
        res = run_ray(configs, epochs, n, args.interval, module_cls=module_cls, reuse_actors=False, seed=args.seed)
        last = {**plain, "ideal": med["plain"] / n, "split": med["split"], "cpu": med["cpu"]}
        f = figures(res, last, n)
        print(f"Ray Tune {res['version']} reuse_actors=False (once, against the medians' plain loop): "
              f"{describe(res, f, args.population * epochs)}", flush=True)
    print(f"load average after: {loadavg()}")


if __name__ == "__main__":
    main()
