"""The CLI's trials command shows pruned trials (stop code, reason, the epochs they reached)."""

from __future__ import annotations

import io
import json

import torchsearch as ts
from torchsearch.cli import main
from torchsearch.pruners import ASHA
from torchsearch.schedulers import Random
from tests.models import TinyRegression


def test_trials_shows_and_filters_pruned_trials(tmp_path):
    ts.tune(TinyRegression, {"lr": ts.Float(1e-3, 0.3, log=True)}, scheduler=Random(seed=0), pruner=ASHA(),
            metric="mse", mode="min", epochs=9, n_trials=6, seed=0, storage=tmp_path, verbose=False,
            study_name="p")
    out = io.StringIO()
    assert main(["trials", str(tmp_path), "--format", "json"], out=out) == 0
    rows = json.loads(out.getvalue())
    pruned = [r for r in rows if r["stop_code"] == "pruned"]
    assert pruned and all(r["state"] == "stopped" and r["stop_reason"].startswith("ASHA: mse") for r in pruned)
    assert {r["epochs"] for r in pruned} <= {1, 3}  # where they were stopped: a rung
    out = io.StringIO()
    main(["trials", str(tmp_path), "--pruned"], out=out)
    table, footer = out.getvalue().split("\n\n")
    lines = table.strip().splitlines()
    assert len(lines) == 1 + len(pruned) and all("pruned" in line for line in lines[1:])
    assert footer.startswith("pruner: ASHA(min_epochs=1, reduction=3, max_epochs=9, promote=True); rungs at epochs 1, 3")


def test_dashboard_curves_carry_stop_codes_and_the_rungs(tmp_path):
    from torchsearch.dashboard import api

    study = ts.tune(TinyRegression, {"lr": ts.Float(1e-3, 0.3, log=True)}, scheduler=Random(seed=0), pruner=ASHA(),
                    metric="mse", mode="min", epochs=9, n_trials=6, seed=0, storage=tmp_path, verbose=False,
                    study_name="p")
    ro = ts.Storage(tmp_path, readonly=True)
    try:
        c = api.curves(ro, study.id)
    finally:
        ro.close()
    codes = {x["number"]: x["stop_code"] for x in c["curves"]}
    assert codes == {t.number: t.stop_code for t in study.trials}
    assert "pruned" in codes.values()
    assert c["rungs"] and set(c["rungs"]) <= {1, 3}  # ASHA's rungs below 9 epochs
