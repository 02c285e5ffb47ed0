"""Why does Bayes lose where it loses? Per-suggestion evidence on problems of the BO suite.

For each run it records, at every GP suggestion: the fitted lengthscales (unit cube; the
median over inputs), the fitted noise and signal variances (standardised units), the distance
from the suggestion to the incumbent (unit-cube L2 / sqrt(d), categories as 0/1 mismatch) and
the GP's posterior sd there. It prints, per problem, medians over seeds of:

- ``ls@20`` / ``ls@end``: median lengthscale after 20 observations and at the end;
- ``noise``: fitted noise variance at the end;
- ``local``: share of GP suggestions within 0.05 of the incumbent (exploitation);
- ``near``: share of GP suggestions within 0.02 of any observed point (re-sampling);
- ``edge``: share of suggested float coordinates within 0.01 of a bound (drift to the bounds);
- ``rev``: share of GP suggestions whose winner the bound revert (``REVERT_TOL``) changed, and
  ``rev_c``: float coordinates it put back, per suggestion;
- ``sn2``: the noise variance the standardised losses really have (noisy problems: the
  problem's noise variance over the variance of the observed losses; ``-`` otherwise);
- ``regret``: final regret, and ``first``: regret after the start-up points.

    python benchmarks/bo_diagnose.py --problems ackley4 levy6 --seeds 3
    python benchmarks/bo_diagnose.py --kw '{"warp": false}'     # a Bayes keyword to try
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import torchsearch as ts  # noqa: E402
from problems import PROBLEMS  # noqa: E402
from torchsearch.schedulers import Bayes  # noqa: E402
from torchsearch.schedulers._gp import search as _search  # noqa: E402

_REVERTS: list[int] = []  # coordinates put back by each _revert_indifferent call
_orig_revert = _search._revert_indifferent


def _counted_revert(acq: Any, cols: Any, w: np.ndarray, *a: Any, **k: Any) -> Any:
    out = _orig_revert(acq, cols, w, *a, **k)
    _REVERTS.append(int(np.sum(out[0] != w)))
    return out


_search._revert_indifferent = _counted_revert


class _Watched(Bayes):
    """Bayes that records its fitted hyperparameters and suggestions (nothing else changes)."""

    def setup(self, space: Any, *, mode: Any, seed: Any = None) -> None:
        super().setup(space, mode=mode, seed=seed)
        self.log: list[dict[str, Any]] = []

    def _fit(self, rng: np.random.Generator) -> Any:
        state = super()._fit(rng)
        self._last = state
        return state

    def _suggest(self) -> Any:
        self._last = None
        _REVERTS.clear()
        params = super()._suggest()
        if self._last is not None and params is not None:
            post = self._last[0]
            d = self._enc.cols.d
            th = post.theta.numpy()
            e = self._enc.encode(params)
            numbers = sorted(self._loss)
            inc = self._rows[min(numbers, key=lambda n: self._loss[n])]
            cat = self._enc.cols.mask("cat")
            diff = np.where(cat, (e != inc).astype(float), e - inc)
            with torch.no_grad():
                _, v = post.mean_var(torch.from_numpy(e[None]))
            obs = np.stack([self._rows[n] for n in numbers])
            near = np.min(np.linalg.norm(np.where(cat, (obs != e).astype(float), obs - e), axis=1)) / np.sqrt(d)
            cont = self._enc.cols.mask("cont")
            edge = np.minimum(e[cont], 1.0 - e[cont]) < 0.01 if cont.any() else np.zeros(0, bool)
            y = np.array([self._loss[n] for n in numbers])
            self.log.append({"n": len(numbers), "ls": float(np.median(np.exp(th[:d]))),
                             "near": float(near), "edge": edge.tolist(), "rev": sum(_REVERTS),
                             "yvar": float(np.var(y)),
                             "noise": float(np.exp(th[d + 1])), "signal": float(np.exp(th[d])),
                             "dist": float(np.linalg.norm(diff) / np.sqrt(d)), "sd": float(np.sqrt(v[0]))})
        return params


def run(problem: str, seed: int, kw: dict[str, Any]) -> dict[str, Any]:
    pb = PROBLEMS[problem]
    f = pb.objective(seed)
    true: list[float] = []

    def g(p: dict[str, Any]) -> float:
        true.append(pb.true(p))
        return f(p)

    sch = _Watched(seed=seed, **kw)
    ts.optimize(g, pb.space, scheduler=sch, n_trials=pb.budget, seed=seed)
    log = sch.log
    opt = pb.optimum if pb.optimum is not None else 0.0
    n0 = len(true) - len(log)
    at20 = [r for r in log if r["n"] >= 20]
    return {"problem": problem, "seed": seed, "regret": min(true) - opt, "first": min(true[:n0]) - opt,
            "ls20": (at20[0] if at20 else log[0])["ls"], "ls_end": log[-1]["ls"], "noise": log[-1]["noise"],
            "local": float(np.mean([r["dist"] < 0.05 for r in log])), "sd_med": float(np.median([r["sd"] for r in log])),
            "near": float(np.mean([r["near"] < 0.02 for r in log])),
            "edge": float(np.mean([x for r in log for x in r["edge"]] or [0.0])),
            "rev": float(np.mean([r["rev"] > 0 for r in log])), "rev_c": float(np.mean([r["rev"] for r in log])),
            "sn2": (pb.noise ** 2 / log[-1]["yvar"]) if pb.noise else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", nargs="+", default=["ackley4", "levy6", "rastrigin4", "mixed_trap"])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--kw", default="{}", help="Bayes keyword arguments, JSON")
    ap.add_argument("--patch", default=None, help="module constants to set, JSON (see bo_suite.patch)")
    args = ap.parse_args()
    if args.patch:
        from bo_suite import patch

        patch(json.loads(args.patch))
    torch.set_num_threads(1)
    kw = json.loads(args.kw)
    print("| problem | regret | first | ls@20 | ls@end | noise | sn2 | local | near | edge | rev | rev_c | sd |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for p in args.problems:
        rs = [run(p, s, kw) for s in range(args.seeds)]
        med = {k: float(np.median([r[k] for r in rs])) for k in rs[0] if k not in ("problem", "seed")}
        print(f"| {p} | {med['regret']:.3g} | {med['first']:.3g} | {med['ls20']:.3g} | {med['ls_end']:.3g} | "
              f"{med['noise']:.2g} | {med['sn2']:.2g} | {med['local']:.2f} | {med['near']:.2f} | {med['edge']:.2f} | "
              f"{med['rev']:.2f} | {med['rev_c']:.2f} | {med['sd_med']:.2g} |", flush=True)


if __name__ == "__main__":
    main()
