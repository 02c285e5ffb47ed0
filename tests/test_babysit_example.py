"""examples/babysit.py runs end to end on a tiny budget and leaves what it says it does."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torchsearch as ts

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "babysit.py"


def _load():
    spec = importlib.util.spec_from_file_location("babysit_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_babysit_example_notes_zooms_warm_starts_and_runs_the_queued_trial(tmp_path, capsys):
    studies = _load().main(["--tiny", "--storage", str(tmp_path)])
    out = capsys.readouterr().out
    wide, zoomed = ts.load_study(tmp_path, "wide"), ts.load_study(tmp_path, "zoomed")
    assert len(wide.trials) == 4 and sum(len(t.notes) for t in wide.trials) == 2
    assert wide.trials[wide.best_trial.number].notes[0]["text"].startswith("best of the wide search")
    # the zoomed study: Bayes on a narrower space, taught by the wide study, then the hand-queued trial
    assert len(zoomed.trials) == 4 and [t.queued for t in zoomed.trials] == [False, False, False, True]
    assert len(studies["zoomed"].warm_observations) >= 1
    for t in zoomed.trials:  # the zoomed space lies inside the wide one
        assert zoomed.space.validate(t.params) == t.params and wide.space.validate(t.params) == t.params
    assert zoomed.space != wide.space
    manual = zoomed.trials[-1]
    assert manual.notes and manual.notes[0]["text"].startswith("my guess (half the lr)")
    assert "== 5. queued by hand:" in out and f"trial {manual.number} (queued=True)" in out
    if "matplotlib" in sys.modules or importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "importance.png").stat().st_size > 0
