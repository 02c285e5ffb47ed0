"""BoTorch's lead on the rugged problems, component by component (issue 12, seventh session).

BoTorch's tutorial loop (``bo_peers._botorch``) beats our ``Bayes`` by a wide margin on
styblinski_tang5, rastrigin4, int_styblinski6 and digits_mlp. Each method here swaps ONE
component between the two loops, on the suite's problems, seeds and objectives, and appends
rows in the suite's format (``bo_suite.run_one``), so ``bo_suite.py --report`` and
``bo_compare.py`` read them:

- ``botorch_ref``: the BoTorch loop unchanged (reproduces the stored ``botorch`` rows);
- ``botorch_matern``: its kernel swapped for ours, Matern-5/2 (same dimension-scaled
  lengthscale prior) inside a ScaleKernel with our signal-variance prior, log-normal(0, 1);
- ``botorch_matern1``: Matern-5/2 alone, no ScaleKernel (the kernel's shape without the signal variance);
- ``botorch_oursearch``: BoTorch's fitted model and qLogEI, the next point chosen by OUR
  acquisition search (``_gp.search.maximize`` with Bayes' settings: 512 Sobol points,
  perturbations of the best 5, one/two-column redraws, 5 L-BFGS-B refinements, the revert of
  indifferent coordinates), then the first candidate not evaluated yet, as ``Bayes`` does;
  categories are searched in our index encoding and scored one-hot;
- ``botorch_ourlsprior`` (the reverse of ``ours_lsmode``): BoTorch's lengthscale prior replaced by
  LogNormal(mu + sd^2, sd), whose mode in lengthscale space is ``exp(mu)``, the point our MAP
  fit is pulled to (9.2 at d=5), and the fit started there;
- ``botorch_zeromean``: BoTorch's learnt constant prior mean replaced by zero, as ours;
- ``botorch_ournoise``: BoTorch's noise prior (log-normal, median e^-4, log-sd 1, floor 1e-4)
  swapped for ours (median 1e-6, log-sd 3, floor 1e-9, started at 1e-6: near-interpolation);
- ``botorch_ourwarp``: our output warp (``_gp.warp.OutputWarp``) applied to the losses before
  BoTorch's Standardize;
- ``botorch_ourinit``: our initial design size, ``min(10, 2d + 1)`` (our Sobol draws are the
  same points: ``SobolStart`` and the BoTorch loop seed scipy's scrambled Sobol identically, so
  this differs from ``botorch_ref`` only where ``2d + 1 < 10``, i.e. rastrigin4);
- ``ours_modestart``: our ``Bayes`` with the GP fit's fresh start at the lengthscale prior's mode
  (BoTorch's starting value) instead of its median (the previous fit still wins when it scores
  better, and only the better start is optimised); ``ours_modemulti``: the same, both starts
  optimised, the better optimum kept (``_gp.gp.MULTI_START``); ``ours_modecold``: always from the
  mode, never warm-started (BoTorch's recipe); ``ours_botfit``: everything of BoTorch's model
  but its kernel (cold fit from the mode, its noise prior, no output warp); ``ours_botmap``: BoTorch's
  MAP objective as it really is (the lengthscale prior as ``ours_lsmode``, the noise prior's mode
  e^-5 likewise), cold fits, no warp: BoTorch's model but for the kernel (Matern-5/2 + signal
  variance against RBF with none); ``ours_botmap1``: that with the signal variance held at 1 (its
  prior's log-sd 1e-3), as BoTorch's kernel has no outputscale; ``ours_botmap2``: that with BoTorch's
  floors (lengthscales >= 0.025, noise >= 1e-4); ``ours_botall``: ``ours_botmap1`` searched by
  ``optimize_acqf`` (our loop dressed as BoTorch's as far as it goes: the kernel stays Matern-5/2);
  ``ours_constmean``: our Bayes with a constant prior mean (BoTorch's ``ConstantMean``), estimated
  by generalised least squares; ``ours_botmap1_cm``: ``ours_botmap1`` with it; ``ours_lsmode_cm``:
  the two together that matter (``ours_lsmode`` + the constant mean), everything else ours; ``botorch_medianstart`` the reverse: BoTorch's fit
  started at the prior's median, as ours;
- ``ours_lsmode``: our lengthscale prior's log-mean moved from ``mu`` to ``mu - sd^2`` (log 0.46 at
  d=5): the objective BoTorch's MAP fit really maximises, since it optimises the lengthscale
  itself (not its log) under the log-normal density, whose mode is ``exp(mu - sd^2)``; ours puts a
  normal on the log, whose mode is ``exp(mu)`` (9.2 at d=5). The fit starts there too;
- ``ours_nowarp`` (``Bayes(warp=False)``: standardised losses only, as BoTorch's), ``ours_botnoise``
  (our noise prior replaced by BoTorch's, log-normal median e^-4, log-sd 1, and started there),
  ``ours_coldfit`` (the GP fit never warm-started from the previous one, as BoTorch's);
- ``ours_botsearch`` (the reverse swap): our ``Bayes`` unchanged (fit, warp, initial design,
  dedupe) except that the next point is chosen by BoTorch's ``optimize_acqf`` (512 raw Sobol
  points, 10 Boltzmann-drawn starts, L-BFGS-B on all of them over the whole box, best first)
  over our log EI as a torch function; integers relaxed and rounded after the search, each
  category combination searched with that column fixed (``fixed_features``).

    nice -n 19 python benchmarks/bo_swap.py --methods botorch_ref --problems styblinski_tang5 --seeds 1
    nice -n 19 python benchmarks/bo_swap.py --methods botorch_oursearch ours_botsearch --jobs 1
    python benchmarks/bo_swap.py --report     # medians and per-seed values beside the suite's rows

The two models on the same data (hyperparameters, predictions, next points): bo_swap_fit.py.

The ``ours_*`` rows of bo_results_swap.jsonl were computed on v33's Bayes (commit fab2c77; run this
script from an export of that commit, PYTHONPATH pointing at it, to reproduce them). On v44 (the
constant mean profiled in the fit, the lengthscale prior's mean at mu - 3) ``_ours`` patches a
different base: ``ours_lsmode`` is then a no-op and ``ours_constmean`` stacks a second constant.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import bo_peers  # noqa: E402
import torchsearch as ts  # noqa: E402
from bo_peers import OneHot  # noqa: E402
from bo_suite import _done, _fmt, run_one  # noqa: E402
from problems import PROBLEMS  # noqa: E402
from torchsearch.schedulers import Bayes  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "bo_results_swap.jsonl")
PROBLEMS_SWAP = ("styblinski_tang5", "rastrigin4", "int_styblinski6", "digits_mlp")
# the rows the swaps are compared with (never written by this script)
BASE_FILES = [os.path.join(HERE, f) for f in
              ("bo_results_suite.jsonl", "bo_results_peers.jsonl", "bo_results_peers_slow.jsonl")]


# -- our encoding <-> BoTorch's one-hot inputs ---------------------------------------------------
def onehot_torch(cols: Any, E: Any) -> Any:
    """Rows of our encoding (``_gp.search.Columns``: categories as an index) as the BoTorch loop's
    inputs (``bo_peers.OneHot``: categories one-hot); differentiable in the ordered columns."""
    import torch

    parts = []
    for j, (kind, size) in enumerate(zip(cols.kinds, cols.sizes)):
        if kind == "cat":
            idx = E[:, j].detach().round().long().clamp(0, size - 1)
            parts.append(torch.nn.functional.one_hot(idx, size).to(E.dtype))
        else:
            parts.append(E[:, j:j + 1])
    return torch.cat(parts, 1)


def _our_search(model: Any, best_f: Any, space: ts.Space, X_params: list[dict[str, Any]], Y: list[float],
                rng: np.random.Generator) -> list[dict[str, Any]]:
    """Candidates (best first) of OUR acquisition search over BoTorch's qLogEI."""
    import torch
    from botorch.acquisition.logei import qLogExpectedImprovement

    from torchsearch.schedulers import bayes as B
    from torchsearch.schedulers._gp.search import maximize
    from torchsearch.schedulers._gp.surrogate import _Encoding

    enc = _Encoding(space)
    cols = enc.cols
    qei = qLogExpectedImprovement(model, best_f=best_f)

    def acq(E: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return qei(onehot_torch(cols, E).unsqueeze(1))

    def acq_grad(E: Any) -> tuple[np.ndarray, np.ndarray]:
        x = torch.as_tensor(np.asarray(E, dtype=float)).clone().requires_grad_(True)
        v = qei(onehot_torch(cols, x).unsqueeze(1))
        (g,) = torch.autograd.grad(v.sum(), x)
        return v.detach().numpy(), g.numpy()

    order = np.argsort(-np.asarray(Y), kind="stable")[:5]
    anchors = np.stack([enc.encode(X_params[i]) for i in order])
    cands, _ = maximize(acq, acq_grad, cols, rng, n_candidates=512, n_restarts=5, anchors=anchors,
                        revert_tol=B.REVERT_TOL, revert_edge=B.REVERT_EDGE, revert_to=anchors[0].astype(float))
    return [enc.decode(e) for e in cands]


def botorch_loop(space: dict[str, ts.Parameter], f: Any, budget: int, seed: int, *, kernel: str = "rbf",
                 search: str = "botorch", init: str = "botorch", init_ls: str = "botorch", noise: str = "botorch",
                 warp: str = "botorch", ls_prior: str = "botorch", mean: str = "botorch") -> None:
    """``bo_peers._botorch`` with one component swappable (the defaults: unchanged, step for step)."""
    import torch
    from botorch.acquisition.logei import qLogExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
    from botorch.optim import optimize_acqf
    from gpytorch.kernels import ScaleKernel
    from gpytorch.mlls import ExactMarginalLogLikelihood
    from gpytorch.priors import LogNormalPrior
    from scipy.stats import qmc

    torch.manual_seed(seed)
    enc = OneHot(space)
    sp = ts.Space(space)
    n_init = min(10, budget) if init == "botorch" else min(10, 2 * len(space) + 1, budget)
    U = qmc.Sobol(len(space), scramble=True, seed=np.random.default_rng(seed)).random(n_init)
    xs = [sp.from_unit(u) for u in U]
    P = list(xs)  # evaluated configurations
    X = [enc.encode(x) for x in xs]
    Y = [-f(x) for x in xs]
    bounds = torch.stack([torch.zeros(enc.d), torch.ones(enc.d)]).double()
    while len(Y) < budget:
        tx = torch.tensor(np.array(X), dtype=torch.float64)
        ty = torch.tensor(Y, dtype=torch.float64).unsqueeze(-1)
        if warp == "ours":  # our output warp on the losses, then BoTorch's Standardize as before
            from torchsearch.schedulers._gp.warp import OutputWarp

            loss = -np.asarray(Y)
            ty = torch.tensor(-OutputWarp(loss)(loss), dtype=torch.float64).unsqueeze(-1)
        kw: dict[str, Any] = {}
        if ls_prior == "ours":  # the MAP prior ours maximises: mode exp(mu) in lengthscale space, started there
            from gpytorch.constraints import GreaterThan
            from gpytorch.kernels import RBFKernel

            mu, sd = math.sqrt(2.0) + 0.5 * math.log(enc.d), math.sqrt(3.0)
            kw["covar_module"] = RBFKernel(ard_num_dims=enc.d, lengthscale_prior=LogNormalPrior(mu + sd * sd, sd),
                                           lengthscale_constraint=GreaterThan(2.5e-2, transform=None,
                                                                              initial_value=math.exp(mu)))
        if noise == "ours":  # our near-interpolation prior: log-normal, median 1e-6, log-sd 3, floor 1e-9
            from gpytorch.constraints import GreaterThan
            from gpytorch.likelihoods import GaussianLikelihood

            kw["likelihood"] = GaussianLikelihood(noise_prior=LogNormalPrior(math.log(1e-6), 3.0),
                                                  noise_constraint=GreaterThan(1e-9, transform=None, initial_value=1e-6))
        if mean == "zero":  # ours: no constant mean (BoTorch learns a ConstantMean)
            from gpytorch.means import ZeroMean

            kw["mean_module"] = ZeroMean()
        if kernel == "matern1":  # Matern-5/2 without an outputscale (the signal variance stays 1)
            kw["covar_module"] = get_covar_module_with_dim_scaled_prior(enc.d, use_rbf_kernel=False)
        if kernel == "matern":
            kw["covar_module"] = ScaleKernel(get_covar_module_with_dim_scaled_prior(enc.d, use_rbf_kernel=False),
                                             outputscale_prior=LogNormalPrior(0.0, 1.0))
        model = SingleTaskGP(tx, ty, outcome_transform=Standardize(m=1), **kw)
        if init_ls == "median":  # the fit starts where ours does: the lengthscale prior's median
            model.covar_module.lengthscale = math.exp(math.sqrt(2.0) + 0.5 * math.log(enc.d))
        try:
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        except Exception:  # noqa: BLE001 - as bo_peers._botorch: a failed fit keeps the initial hyperparameters
            pass
        if search == "ours":
            rng = np.random.default_rng([seed, len(Y)])
            seen = {sp.key(p) for p in P}
            cands = _our_search(model, ty.max(), sp, P, Y, rng)
            x = next((c for c in cands if sp.key(c) not in seen), cands[0])
        else:
            acq = qLogExpectedImprovement(model, best_f=ty.max())
            cand, _ = optimize_acqf(acq, bounds=bounds, q=1, num_restarts=10, raw_samples=512)
            x = sp.clip(enc.decode(cand[0].detach().numpy()))
        P.append(x)
        X.append(enc.encode(x))
        Y.append(-f(x))


# -- the reverse swap: our GP, BoTorch's acquisition optimiser -----------------------------------
class BotSearchBayes(Bayes):
    """``Bayes`` with only ``_search`` replaced by BoTorch's ``optimize_acqf`` over our log EI."""

    def _search(self, state: Any, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        import itertools

        import torch
        from botorch.acquisition import AcquisitionFunction
        from botorch.optim import optimize_acqf

        from torchsearch.schedulers._gp.acquisition import log_ei

        post, _, best = state
        cols = self._enc.cols

        class _LogEI(AcquisitionFunction):  # forward: b x 1 x d -> b
            def __init__(self) -> None:
                torch.nn.Module.__init__(self)

            def forward(self, X: torch.Tensor) -> torch.Tensor:
                x = X.reshape(-1, X.shape[-1])
                m, v = post.mean_var(x)
                return log_ei(m, v, best).reshape(X.shape[:-2])

        d = cols.d
        hi = torch.tensor([float(s - 1) if k == "cat" else 1.0 for k, s in zip(cols.kinds, cols.sizes)],
                          dtype=torch.float64)
        bounds = torch.stack([torch.zeros(d, dtype=torch.float64), hi])
        cat = [j for j, k in enumerate(cols.kinds) if k == "cat"]
        combos = list(itertools.product(*[range(cols.sizes[j]) for j in cat])) or [()]
        torch.manual_seed(int(rng.integers(2**31)))
        acq = _LogEI()
        C, V = [], []
        for combo in combos:
            fixed = {j: float(c) for j, c in zip(cat, combo)} or None
            cand, val = optimize_acqf(acq, bounds=bounds, q=1, num_restarts=10, raw_samples=512,
                                      fixed_features=fixed, return_best_only=False)
            C.append(cand.detach().reshape(-1, d).numpy())
            V.append(val.detach().reshape(-1).numpy())
        E, v = cols.snap(np.concatenate(C)), np.concatenate(V)
        with torch.no_grad():  # the values of the snapped points (integers rounded)
            v = acq(torch.from_numpy(E).unsqueeze(1)).numpy()
        order = np.argsort(-v, kind="stable")
        return E[order], v[order]


def _ours_botsearch(space: dict[str, ts.Parameter], f: Any, budget: int, seed: int) -> None:
    ts.optimize(f, space, scheduler=BotSearchBayes(seed=seed), n_trials=budget, seed=seed)


class ColdFitBayes(Bayes):
    """``Bayes`` whose GP fit starts afresh every time (BoTorch refits from its initial values;
    ours warm-starts from the previous fit when that scores better)."""

    def _fit(self, rng: np.random.Generator) -> Any:
        self._theta = None
        return super()._fit(rng)


class ConstMeanBayes(Bayes):
    """``Bayes`` with a constant prior mean instead of zero (BoTorch's ``SingleTaskGP`` learns a
    ``ConstantMean``): the GP is fitted to the standardised losses minus ``c``, the generalised
    least-squares constant under a first fit's kernel, and refitted (EI's threshold moves with it)."""

    _c = 0.0

    def _targets(self, y: np.ndarray) -> Any:
        warp, ys = super()._targets(y)
        return warp, ys - self._c

    def _fit(self, rng: np.random.Generator) -> Any:
        import torch

        from torchsearch.schedulers._gp.gp import Posterior, fit_hyperparameters

        self._c = 0.0
        numbers, y = self._training()
        X = torch.from_numpy(np.stack([self._rows[n] for n in numbers]))
        ys = torch.from_numpy(self._targets(y)[1])
        cat = torch.from_numpy(self._enc.cols.mask("cat"))
        theta = fit_hyperparameters(X, ys, cat, init=self._theta)
        L = Posterior(X, ys, torch.from_numpy(theta), cat).L
        ki1 = torch.cholesky_solve(torch.ones(len(ys), 1, dtype=ys.dtype), L).squeeze(-1)
        self._c, self._theta = float(ki1 @ ys / ki1.sum()), theta
        return super()._fit(rng)


class ColdConstMeanBayes(ColdFitBayes, ConstMeanBayes):
    """Cold fits (BoTorch's) and a constant prior mean."""


class ColdBotSearchBayes(ColdFitBayes, BotSearchBayes):
    """Cold fits and BoTorch's ``optimize_acqf`` as the search."""


def _bot_bounds(d: int) -> list[tuple[float, float]]:
    """BoTorch's floors: lengthscales >= 0.025, noise variance >= 1e-4 (ours: 1e-3 and 1e-9)."""
    return [(math.log(0.025), math.log(1e3))] * d + [(math.log(1e-3), math.log(1e2)), (math.log(1e-4), 0.0)]


_BOTMAP = {"_ls_prior": lambda d, _p=None: (math.sqrt(2.0) + 0.5 * math.log(d) - 3.0, math.sqrt(3.0)),
           "_NOISE_PRIOR": (-5.0, 1.0)}


def _ours(make: Any = Bayes, patch: dict[str, Any] | None = None, mode: bool = False, **kw: Any) -> Any:
    """Our Bayes (``make(seed=..., **kw)``) with attributes of ``_gp.gp`` set for the run only;
    ``mode``: the GP fit's fresh start has the lengthscale prior's mode ``exp(mu - sd^2)``
    (BoTorch's initial value, 0.46 at d=5) instead of its median ``exp(mu)`` (9.2 at d=5)."""
    from torchsearch.schedulers._gp import gp

    def mode_theta(d: int, _orig: Any = gp.default_theta) -> np.ndarray:
        t = _orig(d)
        mu, sd = gp._ls_prior(d)
        t[:d] = mu - sd * sd
        return t

    patch = {**(patch or {}), **({"default_theta": mode_theta} if mode else {})}

    def run(space: dict[str, ts.Parameter], f: Any, budget: int, seed: int) -> None:
        old = {k: getattr(gp, k) for k in patch}
        for k, v in patch.items():
            setattr(gp, k, v)
        gp._PRIORS.clear()
        try:
            ts.optimize(f, space, scheduler=make(seed=seed, **kw), n_trials=budget, seed=seed)
        finally:
            for k, v in old.items():
                setattr(gp, k, v)
            gp._PRIORS.clear()
    return run


def _loop(**kw: str) -> Any:
    def run(space: dict[str, ts.Parameter], f: Any, budget: int, seed: int) -> None:
        botorch_loop(space, f, budget, seed, **kw)
    return run


SWAPS = {
    "botorch_ref": _loop(),
    "botorch_matern": _loop(kernel="matern"),
    "botorch_matern1": _loop(kernel="matern1"),
    "botorch_oursearch": _loop(search="ours"),
    "botorch_ourinit": _loop(init="ours"),
    "ours_botsearch": _ours_botsearch,
    "ours_modestart": _ours(mode=True),
    "ours_modemulti": _ours(mode=True, patch={"MULTI_START": True}),
    "ours_modecold": _ours(ColdFitBayes, mode=True),
    "ours_lsmode": _ours(patch={"_ls_prior": lambda d, _p=None: (math.sqrt(2.0) + 0.5 * math.log(d) - 3.0, math.sqrt(3.0))}),
    "ours_botfit": _ours(ColdFitBayes, mode=True, patch={"_NOISE_PRIOR": (-4.0, 1.0)}, warp=False),
    "ours_botmap": _ours(ColdFitBayes, warp=False, patch=_BOTMAP),
    "ours_botmap1": _ours(ColdFitBayes, warp=False, patch={**_BOTMAP, "_SCALE_PRIOR": (0.0, 1e-3)}),
    "ours_botmap2": _ours(ColdFitBayes, warp=False, patch={**_BOTMAP, "_SCALE_PRIOR": (0.0, 1e-3),
                                                            "theta_bounds": _bot_bounds}),
    "ours_constmean": _ours(ConstMeanBayes),
    "ours_lsmode_cm": _ours(ConstMeanBayes, patch={"_ls_prior": _BOTMAP["_ls_prior"]}),
    "ours_botmap1_cm": _ours(ColdConstMeanBayes, warp=False, patch={**_BOTMAP, "_SCALE_PRIOR": (0.0, 1e-3)}),
    "ours_botall": _ours(ColdBotSearchBayes, warp=False, patch={**_BOTMAP, "_SCALE_PRIOR": (0.0, 1e-3)}),
    "botorch_medianstart": _loop(init_ls="median"),
    "botorch_ournoise": _loop(noise="ours"),
    "botorch_zeromean": _loop(mean="zero"),
    "botorch_ourlsprior": _loop(ls_prior="ours"),
    "botorch_ourwarp": _loop(warp="ours"),
    "ours_nowarp": _ours(warp=False),
    "ours_botnoise": _ours(patch={"_NOISE_PRIOR": (-4.0, 1.0)}),
    "ours_coldfit": _ours(ColdFitBayes),
}
for _m, _fn in SWAPS.items():  # run_one looks methods up in bo_peers.METHODS
    bo_peers.METHODS[_m] = ("botorch", _fn)


def _job(job: tuple[str, str, int]) -> dict[str, Any]:
    return run_one(job)


# -- report ------------------------------------------------------------------------------------
def load(paths: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in paths:
        if os.path.exists(path):
            with open(path) as fh:
                rows += [json.loads(line) for line in fh if line.strip()]
    return rows


def per_seed(rows: list[dict[str, Any]], problems: list[str], seeds: int) -> dict[tuple[str, str], dict[int, float]]:
    """(problem, method) -> seed -> final regret, seeds below ``seeds``; digits_mlp (no known
    optimum) relative to the lowest value any of these rows reached (as the suite's report)."""
    reg = [r for r in rows if r.get("kind") == "regret" and not r.get("error") and r["problem"] in problems
           and r["seed"] < seeds]
    ref = {p: min((r["best"] for r in reg if r["problem"] == p), default=math.nan) for p in problems}
    out: dict[tuple[str, str], dict[int, float]] = {}
    for r in reg:
        v = r["regret"] if r["regret"] is not None else max(r["best"] - ref[r["problem"]], 0.0)
        out.setdefault((r["problem"], r["method"]), {})[r["seed"]] = v
    return out


def report(rows: list[dict[str, Any]], problems: list[str], seeds: int) -> str:
    S = per_seed(rows, problems, seeds)
    methods = ["bayes", "botorch", *SWAPS]
    methods = [m for m in methods if any((p, m) in S for p in problems)]
    lines = ["Median final regret [per seed 0..] (n seeds):", "",
             "| problem | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for p in problems:
        cells = []
        for m in methods:
            v = S.get((p, m))
            cells.append(f"{_fmt(statistics.median(v.values()))} n={len(v)}" if v else "-")
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    lines += ["", "Per seed:"]
    for p in problems:
        for m in methods:
            v = S.get((p, m))
            if v:
                lines.append(f"  {p:18s} {m:18s} " + " ".join(f"{s}:{_fmt(v[s])}" for s in sorted(v)))
    if "digits_mlp" in problems:
        ref = min((r["best"] for r in rows if r.get("kind") == "regret" and r["problem"] == "digits_mlp"),
                  default=math.nan)
        lines.append(f"\ndigits_mlp: relative to the lowest validation loss in these rows, {ref:.4f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--methods", nargs="+", choices=list(SWAPS), default=list(SWAPS))
    ap.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS_SWAP))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--report", action="store_true", help="print medians and per-seed regrets and exit")
    args = ap.parse_args(argv)
    if args.report:
        print(report(load([*BASE_FILES, args.out]), args.problems, args.seeds))
        return 0
    done = _done(args.out)
    todo = [(p, m, s) for s in range(args.seeds) for m in args.methods for p in args.problems
            if (p, m, s) not in done]
    print(f"# {len(todo)} runs to do, {args.jobs} processes", file=sys.stderr)
    with open(args.out, "a") as out:
        if args.jobs > 1:
            import multiprocessing as mp

            pool = mp.get_context("spawn").Pool(args.jobs)
            it = pool.imap_unordered(_job, todo)
        else:
            it = map(_job, todo)
        for row in it:
            out.write(json.dumps(row) + "\n")
            out.flush()
            reg = row["regret"] if row["regret"] is not None else row["best"]
            print(f"{row['problem']:18s} {row['method']:18s} seed={row['seed']} regret={reg:.6g} best={row['best']!r} "
                  f"({row['seconds']:.1f}s){' ' + row['error'] if row['error'] else ''}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
