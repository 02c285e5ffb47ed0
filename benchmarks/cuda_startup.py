"""What a fresh worker process pays before its first CUDA result: importing torch and torchsearch, creating the
CUDA context, the first kernel and the first cuBLAS call; alone and with N processes at once
(as `Processes("cuda", per_device=N)` starts them). Needs a CUDA GPU.

    python benchmarks/cuda_startup.py --procs 1 4 8
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing as mp
import statistics
import time


def _child(q) -> None:  # spawned: a fresh interpreter, like a worker
    try:
        _measure(q)
    except Exception as e:  # noqa: BLE001 - reported to the parent, which would wait forever
        q.put({"error": f"{type(e).__name__}: {e}"})


def _measure(q) -> None:
    t0 = time.perf_counter()
    import torch
    ta = time.perf_counter()
    importlib.import_module("torchsearch")  # ignite and the rest of what a worker imports
    t1 = time.perf_counter()
    torch.cuda.init()
    torch.cuda.synchronize()
    t2 = time.perf_counter()
    x = torch.ones(64, device="cuda")
    (x * 2).sum().item()
    t3 = time.perf_counter()
    a = torch.randn(256, 256, device="cuda")
    (a @ a).sum().item()
    t4 = time.perf_counter()
    lin = torch.nn.Linear(64, 10).cuda()
    opt = torch.optim.Adam(lin.parameters())
    lin(torch.randn(32, 64, device="cuda")).sum().backward()
    opt.step()
    torch.cuda.synchronize()
    t5 = time.perf_counter()
    q.put({"import": ta - t0, "import_ts": t1 - ta, "context": t2 - t1, "first_kernel": t3 - t2, "first_matmul": t4 - t3,
           "first_step": t5 - t4, "total": t5 - t0})


def run(n: int) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    t0 = time.perf_counter()
    ps = [ctx.Process(target=_child, args=(q,)) for _ in range(n)]
    for p in ps:
        p.start()
    rows = [q.get() for _ in ps]
    for p in ps:
        p.join()
    wall = time.perf_counter() - t0
    errors = [r["error"] for r in rows if "error" in r]
    if errors:
        raise SystemExit(f"cuda_startup: {errors[0]}")
    return {"procs": n, "wall": wall, **{k: statistics.median(r[k] for r in rows) for k in rows[0]}}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    for n in args.procs:
        for _ in range(args.repeats):
            r = run(n)
            print(f"{n} process(es) at once: wall {r['wall']:.2f}s; per process (median): import torch {r['import']:.2f}s, torchsearch {r['import_ts']:.2f}s, "
                  f"CUDA context {r['context']:.2f}s, first kernel {r['first_kernel']:.3f}s, first matmul "
                  f"{r['first_matmul']:.3f}s, first training step {r['first_step']:.3f}s; total {r['total']:.2f}s",
                  flush=True)
            print(json.dumps(r))
