"""Framework overhead.

(a) ``optimize()`` with ``Random`` on a trivial function: cost per trial for 1,000 trials, with
    in-memory storage and with SQLite storage in a folder.
(b) ``tune()`` of a small model (the digits MLP) vs the same epochs in a plain PyTorch loop.

    python benchmarks/overhead.py [--trials 1000] [--epochs 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))

import torchsearch as ts  # noqa: E402
from torchsearch.schedulers import Random  # noqa: E402

SPACE = {"x": ts.Float(-5.0, 5.0), "y": ts.Float(1e-3, 1.0, log=True), "c": ts.Choice(["a", "b", "c"])}


def trivial(p):
    return (p["x"] - 1.0) ** 2 + p["y"]


def per_trial_cost(n: int, storage) -> float:
    t0 = time.perf_counter()
    study = ts.optimize(trivial, SPACE, scheduler=Random(seed=0), n_trials=n, storage=storage)
    dt = time.perf_counter() - t0
    assert len(study.trials) == n
    return dt / n


def plain_loop(hp: dict, epochs: int, seed: int) -> float:
    """The same training as DigitsMLP under tune(), written by hand: returns the best accuracy."""
    from digits import DigitsMLP

    torch.manual_seed(seed)
    m = DigitsMLP(hp)  # reuse its setup() so model, data and loaders are identical
    best = 0.0
    for _ in range(epochs):
        m.model.train()
        for batch in m.train_loader:
            m.optimizer.zero_grad(set_to_none=True)
            loss = m.training_step(batch)
            loss.backward()
            m.optimizer.step()
            float(loss.detach())  # tune() also reads each loss (NaN check)
        m.model.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in m.val_loader:
                correct += (m.model(x).argmax(1) == y).sum().item()
                total += len(y)
        best = max(best, correct / total)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args()
    print(f"# {platform.platform()}, python {platform.python_version()}, torch {torch.__version__}, "
          f"{os.cpu_count()} cpus, torch threads {torch.get_num_threads()}")

    print(f"\n(a) optimize() + Random on a trivial function, {args.trials} trials")
    mem = min(per_trial_cost(args.trials, None) for _ in range(args.repeats))
    disk = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as d:
            disk.append(per_trial_cost(args.trials, d))
    print(f"  in-memory storage : {mem * 1e3:.3f} ms per trial (best of {args.repeats})")
    print(f"  SQLite in a folder: {min(disk) * 1e3:.3f} ms per trial (best of {args.repeats})")

    from digits import DigitsMLP, digits_tensors

    digits_tensors()
    hp = {"lr": 0.1, "momentum": 0.9, "width": 64, "dropout": 0.1, "activation": "relu"}
    print(f"\n(b) tune() of the digits MLP vs a plain PyTorch loop, 1 trial x {args.epochs} epochs, "
          f"median of {args.repeats}")
    plain, framed, plain_cpu, framed_cpu = [], [], [], []
    fixed = {k: ts.Choice([v]) for k, v in hp.items()}
    for r in range(args.repeats):  # interleaved, so a noisy neighbour hits both alike
        t0, c0 = time.perf_counter(), time.process_time()
        acc_plain = plain_loop(hp, args.epochs, seed=r)
        plain.append(time.perf_counter() - t0)
        plain_cpu.append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        study = ts.tune(DigitsMLP, fixed, scheduler=Random(seed=r), metric="accuracy", mode="max",
                        epochs=args.epochs, n_trials=1, verbose=False)
        framed.append(time.perf_counter() - t0)
        framed_cpu.append(time.process_time() - c0)
        acc_tune = study.best_trial.value
    p, f = statistics.median(plain), statistics.median(framed)
    pc, fc = statistics.median(plain_cpu), statistics.median(framed_cpu)
    ratios = sorted(b / a for a, b in zip(plain, framed))
    print(f"  plain loop: {p:.3f} s wall, {pc:.3f} s CPU (best accuracy {acc_plain:.4f})")
    print(f"  tune()    : {f:.3f} s wall, {fc:.3f} s CPU (best accuracy {acc_tune:.4f})")
    print(f"  overhead  : {100 * (f / p - 1):+.1f}% wall time, {100 * (fc / pc - 1):+.1f}% CPU time "
          f"(pairwise wall ratios: min {ratios[0]:.3f}, median {statistics.median(ratios):.3f}, "
          f"max {ratios[-1]:.3f})")


if __name__ == "__main__":
    main()
