"""benchmarks/pruning_targets: both readings of "median over seeds" and the verdict's reading."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from pruning_targets import compare, line, target_lines  # noqa: E402


def test_the_two_readings_can_disagree_and_the_verdict_is_the_paired_one():
    # ours ties the reference on 3 seeds of 5 and loses twice by a lot; the reference's median is
    # higher than ours: paired median 0 (PASS), difference of medians < 0 (FAIL)
    ref = {0: 0.90, 1: 0.91, 2: 0.92, 3: 0.95, 4: 0.96}
    ours = {0: 0.90, 1: 0.91, 2: 0.92, 3: 0.80, 4: 0.81}
    c = compare(ours, ref)
    assert c["paired"] == 0.0 and c["medians"] == pytest.approx(0.90 - 0.92)
    assert (c["wins"], c["ties"], c["losses"]) == (0, 3, 2)
    text = line("X >= Y", c)
    assert "median of per-seed differences +0.0000 (0/3/2 seeds won/tied/lost) -> PASS" in text
    assert "difference of medians -0.0200 -> FAIL" in text
    assert text.endswith("verdict (paired): PASS")


def test_only_seeds_both_sides_have_are_compared():
    c = compare({0: 1.0, 1: 0.5, 7: 0.0}, {0: 0.9, 1: 0.6})
    assert c["seeds"] == 2 and c["wins"] == 1 and c["losses"] == 1


def test_target_lines_cover_the_third_target_and_the_peers_per_family():
    rows = []
    for fam in ("a", "b"):
        for seed in range(3):
            rows += [{"family": fam, "seed": seed, "method": "Random (full, 3x)", "best": 0.9},
                     {"family": fam, "seed": seed, "method": "Random+ASHA (promote)", "best": 0.91},
                     {"family": fam, "seed": seed, "method": "Ray ASHAScheduler", "best": 0.92}]
    out = target_lines(rows, ["a", "b"], 27)
    assert len(out) == 4
    assert out[0].startswith("target: Random+ASHA (promote) at 1/3 of the epochs >= full Random's best (N=27), a:")
    assert out[0].endswith("PASS") and out[1].endswith("FAIL")  # +0.01 against 3x; -0.01 against Ray
    assert "Ray ASHAScheduler at equal epochs, b" in out[3]
