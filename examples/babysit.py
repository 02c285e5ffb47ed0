"""Babysit a study on scikit-learn's 8x8 digits (no download): look, note, zoom, warm-start, queue.

    python examples/babysit.py                          # about two minutes on 2 CPU cores
    python examples/babysit.py --storage runs/babysit   # keep the studies (default: a temporary folder)
    python examples/babysit.py --tiny                   # a few seconds: the smoke test's budget

What a person does by hand, with the study doing the bookkeeping:

1. a first, wide random search (study ``wide``);
2. reopen it from storage with ``ts.load_study`` (no TrialModule needed to read it), as you
   would the next morning, and write down what you see with ``study.note``;
3. see which knobs mattered (``ts.importance``, drawn by ``torchsearch.plot.importance``);
4. narrow the ranges around the best quarter (``ts.zoom``) and run Bayesian optimisation
   there, warm-started with the wide study's trials that lie inside the zoomed space
   (study ``zoomed``);
5. queue a trial of your own (``study.enqueue``, or ``torchsearch enqueue`` from a shell):
   the next run of the study runs it first, and it is recorded as queued by hand.

Afterwards: ``torchsearch trials FOLDER --study zoomed`` or ``torchsearch dashboard FOLDER``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

import torchsearch as ts
from torchsearch.schedulers import Bayes, Random

sys.path.insert(0, str(Path(__file__).resolve().parent))
from digits import SPACE, DigitsMLP  # noqa: E402 - the same model and space as examples/digits.py


def _show_space(space: ts.Space) -> str:
    return "; ".join(f"{name} {p!r}" for name, p in space.items())


def main(argv: list[str] | None = None) -> dict[str, ts.Study]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--storage", default=None, help="folder for both studies (default: a new temporary folder)")
    p.add_argument("--wide-trials", type=int, default=12, help="trials of the first, wide search (default 12)")
    p.add_argument("--zoomed-trials", type=int, default=8, help="trials of the zoomed Bayes search (default 8)")
    p.add_argument("--epochs", type=int, default=6, help="epochs per trial (default 6)")
    p.add_argument("--tiny", action="store_true", help="4 + 3 trials of 1 epoch (a smoke test)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.tiny:
        args.wide_trials, args.zoomed_trials, args.epochs = 4, 3, 1
    folder = Path(args.storage or tempfile.mkdtemp(prefix="torchsearch-babysit-"))
    t0 = time.perf_counter()

    # 1. a wide random search
    print(f"== 1. a wide random search: {args.wide_trials} trials x {args.epochs} epochs, stored in {folder}")
    ts.tune(DigitsMLP, SPACE, scheduler=Random(seed=args.seed), metric="accuracy", mode="max", epochs=args.epochs,
            n_trials=args.wide_trials, storage=folder, name="wide", seed=args.seed, verbose=False)

    # 2. reopen it as stored (space, metric, mode and seed come from storage), look, take notes
    wide = ts.load_study(folder, "wide", verbose=False)
    ranked = sorted((t for t in wide.trials if t.has_value()), key=lambda t: -t.value)  # type: ignore[operator]
    print(f"== 2. reopened study {wide.name!r}: {len(wide.trials)} trials, best accuracy {ranked[0].value:.4f}")
    for t in ranked[:3]:
        print(f"   trial {t.number}: {t.value:.4f}  {t.params}")
    best, worst = ranked[0], ranked[-1]
    wide.note(best.number, f"best of the wide search ({best.value:.4f}): lr {best.params['lr']:.3g}, "
                           f"{best.params['activation']}")
    wide.note(worst.number, f"worst ({worst.value:.4f}): lr {worst.params['lr']:.3g} - too far off?")

    # 3. what mattered (fANOVA over the wide study's trials)
    shares = ts.importance(wide, seed=args.seed)
    print("== 3. importance: " + ", ".join(f"{k} {v:.2f}" for k, v in shares.items()))
    try:
        from torchsearch import plot

        fig = plot.importance(shares)
        fig.savefig(folder / "importance.png", dpi=80)
        print(f"   drawn in {folder / 'importance.png'}")
    except ImportError:  # matplotlib is optional (pip install "torchsearch[plot]")
        print("   (install matplotlib to draw it)")

    # 4. zoom in on the best quarter, Bayes there, warm-started with the wide study's trials inside it
    zoomed_space = ts.zoom(wide, top=0.25)
    print(f"== 4. zoomed space: {_show_space(zoomed_space)}")
    zoomed = ts.tune(DigitsMLP, zoomed_space, scheduler=Bayes(seed=args.seed), metric="accuracy", mode="max",
                     epochs=args.epochs, n_trials=args.zoomed_trials, storage=folder, name="zoomed", seed=args.seed,
                     warm_start=wide, verbose=False)
    n_warm = len(zoomed.warm_observations)
    print(f"   {n_warm} trial{'s' if n_warm != 1 else ''} of the wide study taught Bayes first; best of the zoomed "
          f"study: {zoomed.best_trial.value:.4f} (trial {zoomed.best_trial.number})")

    # 5. a trial of my own: the zoomed best with half its learning rate (clipped to the zoomed range)
    mine = dict(zoomed.best_trial.params)
    mine["lr"] = zoomed_space["lr"].clip(mine["lr"] / 2)
    again = ts.load_study(folder, "zoomed", verbose=False)
    again.enqueue(mine)
    print(f"== 5. queued by hand: {again.queued()[0]['params']}")
    zoomed = ts.tune(DigitsMLP, zoomed_space, scheduler=Bayes(seed=args.seed), metric="accuracy", mode="max",
                     epochs=args.epochs, n_trials=args.zoomed_trials, storage=folder, name="zoomed", seed=args.seed,
                     warm_start=wide, verbose=False)  # same command: n_trials is reached, the queued trial runs
    manual = zoomed.trials[-1]
    zoomed.note(manual.number, f"my guess (half the lr): {manual.value:.4f} against {zoomed.best_trial.value:.4f}")
    print(f"   trial {manual.number} (queued={manual.queued}): accuracy {manual.value:.4f}")

    print(f"\nboth studies in {folder} ({time.perf_counter() - t0:.0f}s); look at them with:\n"
          f"  torchsearch trials {folder} --study zoomed\n  torchsearch dashboard {folder}")
    return {"wide": ts.load_study(folder, "wide"), "zoomed": zoomed}


if __name__ == "__main__":
    torch.set_num_threads(max(1, torch.get_num_threads()))
    main()
