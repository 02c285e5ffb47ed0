"""bo_compare: two Bayes variants compared on the seeds both have, with the suite's tie rule."""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bo_compare import compare  # noqa: E402


def test_compare_counts_lower_tied_higher_on_common_seeds_and_the_geometric_mean():
    S = {("a", "base"): {0: 1.0, 1: 1.0, 2: 1.0}, ("a", "new"): {0: 0.5, 1: 0.5},  # lower, 2 common seeds
         ("b", "base"): {0: 2.0}, ("b", "new"): {0: 2.05, 1: 99.0},                 # tied (within 5%) on seed 0
         ("c", "base"): {0: 1.0}, ("c", "new"): {0: 4.0}}                           # higher
    lines = compare(S, "base", ["new"], ["a", "b", "c"])
    summary = lines[-1]
    assert "1 lower / 1 tied / 1 higher medians over 3 problems" in summary
    gm = math.exp((math.log(0.5) + math.log(2.05 / 2.0) + math.log(4.0)) / 3)
    assert f"geometric mean ratio {gm:.2f}" in summary
    assert "(n=2: 0.5 0.5)" in lines[2]  # problem a, compared on seeds 0 and 1 only
