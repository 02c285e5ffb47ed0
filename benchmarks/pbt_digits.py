"""What PBT costs on top of plain training: digits MLP, population 8, worker processes.

    python benchmarks/pbt_digits.py                          # 2 CPU workers, 1 torch thread each
    python benchmarks/pbt_digits.py --repeats 5 --ray        # 5 rounds, then Ray Tune on the same workers
    python benchmarks/pbt_digits.py --workers 1 --threads 1  # torchsearch's own cost, no parallel hardware
    python benchmarks/pbt_digits.py --devices cuda           # one worker per visible GPU
    python benchmarks/pbt_digits.py --devices cuda --per-device 2

Digits saturates near 0.977 validation accuracy whatever the search, so this measures cost:

1. plain loop: the population's initial configurations trained one after another for the same
   epochs in a bare PyTorch loop over the module's own ``training_step`` and ``validation_step``
   (forward, backward, step; each epoch the validation metrics the study reports), on one
   worker's device and threads. The ideal parallel time is that divided by the number of
   workers. As a machine shared with other jobs (or cores that are hyperthreads) may not run
   N processes N times faster, the same plain loop split across N processes started together
   is timed too: what this machine's parallelism gives without torchsearch.
2. the PBT study (Processes executor, SQLite storage in a temporary folder, durable
   checkpoints on): wall time from the first suggestion to the last result, workers already
   started (their start-up is shown apart), and the ratio to the ideal.
3. one exploit, as the study does it: the donor's state serialized, sent through a pipe,
   loaded, copied into the recipient and new hyperparameters applied, against one epoch.
4. with ``--ray``: Ray Tune's PopulationBasedTraining on the same members and CPU workers
   (``benchmarks/_ray_pbt.py``; ``pip install "ray[tune]"``), ``--ray-no-reuse`` adds Ray's
   default ``reuse_actors=False`` (about 10 minutes here).
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

import torchsearch as ts  # noqa: E402
from digits_pbt import HYPERPARAMS, SPACE, DigitsPBT  # noqa: E402
from torchsearch._jobs import exploit  # noqa: E402
from torchsearch._population import dumps_state, loads_state  # noqa: E402
from torchsearch.executors import Processes  # noqa: E402
from torchsearch.schedulers import PBT  # noqa: E402


def initial_configs(population: int, seed: int) -> list[dict]:
    """The configurations PBT starts from (same seed, same draws)."""
    s = PBT(population=max(population, 2), interval=2, hyperparams=HYPERPARAMS, seed=seed)
    s.setup(ts.space.as_space(SPACE), mode="max", seed=seed)
    return [s.suggest() for _ in range(population)]


def plain_loop(configs: list[dict], epochs: int, device: str) -> tuple[float, list[float]]:
    """Train each configuration in a bare loop over the module's own training_step and
    validation_step (the validation metrics the study reports, batch-size weighted means);
    return total seconds and per-epoch seconds."""
    per_epoch, metrics = [], []
    t0 = time.perf_counter()
    for i, hp in enumerate(configs):
        torch.manual_seed(i)
        m = DigitsPBT(dict(hp), device=device)
        model = m.model.to(device)
        for _ in range(epochs):
            e0 = time.perf_counter()
            model.train()
            for x, y in m.train_loader:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                m.optimizer.zero_grad(set_to_none=True)
                loss = m.training_step((x, y))
                loss.backward()
                m.optimizer.step()
            model.eval()
            sums, count = {}, 0
            with torch.no_grad():
                for x, y in m.val_loader:
                    out = m.validation_step((x.to(device), y.to(device)))
                    for k, v in out.items():
                        sums[k] = sums.get(k, 0.0) + v * len(y)
                    count += len(y)
            metrics.append({k: float(v) / count for k, v in sums.items()})  # what the study reports
            per_epoch.append(time.perf_counter() - e0)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t0, per_epoch


def _plain_share(configs, epochs, device, threads, barrier, out):
    torch.set_num_threads(threads)
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    plain_loop(configs[:1], 2, device)  # warm-up
    barrier.wait()
    t0, c0 = time.perf_counter(), time.process_time()
    plain_loop(configs, epochs, device)
    out.put((time.perf_counter() - t0, time.process_time() - c0))


def plain_parallel(configs: list[dict], epochs: int, slots: list[str], threads: int) -> tuple[float, float]:
    """Wall time of the plain loop split across one spawned process per slot, started together, and the
    CPU seconds of those processes."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(len(slots) + 1), ctx.Queue()
    procs = [ctx.Process(target=_plain_share, args=(configs[i::len(slots)], epochs, d, threads, barrier, out))
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


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def exploit_cost(device: str, reps: int = 30) -> list[float]:
    """Seconds for one exploit along the study's path: serialize, pipe, load, copy, apply."""
    configs = initial_configs(2, 1)
    donor = ts.Trainer(DigitsPBT(dict(configs[0]), device=device), device=device)
    recipient = ts.Trainer(DigitsPBT(dict({**configs[1], "width": configs[0]["width"]}), device=device),
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


def run_ray(configs: list[dict], epochs: int, workers: int, interval: int, reuse: tuple[bool, ...]) -> list[dict]:
    """Ray Tune's PopulationBasedTraining on the same members (``benchmarks/_ray_pbt.py``)."""
    try:
        import ray  # noqa: F401
        from ray import tune  # noqa: F401
    except ImportError:
        print("Ray Tune: not installed here (pip install 'ray[tune]' to compare); skipped")
        return []
    from _ray_pbt import run_ray as ray_pbt

    return [ray_pbt(configs, epochs, workers, interval, reuse_actors=r) for r in reuse]


def run_study(executor: Processes, args: argparse.Namespace) -> dict:
    """One PBT study on running workers: wall time, CPU seconds of workers and coordinator."""
    pids = [w.process.pid for w in executor._workers]
    cpu0 = [_cpu_seconds(pid) for pid in pids]
    coord0 = time.process_time()
    with tempfile.TemporaryDirectory() as folder:
        t1 = time.perf_counter()
        study = ts.tune(DigitsPBT, SPACE, scheduler=PBT(population=args.population, interval=args.interval,
                                                        hyperparams=HYPERPARAMS, seed=args.seed),
                        metric="accuracy", mode="max", epochs=args.epochs, storage=folder, seed=args.seed,
                        executor=executor, verbose=False)
        wall = time.perf_counter() - t1
        coord = time.process_time() - coord0
        cpu1 = [_cpu_seconds(pid) for pid in pids]
        trials = study.trials
        widths: dict[int, int] = {}  # epochs trained at each width (an exploit copies the donor's width)
        for t in trials:
            rows = study.lineage(t.number)
            params = rows[0]["old_params"] if rows else t.params
            changes = {r["step"]: r["new_params"] for r in rows}
            for epoch in range(1, len(t.metrics["accuracy"]) + 1):
                widths[params["width"]] = widths.get(params["width"], 0) + 1
                params = changes.get(epoch, params)  # an exploit after evaluation `epoch` applies from the next
        return {"wall": wall, "widths": widths, "coordinator": coord,
                "workers": None if None in cpu0 + cpu1 else [b - a for a, b in zip(cpu0, cpu1)],
                "states": {t.state for t in trials}, "exploits": len(study.lineage()),
                "epochs": sum(len(t.metrics["accuracy"]) for t in trials), "best": study.best_trial.value}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--interval", type=int, default=2)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--devices", default="cpu")
    p.add_argument("--workers", type=int, default=2, help="CPU workers (with --devices cpu)")
    p.add_argument("--per-device", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch threads per worker (default: cores / workers)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3,
                   help="rounds of (plain loop, plain loop split, PBT study), interleaved; medians are reported")
    p.add_argument("--ray", action="store_true",
                   help="also run Ray Tune's PopulationBasedTraining with reuse_actors=True (needs ray[tune])")
    p.add_argument("--ray-no-reuse", action="store_true",
                   help="and with Ray's default reuse_actors=False (slow: about 10 minutes on 2 CPU workers)")
    args = p.parse_args(argv)

    if args.devices == "cpu":
        executor = Processes("cpu", workers=args.workers, threads=args.threads)
    else:
        executor = Processes(args.devices, per_device=args.per_device, threads=args.threads)
    n = len(executor.slots)
    device = executor.slots[0]
    torch.set_num_threads(executor.threads)
    print(f"PBT on digits: population {args.population}, interval {args.interval}, {args.epochs} epochs, "
          f"{n} workers on {executor.slots}, {executor.threads} torch thread(s) each; torch {torch.__version__}; "
          f"{args.repeats} interleaved rounds")
    if device.startswith("cuda"):
        print(f"GPU: {torch.cuda.get_device_name(torch.device(device))}")

    configs = initial_configs(args.population, args.seed)
    plain_loop(configs[:1], 2, device)  # warm-up (data, kernels)
    t0 = time.perf_counter()
    with executor:
        spawn = time.perf_counter() - t0
        warm = PBT(population=max(n, 2), interval=1, hyperparams=HYPERPARAMS, seed=args.seed)
        ts.tune(DigitsPBT, SPACE, scheduler=warm, metric="accuracy", mode="max", epochs=1, executor=executor,
                verbose=False)  # warm-up, like the plain loop's: load the data in each worker
        rows = []
        for r in range(args.repeats):
            c0 = time.process_time()
            t_plain, per_epoch = plain_loop(configs, args.epochs, device)
            c_plain = time.process_time() - c0
            t_par, c_par = plain_parallel(configs, args.epochs, executor.slots, executor.threads)
            st = run_study(executor, args)
            ideal = t_plain / n
            # the same epochs as the study trained: exploits copy the donor's width, so the study's
            # epochs are not the initial configurations' mix; price each at the plain loop's mean
            # epoch time for that width in this round
            per_width: dict[int, list[float]] = {}
            for i, hp in enumerate(configs):
                per_width.setdefault(hp["width"], []).extend(per_epoch[i * args.epochs:(i + 1) * args.epochs])
            matched = sum(k * statistics.fmean(per_width[w]) for w, k in st["widths"].items())
            matched *= t_plain / sum(per_epoch)  # the loop's own time between epochs (model builds)
            row = {"matched": matched, "matched_ratio": st["wall"] / (matched / n),
                   "matched_split_ratio": st["wall"] / (t_par * matched / t_plain), "plain": t_plain, "plain_cpu": c_plain, "split_cpu": c_par, "epoch": statistics.median(per_epoch), "split": t_par,
                   "study": st["wall"], "ideal_ratio": st["wall"] / ideal, "split_ratio": st["wall"] / t_par,
                   "cpu_ratio": None if st["workers"] is None else (sum(st["workers"]) + st["coordinator"]) / c_plain,
                   "split_cpu_ratio": None if st["workers"] is None else (sum(st["workers"]) + st["coordinator"]) / c_par}
            rows.append(row)
            cpu = "" if st["workers"] is None else (
                f"; CPU s: workers {' + '.join(f'{c:.2f}' for c in st['workers'])}, coordinator "
                f"{st['coordinator']:.2f} = {row['cpu_ratio']:.2f}x the plain loop's {c_plain:.2f}, "
                f"{row['split_cpu_ratio']:.2f}x the split processes' {c_par:.2f}")
            print(f"round {r + 1}: plain loop {t_plain:.2f}s (ideal / {n} = {ideal:.2f}s, median epoch "
                  f"{row['epoch'] * 1e3:.1f} ms); split across {n} processes {t_par:.2f}s "
                  f"({t_plain / t_par:.2f}x speed-up); PBT study {st['wall']:.2f}s = {row['ideal_ratio']:.2f}x ideal, "
                  f"{row['split_ratio']:.2f}x split ({st['epochs']} epochs, {st['exploits']} exploits, states "
                  f"{sorted(st['states'])}, best {st['best']:.4f}){cpu}; the study's epochs by width "
                  f"{dict(sorted(st['widths'].items()))} (the plain loop's: "
                  f"{dict(sorted((w, len(v)) for w, v in per_width.items()))}) cost {matched:.2f}s in the plain loop: "
                  f"{row['matched_ratio']:.2f}x that ideal, {row['matched_split_ratio']:.2f}x that split", flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in ("plain", "split", "study", "ideal_ratio",
                                                                "split_ratio", "matched_ratio",
                                                                "matched_split_ratio")}
    print(f"median of {len(rows)}: PBT study {med['study']:.2f}s = {med['ideal_ratio']:.2f}x ideal "
          f"(plain loop {med['plain']:.2f}s / {n}), {med['split_ratio']:.2f}x the plain loop split across {n} "
          f"processes ({med['plain'] / med['split']:.2f}x speed-up from {n} processes); worker start-up "
          f"{spawn:.2f}s apart")
    print(f"median of {len(rows)}, against the same epochs as the study trained (width mix after exploits) in the "
          f"plain loop: {med['matched_ratio']:.2f}x ideal, {med['matched_split_ratio']:.2f}x split")
    best = {k: min(r[k] for r in rows) for k in ("plain", "split", "study")}
    print(f"best of {len(rows)} (timeit's rule: noise only adds time): PBT study {best['study']:.2f}s = "
          f"{best['study'] / (best['plain'] / n):.2f}x ideal (plain loop {best['plain']:.2f}s / {n}), "
          f"{best['study'] / best['split']:.2f}x the plain loop split ({best['split']:.2f}s)")
    if all(r["cpu_ratio"] is not None for r in rows):
        print(f"median CPU seconds, workers + coordinator: {statistics.median(r['cpu_ratio'] for r in rows):.3f}x "
              f"the plain loop's, {statistics.median(r['split_cpu_ratio'] for r in rows):.3f}x the split processes'")

    costs = exploit_cost(device)
    epoch = statistics.median(r["epoch"] for r in rows)
    print(f"one exploit (serialize + pipe + load + copy + apply): median {statistics.median(costs) * 1e3:.2f} ms "
          f"over {len(costs)} = {statistics.median(costs) / epoch:.3f} epochs (p90 "
          f"{np.percentile(costs, 90) * 1e3:.2f} ms)")
    if args.ray or args.ray_no_reuse:
        if not device.startswith("cpu"):
            print("Ray Tune: compared on CPU workers only here; skipped")
            return
        reuse = (True,) + ((False,) if args.ray_no_reuse else ())
        ideal = med["plain"] / n
        for r in run_ray(configs, args.epochs, n, args.interval, reuse):
            print(f"Ray Tune {r['version']} PopulationBasedTraining, reuse_actors={r['reuse_actors']}: "
                  f"{r['wall_s']:.2f}s = {r['wall_s'] / ideal:.1f}x ideal, {r['wall_s'] / med['study']:.1f}x "
                  f"torchsearch's PBT study (ray.init {r['init_s']:.2f}s apart); {r['rows']} results for "
                  f"{r['expected_rows']} epochs (members restarted from older donor checkpoints train epochs "
                  f"again), {r['rows_dataframe']} of them in the results' metrics_dataframe; best accuracy "
                  f"{r['best_accuracy']:.4f}; {r['errors']} errored trial(s)", flush=True)


if __name__ == "__main__":
    main()
