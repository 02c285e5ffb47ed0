"""What PBT costs on top of plain training: digits MLP, population 8, worker processes.

    python benchmarks/pbt_digits.py                          # 2 CPU workers, 1 torch thread each
    python benchmarks/pbt_digits.py --devices cuda           # one worker per visible GPU
    python benchmarks/pbt_digits.py --devices cuda --per-device 2

Digits saturates near 0.977 validation accuracy whatever the search, so this measures cost:

1. plain loop: the population's initial configurations trained one after another for the same
   epochs in a bare PyTorch loop (forward, backward, step, validation each epoch), on one
   worker's device and threads. The ideal parallel time is that divided by the number of
   workers. As a machine shared with other jobs (or cores that are hyperthreads) may not run
   N processes N times faster, the same plain loop split across N processes started together
   is timed too: what this machine's parallelism gives without torchsearch.
2. the PBT study (Processes executor, SQLite storage in a temporary folder, durable
   checkpoints on): wall time from the first suggestion to the last result, workers already
   started (their start-up is shown apart), and the ratio to the ideal.
3. one exploit, as the study does it: the donor's state serialized, sent through a pipe,
   loaded, copied into the recipient and new hyperparameters applied, against one epoch.
4. Ray Tune's PopulationBasedTraining on the same task, if ``ray[tune]`` is installed.
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
from torch import nn

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
    """Train each configuration in a bare loop; return total seconds and per-epoch seconds."""
    per_epoch = []
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
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                m.optimizer.step()
            model.eval()
            correct = 0
            with torch.no_grad():
                for x, y in m.val_loader:
                    correct += (model(x.to(device)).argmax(1).cpu() == y).sum().item()
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
    t0 = time.perf_counter()
    plain_loop(configs, epochs, device)
    out.put(time.perf_counter() - t0)


def plain_parallel(configs: list[dict], epochs: int, slots: list[str], threads: int) -> float:
    """Wall time of the plain loop split across one spawned process per slot, started together."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(len(slots) + 1), ctx.Queue()
    procs = [ctx.Process(target=_plain_share, args=(configs[i::len(slots)], epochs, d, threads, barrier, out))
             for i, d in enumerate(slots)]
    for proc in procs:
        proc.start()
    barrier.wait()
    t0 = time.perf_counter()
    for _ in procs:
        out.get()
    wall = time.perf_counter() - t0
    for proc in procs:
        proc.join()
    return wall


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


def run_ray(configs: list[dict], epochs: int, workers: int) -> str:
    try:
        import ray  # noqa: F401
        from ray import tune  # noqa: F401
    except ImportError:
        return "Ray Tune: not installed here (pip install 'ray[tune]' to compare); skipped"
    return "Ray Tune: installed, but this script does not drive it yet; skipped"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--interval", type=int, default=2)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--devices", default="cpu")
    p.add_argument("--workers", type=int, default=2, help="CPU workers (with --devices cpu)")
    p.add_argument("--per-device", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    if args.devices == "cpu":
        executor = Processes("cpu", workers=args.workers)
    else:
        executor = Processes(args.devices, per_device=args.per_device)
    n = len(executor.slots)
    device = executor.slots[0]
    torch.set_num_threads(executor.threads)
    print(f"PBT on digits: population {args.population}, interval {args.interval}, {args.epochs} epochs, "
          f"{n} workers on {executor.slots}, {executor.threads} torch thread(s) each; torch {torch.__version__}")
    if device.startswith("cuda"):
        print(f"GPU: {torch.cuda.get_device_name(torch.device(device))}")

    configs = initial_configs(args.population, args.seed)
    plain_loop(configs[:1], 2, device)  # warm-up (data, kernels)
    t_plain, per_epoch = plain_loop(configs, args.epochs, device)
    ideal = t_plain / n
    epoch = statistics.median(per_epoch)
    t_par = plain_parallel(configs, args.epochs, executor.slots, executor.threads)
    print(f"plain loop, one process: {t_plain:.2f}s for {len(configs)} x {args.epochs} epochs (median epoch "
          f"{epoch * 1e3:.1f} ms); ideal with {n} workers: {ideal:.2f}s")
    print(f"plain loop split across {n} processes at once: {t_par:.2f}s ({t_plain / t_par:.2f}x speed-up)")

    t0 = time.perf_counter()
    with executor:
        spawn = time.perf_counter() - t0
        warm = PBT(population=n, interval=1, hyperparams=HYPERPARAMS, seed=args.seed)
        ts.tune(DigitsPBT, SPACE, scheduler=warm, metric="accuracy", mode="max", epochs=1, executor=executor,
                verbose=False)  # warm-up, like the plain loop's: load the data in each worker
        pids = [w.process.pid for w in executor._workers]
        cpu0 = [_cpu_seconds(pid) for pid in pids]
        coord0 = time.process_time()
        with tempfile.TemporaryDirectory() as folder:
            t1 = time.perf_counter()
            study = ts.tune(DigitsPBT, SPACE, scheduler=PBT(population=args.population, interval=args.interval,
                                                            hyperparams=HYPERPARAMS, seed=args.seed),
                            metric="accuracy", mode="max", epochs=args.epochs, storage=folder, seed=args.seed,
                            executor=executor, verbose=False)
            t_study = time.perf_counter() - t1
            coord = time.process_time() - coord0
            cpu = [None if a is None or _cpu_seconds(pid) is None else _cpu_seconds(pid) - a
                   for pid, a in zip(pids, cpu0)]
            trials = study.trials
            best = study.best_trial
            n_exploits = len(study.lineage())
    states = {t.state for t in trials}
    epochs_done = sum(len(t.metrics["accuracy"]) for t in trials)
    print(f"PBT study: {t_study:.2f}s = {t_study / ideal:.2f}x ideal, {t_study / t_par:.2f}x the plain loop split "
          f"across {n} processes ({epochs_done} epochs reported, states {states}, {n_exploits} exploits, best "
          f"accuracy {best.value:.4f}); worker start-up {spawn:.2f}s apart")
    if None not in cpu:
        print(f"CPU seconds: workers {' + '.join(f'{c:.2f}' for c in cpu)} (plain loop: {t_plain:.2f} in all), "
              f"coordinator {coord:.2f}")

    costs = exploit_cost(device)
    med = statistics.median(costs)
    print(f"one exploit (serialize + pipe + load + copy + apply): median {med * 1e3:.2f} ms over {len(costs)} "
          f"= {med / epoch:.3f} epochs (p90 {np.percentile(costs, 90) * 1e3:.2f} ms)")
    print(run_ray(configs, args.epochs, n))


if __name__ == "__main__":
    main()
