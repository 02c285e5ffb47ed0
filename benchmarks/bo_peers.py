"""The methods of the BO suite (benchmarks/bo_suite.py): ours and the peers, one adapter each.

An adapter runs one method on one problem for ``budget`` evaluations of ``f`` (the objective
the method sees, noisy or not) and returns nothing: the caller wraps ``f`` to record every
evaluated configuration. Every adapter uses the library's defaults as a user would, with the
seed given:

- ours: ``ts.optimize(f, space, scheduler=..., n_trials=budget, seed=seed)`` with Bayes,
  Random, ``Random(sobol=True)`` and TPE (when ``torchsearch.schedulers.TPE`` exists);
- Optuna 5 ``GPSampler(seed=seed)`` and ``TPESampler(seed=seed)`` (10 random start-up trials);
- scikit-optimize ``gp_minimize(n_calls=budget, random_state=seed)`` (10 initial points,
  ``gp_hedge``);
- BoTorch: the standard closed loop of its tutorials: 10 scrambled Sobol points, then each
  step ``SingleTaskGP`` (its default priors, ``Standardize`` outcome), ``fit_gpytorch_mll``,
  ``qLogExpectedImprovement`` (q=1), ``optimize_acqf(num_restarts=10, raw_samples=512)``.
  Inputs are the unit cube of our space (log scales as log, integers and powers of two
  rounded after the acquisition search, as a user would do), categories one-hot
  (argmax after the search); the GP is fitted on the rounded points actually evaluated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import torchsearch as ts
from torchsearch.schedulers import Bayes, Random

Params = dict[str, Any]
Objective = Callable[[Params], float]
Space = dict[str, ts.Parameter]


def _ours(make: Callable[[int], Any]) -> Callable[[Space, Objective, int, int], None]:
    def run(space: Space, f: Objective, budget: int, seed: int) -> None:
        ts.optimize(f, space, scheduler=make(seed), n_trials=budget, seed=seed)
    return run


def _tpe_ours(seed: int) -> Any:
    from torchsearch.schedulers import TPE  # type: ignore[attr-defined]

    return TPE(seed=seed)


def optuna_suggest(trial: Any, space: Space) -> Params:
    out = {}
    for n, p in space.items():
        if isinstance(p, ts.Float):
            out[n] = trial.suggest_float(n, p.low, p.high, log=p.log)
        elif isinstance(p, ts.Int):
            out[n] = trial.suggest_int(n, p.low, p.high, log=p.log, step=p.step)
        elif isinstance(p, ts.PowerOfTwo):
            out[n] = 2 ** trial.suggest_int(n, p.low.bit_length() - 1, p.high.bit_length() - 1)
        elif isinstance(p, ts.Choice):
            out[n] = trial.suggest_categorical(n, p.values)
        else:
            raise TypeError(f"no Optuna mapping for {p!r}")
    return out


def _optuna(kind: str) -> Callable[[Space, Objective, int, int], None]:
    def run(space: Space, f: Objective, budget: int, seed: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=seed) if kind == "tpe" else optuna.samplers.GPSampler(seed=seed)
        study = optuna.create_study(sampler=sampler)
        study.optimize(lambda t: f(optuna_suggest(t, space)), n_trials=budget)
    return run


def skopt_dims(space: Space) -> list[Any]:
    from skopt.space import Categorical, Integer, Real

    dims = []
    for n, p in space.items():
        if isinstance(p, ts.Float):
            dims.append(Real(p.low, p.high, prior="log-uniform" if p.log else "uniform", name=n))
        elif isinstance(p, ts.Int):
            dims.append(Integer(p.low, p.high, name=n))
        elif isinstance(p, ts.PowerOfTwo):
            dims.append(Integer(p.low.bit_length() - 1, p.high.bit_length() - 1, name=n))
        elif isinstance(p, ts.Choice):
            dims.append(Categorical(p.values, name=n))
    return dims


def _skopt(space: Space, f: Objective, budget: int, seed: int) -> None:
    from skopt import gp_minimize

    names = list(space)
    pow2 = {n for n, p in space.items() if isinstance(p, ts.PowerOfTwo)}

    def g(x: list[Any]) -> float:
        return f({n: (2 ** int(v) if n in pow2 else (v.item() if hasattr(v, "item") else v)) for n, v in zip(names, x)})

    gp_minimize(g, skopt_dims(space), n_calls=budget, random_state=seed)


class OneHot:
    """Our space as BoTorch inputs: one unit column per ordered parameter, one-hot for categories."""

    def __init__(self, space: Space) -> None:
        self.space = space
        self.width = {n: (p.cardinality if isinstance(p, ts.Choice) else 1) for n, p in space.items()}
        self.d = sum(self.width.values())

    def encode(self, params: Params) -> np.ndarray:
        row: list[float] = []
        for n, p in self.space.items():
            if isinstance(p, ts.Choice):
                hot = [0.0] * p.cardinality
                hot[p.index(params[n])] = 1.0
                row += hot
            else:
                row.append(p.to_unit(params[n]))
        return np.array(row)

    def decode(self, z: np.ndarray) -> Params:
        out, j = {}, 0
        for n, p in self.space.items():
            w = self.width[n]
            out[n] = p.values[int(np.argmax(z[j:j + w]))] if isinstance(p, ts.Choice) else p.from_unit(float(z[j]))
            j += w
        return out


def _botorch(space: Space, f: Objective, budget: int, seed: int) -> None:
    import torch
    from botorch.acquisition.logei import qLogExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim import optimize_acqf
    from gpytorch.mlls import ExactMarginalLogLikelihood
    from scipy.stats import qmc

    torch.manual_seed(seed)
    enc = OneHot(space)
    sp = ts.Space(space)
    U = qmc.Sobol(len(space), scramble=True, seed=np.random.default_rng(seed)).random(min(10, budget))
    xs = [sp.from_unit(u) for u in U]
    X = [enc.encode(x) for x in xs]
    Y = [-f(x) for x in xs]
    bounds = torch.stack([torch.zeros(enc.d), torch.ones(enc.d)]).double()
    while len(Y) < budget:
        tx = torch.tensor(np.array(X), dtype=torch.float64)
        ty = torch.tensor(Y, dtype=torch.float64).unsqueeze(-1)
        model = SingleTaskGP(tx, ty, outcome_transform=Standardize(m=1))
        try:
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        except Exception:  # noqa: BLE001 - a failed fit keeps the initial hyperparameters, as in the tutorials
            pass
        acq = qLogExpectedImprovement(model, best_f=ty.max())
        cand, _ = optimize_acqf(acq, bounds=bounds, q=1, num_restarts=10, raw_samples=512)
        x = sp.clip(enc.decode(cand[0].detach().numpy()))
        X.append(enc.encode(x))
        Y.append(-f(x))


METHODS: dict[str, tuple[str | None, Callable[[Space, Objective, int, int], None]]] = {
    "bayes": (None, _ours(lambda s: Bayes(seed=s))),
    "random": (None, _ours(lambda s: Random(seed=s))),
    "sobol": (None, _ours(lambda s: Random(sobol=True, seed=s))),
    "ts_tpe": ("torchsearch.schedulers.TPE", _ours(_tpe_ours)),
    "gp": ("optuna", _optuna("gp")),
    "tpe": ("optuna", _optuna("tpe")),
    "skopt": ("skopt", _skopt),
    "botorch": ("botorch", _botorch),
}
LABELS = {"bayes": "ts Bayes", "random": "ts Random", "sobol": "ts Sobol", "ts_tpe": "ts TPE",
          "gp": "Optuna GP", "tpe": "Optuna TPE", "skopt": "skopt GP", "botorch": "BoTorch qLogEI"}
PEERS = ("gp", "tpe", "skopt", "botorch")  # the other libraries


def available(method: str) -> bool:
    module = METHODS[method][0] if method in METHODS else None
    if module is None:
        return True
    try:
        if module == "torchsearch.schedulers.TPE":
            from torchsearch.schedulers import TPE  # type: ignore[attr-defined]  # noqa: F401
        else:
            __import__(module)
    except ImportError:
        return False
    return True
