"""The BO suite's report prints issue 12's TPE target (item 5) as a PASS/FAIL line on the stored medians."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bo_suite import tpe_target  # noqa: E402


def test_tpe_target_passes_at_70_percent_and_names_the_problems_where_ours_is_worse():
    problems = [f"p{i}" for i in range(10)]
    med = {}
    for i, p in enumerate(problems):
        med[(p, "tpe")] = 1.0
        med[(p, "ts_tpe")] = 0.5 if i < 7 else 2.0  # 7 of 10 at or below Optuna TPE's
    (line,) = tpe_target(med, problems)
    assert line.startswith("PASS") and "7/10 = 70%" in line
    assert "p7 (2 vs 1)" in line and "p0" not in line


def test_tpe_target_fails_below_70_percent_counting_ties_within_5_percent_as_at_or_below():
    problems = ["a", "b", "c"]
    med = {("a", "tpe"): 1.0, ("a", "ts_tpe"): 1.04,  # a tie (within 5%)
           ("b", "tpe"): 1.0, ("b", "ts_tpe"): 1.5, ("c", "tpe"): 1.0, ("c", "ts_tpe"): 3.0}
    (line,) = tpe_target(med, problems)
    assert line.startswith("FAIL") and "1/3 = 33%" in line


def test_no_tpe_line_without_both_tpe_rows():
    assert tpe_target({("a", "ts_tpe"): 1.0}, ["a"]) == []
