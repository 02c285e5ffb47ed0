"""BoTorch's GP and ours on the same data (issue 12, seventh session; the swaps are bo_swap.py).

``--predict``: each GP fitted to the first n of 64 scrambled Sobol points (seed 0) of a suite
problem, scored on 2,000 uniform test points: RMSE of the standardised objective and the mean
negative log predictive density (NLPD, noise included), with the fitted lengthscales (unit cube)
and noise. Our GP under its own priors and under BoTorch's priors as BoTorch's MAP fit really
weighs them (it optimises the lengthscale and the noise variance themselves under log-normal
densities, so its MAP is pulled to their modes, ``exp(mu - sd^2)``: 0.46 for the lengthscales at
d=5, e^-5 = 0.0067 for the noise; ours puts normals on the logs, pulled to ``exp(mu)``: 9.2 and 1e-6).

``--hyper``: both GPs on the first n points of a BoTorch run: lengthscales, noise, and where each
(model, search) pair puts the next point.

    nice -n 10 python benchmarks/bo_swap_fit.py --predict styblinski_tang5 rastrigin4 int_styblinski6
    nice -n 19 python benchmarks/bo_swap_fit.py --hyper styblinski_tang5 --sizes 30 60
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import torchsearch as ts  # noqa: E402
from bo_peers import OneHot  # noqa: E402
from bo_swap import BotSearchBayes, _our_search, botorch_loop  # noqa: E402
from problems import PROBLEMS  # noqa: E402
from torchsearch.schedulers import Bayes  # noqa: E402

def _botorch_fit(P: list[dict[str, Any]], Y: list[float], space: dict[str, ts.Parameter]) -> Any:
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    enc = OneHot(space)
    tx = torch.tensor(np.array([enc.encode(p) for p in P]), dtype=torch.float64)
    ty = torch.tensor(Y, dtype=torch.float64).unsqueeze(-1)
    model = SingleTaskGP(tx, ty, outcome_transform=Standardize(m=1))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model, ty.max()


def hyper(problem: str = "styblinski_tang5", seed: int = 0, sizes: tuple[int, ...] = (30, 60)) -> str:
    """Fit BoTorch's GP and ours to the first n points of a BoTorch run; print each model's
    hyperparameters and, for each (model, search) pair, where the next point lands and the
    objective's noise-free value there."""
    import torch
    from botorch.acquisition.logei import qLogExpectedImprovement
    from botorch.optim import optimize_acqf

    pb = PROBLEMS[problem]
    f = pb.objective(seed)
    P: list[dict[str, Any]] = []

    def rec(p: dict[str, Any]) -> float:
        P.append(p)
        return f(p)

    botorch_loop(pb.space, rec, max(sizes), seed)
    sp, enc = ts.Space(pb.space), OneHot(pb.space)
    lines = [f"{problem} seed {seed}: the first n points of the BoTorch loop's run; regret of the best of them, "
             "lengthscales (unit cube), noise / signal variance (standardised units), and the next point's regret "
             "for each model x search"]
    for n in sizes:
        Pn = P[:n]
        Yn = [-f(p) for p in Pn]  # the noise-free suite objectives: f is deterministic here
        best = min(pb.true(p) for p in Pn) - pb.optimum
        model, best_f = _botorch_fit(Pn, Yn, pb.space)
        ls = model.covar_module.lengthscale.detach().reshape(-1).numpy()
        noise = float(model.likelihood.noise.detach().reshape(-1)[0])
        torch.manual_seed(seed)
        cand, _ = optimize_acqf(qLogExpectedImprovement(model, best_f=best_f), bounds=torch.stack(
            [torch.zeros(enc.d), torch.ones(enc.d)]).double(), q=1, num_restarts=10, raw_samples=512)
        bb = sp.clip(enc.decode(cand[0].detach().numpy()))
        bo = _our_search(model, best_f, sp, Pn, Yn, np.random.default_rng([seed, n]))[0]
        picks = {}
        for name, cls in (("ours", Bayes), ("ours_botsearch", BotSearchBayes)):
            sch = cls(seed=seed)
            sch.setup(sp, mode="min")
            for i, p in enumerate(Pn):
                sch.on_trial_start(i, p)
                sch.on_complete(i, -Yn[i], "completed")
            picks[name] = sch.suggest()
        theta = sch._theta
        d = len(pb.space)
        lines += [f"\nn={n}: best so far {best:.4g}",
                  f"  BoTorch GP: lengthscales {np.array2string(ls, precision=3)}, noise {noise:.3g} (RBF, no outputscale)",
                  f"  our GP:     lengthscales {np.array2string(np.exp(theta[:d]), precision=3)}, "
                  f"noise {np.exp(theta[d + 1]):.3g}, signal variance {np.exp(theta[d]):.3g} (Matern-5/2)"]
        for label, p in (("BoTorch GP + optimize_acqf", bb), ("BoTorch GP + our search", bo),
                         ("our GP + our search", picks["ours"]), ("our GP + optimize_acqf", picks["ours_botsearch"])):
            u = np.array([sp[k].to_unit(v) for k, v in p.items()])
            lines.append(f"  {label:28s} regret there {pb.true(p) - pb.optimum:9.4g}   at unit "
                         f"{np.array2string(u, precision=3)}")
    return "\n".join(lines)


# our GP's variants: (label, lengthscale prior's log-mean shift, noise prior or None for ours)
VARIANTS = (("ours", 0.0, None), ("ours, BoTorch's noise prior as written", 0.0, (-4.0, 1.0)),
            ("ours, BoTorch's ls prior as its MAP weighs it", -3.0, None),
            ("ours, BoTorch's ls + noise priors as weighed", -3.0, (-5.0, 1.0)))


def _scores(m: Any, v: Any, z: Any) -> tuple[float, float]:
    import torch

    rmse = float(((m - z) ** 2).mean().sqrt())
    nlpd = float((0.5 * torch.log(2 * math.pi * v) + 0.5 * (m - z) ** 2 / v).mean())
    return rmse, nlpd


def predict(problem: str, sizes: tuple[int, ...] = (12, 30, 60)) -> str:
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood
    from scipy.stats import qmc

    from torchsearch.schedulers._gp import gp

    pb = PROBLEMS[problem]
    sp, d, f = ts.Space(pb.space), len(pb.space), pb.objective(0)
    U = qmc.Sobol(d, scramble=True, seed=np.random.default_rng(0)).random(64)
    Ut = np.random.default_rng(1).random((2000, d))
    yt = np.array([f(sp.from_unit(u)) for u in Ut])
    cat = torch.zeros(d, dtype=torch.bool)
    lines = [f"{problem}: fitted on n Sobol points, scored on 2000 uniform points (standardised units)"]
    for n in sizes:
        X = torch.tensor(U[:n])
        y = np.array([f(sp.from_unit(u)) for u in U[:n]])
        ys, zt = (torch.tensor((a - y.mean()) / y.std()) for a in (y, yt))
        lines.append(f"n={n}")
        for label, shift, noise in VARIANTS:
            orig = gp._ls_prior
            gp._ls_prior = lambda k, _o=orig, _s=shift: (_o(k)[0] + _s, _o(k)[1])
            gp._PRIORS.clear()
            try:
                th = gp.fit_hyperparameters(X, ys, cat, noise_prior=noise)
            finally:
                gp._ls_prior = orig
                gp._PRIORS.clear()
            with torch.no_grad():
                m, v = gp.Posterior(X, ys, torch.tensor(th), cat).mean_var(torch.tensor(Ut))
            rmse, nlpd = _scores(m, v + math.exp(th[d + 1]), zt)
            lines.append(f"  {label:46s} RMSE {rmse:.3f} NLPD {nlpd:7.3f} noise {math.exp(th[d + 1]):.2g} "
                         f"ls {np.array2string(np.exp(th[:d]), precision=2)}")
        model = SingleTaskGP(X, ys.unsqueeze(-1), outcome_transform=Standardize(m=1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        with torch.no_grad():
            post = model.posterior(torch.tensor(Ut), observation_noise=True)
        rmse, nlpd = _scores(post.mean.squeeze(-1), post.variance.squeeze(-1), zt)
        lines.append(f"  {'BoTorch SingleTaskGP':46s} RMSE {rmse:.3f} NLPD {nlpd:7.3f} "
                     f"noise {float(model.likelihood.noise):.2g} "
                     f"ls {np.array2string(model.covar_module.lengthscale.detach().numpy().ravel(), precision=2)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--predict", nargs="+", choices=list(PROBLEMS), default=None)
    ap.add_argument("--hyper", choices=list(PROBLEMS), default=None)
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    for p in args.predict or []:
        print(predict(p, tuple(args.sizes or (12, 30, 60))))
    if args.hyper:
        print(hyper(args.hyper, 0, tuple(args.sizes or (30, 60))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
