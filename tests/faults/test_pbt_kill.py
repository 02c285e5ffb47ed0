"""A PBT coordinator SIGKILLed right after exploits, then resumed by the same command: each member
resumes from its durable copy, which may be older than the exploits and explores stored for it
(the copy is written at most once a second). Its params and lineage go back to that copy, so that
every report, the lineage and the weights tell one story: each evaluation at step k was of weights
the member itself trained at epoch k, with the params the lineage gives that epoch.

The coordinator runs ``tests/faults/pbt_kill.py`` as its own process; its members report the
``lr`` and ``momentum`` their optimiser trained with, and this test checks each report against
the lineage rows stored before it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import torchsearch as ts
from torchsearch._lineage import _segments
from tests.faults._procs import ROOT, alive, descendants, kill, rows, wait_for
from tests.faults.pbt_kill import HonestMember


def _launch(folder, workers):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.Popen([sys.executable, "-m", "tests.faults.pbt_kill", str(folder / "s"), "--workers",
                             str(workers)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _n_lineage(folder):
    got = rows(folder, "SELECT COUNT(*) FROM lineage")
    return got[0][0] if got else 0


def _kill_after(folder, workers, n_rows):
    """Run the study until it has stored ``n_rows`` lineage rows, then SIGKILL its coordinator."""
    proc = _launch(folder, workers)
    try:
        wait_for(lambda: _n_lineage(folder) >= n_rows or proc.poll() is not None, f"{n_rows} lineage rows")
        below = descendants(proc.pid)
    finally:
        kill(proc)
        proc.wait()
    assert proc.returncode == -9, proc.stderr.read()[-2000:]  # killed, not ended by itself first
    wait_for(lambda: not any(alive(p) for p in below), f"the workers {below}", limit=30)


def _reports(folder, name):
    """``(trial, step, value, time)`` of every stored report of metric ``name``."""
    return rows(folder, "SELECT t.number, r.step, r.value, r.time FROM reports r JOIN trials t ON t.id = r.trial_id "
                        "WHERE r.name = ? ORDER BY r.time", (name,))


def _story_of_each_report(study, folder):
    """Each report at step k, against the lineage stored before it: the weights it evaluated were
    trained at epoch k by the member itself, with the params of that segment. The broken stories."""
    lineage = study.storage.lineage(study.id)
    momenta = {(n, k): v for n, k, v, _ in _reports(folder, "momentum")}
    broken = []
    for n, k, lr, when in _reports(folder, "lr"):
        before = sum(1 for r in lineage if r["time"] < when)
        seg = _segments(study, lineage, n, k, before)[-1]
        if seg["trial"] != n or not seg["start"] < k:
            broken.append(f"trial {n} reported step {k}, which the lineage gives to trial {seg['trial']} ({seg})")
        elif seg["params"]["lr"] != pytest.approx(lr, rel=1e-9) or \
                seg["params"]["momentum"] != pytest.approx(momenta[n, k], rel=1e-9, abs=1e-12):
            broken.append(f"trial {n} trained epoch {k} with lr={lr:.6g}, momentum={momenta[n, k]:.6g}; the "
                          f"lineage says {seg['params']}")
    return broken


@pytest.mark.parametrize("workers", [2, 0], ids=["two-workers", "in-process"])
def test_a_pbt_coordinator_killed_after_exploits_resumes_each_member_with_the_params_and_lineage_of_its_copy(
        tmp_path, workers):
    for n_rows in (4, 10):  # killed twice, each time right after an exploit or explore was stored
        _kill_after(tmp_path, workers, n_rows)
    proc = _launch(tmp_path, workers)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    study = ts.load_study(str(tmp_path / "s"))
    trials = study.trials
    assert [t.state for t in trials] == ["completed"] * 4  # every member resumed to the end
    assert all(max(t.metrics["mse"]) == 8 for t in trials)
    broken = _story_of_each_report(study, tmp_path)
    assert not broken, "\n".join(broken)
    for t in trials:  # one contiguous schedule from step 0, ending with the params stored
        segments = study.schedule(t.number)
        assert segments[0]["start"] == 0 and all(a["end"] == b["start"] for a, b in zip(segments, segments[1:]))
        assert segments[-1]["trial"] == t.number and segments[-1]["params"] == t.params
        assert study.replay(HonestMember, t.number).epoch == 8  # retrains exactly the epochs it holds
