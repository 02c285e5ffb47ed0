"""The JSON API functions, straight on a read-only Storage (no HTTP)."""

from __future__ import annotations

import json
import math

import pytest

import torchsearch as ts
from torchsearch.dashboard import api

from .conftest import XSS


@pytest.fixture
def ro(study_dir):
    st = ts.Storage(study_dir, readonly=True)
    yield st
    st.close()


def test_studies_summary_counts_states_and_picks_the_best_by_mode(ro):
    [s] = api.studies(ro)
    assert s["name"] == "<b>demo</b>" and s["metric"] == "accuracy" and s["mode"] == "max"
    assert s["counts"] == {"completed": 3, "stopped": 1, "failed": 1}
    assert s["n_trials"] == 5
    assert s["best"]["number"] == 3 and s["best"]["value"] == pytest.approx(0.8)
    assert s["status"] == "idle"  # not ended (no end_study), nothing running
    assert s["elapsed_s"] >= 0


def test_study_lists_metric_names_with_the_study_metric_first_and_the_space(ro):
    s = api.study(ro, 1)
    assert s["metrics"] == ["accuracy", "loss"]
    assert s["space"]["act"] == {"type": "Choice", "values": [XSS, "relu"]}
    assert s["n_lineage"] == 2


def test_trial_rows_hold_params_best_last_epochs_duration_and_why_it_ended(ro):
    rows = api.trials(ro, 1)
    assert [r["number"] for r in rows] == [0, 1, 2, 3, 4]
    r1 = rows[1]
    assert r1["params"] == {"lr": 0.01, "width": 32, "act": XSS}
    assert r1["last"] == pytest.approx(0.6) and r1["epochs"] == 3 and r1["duration_s"] >= 0
    assert r1["state"] == "stopped" and r1["stop_reason"].startswith("patience")
    assert rows[4]["state"] == "failed" and XSS in rows[4]["error"]


def test_nan_reports_become_null_so_the_response_is_valid_json(ro):
    rows = api.clean(api.trials(ro, 1))
    assert rows[4]["last"] is None and rows[4]["value"] is None
    json.dumps(rows, allow_nan=False)
    assert api.clean({"a": [math.inf, 1.5, -math.inf]}) == {"a": [None, 1.5, None]}


def test_trial_detail_has_every_curve_traceback_and_its_lineage(ro):
    t = api.trial(ro, 1, 0)
    assert t["metrics"]["accuracy"] == [(1, pytest.approx(0.5 / 3)), (2, pytest.approx(1 / 3)), (3, 0.5)]
    assert t["lineage"][0]["donor"] == 3 and t["lineage"][0]["step"] == 2
    assert api.trial(ro, 1, 4)["traceback"].startswith("Traceback")


def test_curves_default_to_the_study_metric_and_take_another(ro):
    c = api.curves(ro, 1)
    assert c["metric"] == "accuracy" and [x["number"] for x in c["curves"]] == [0, 1, 2, 3, 4]
    assert api.curves(ro, 1, "loss")["curves"][0]["points"][0] == (1, 1.0)
    assert api.curves(ro, 1, "nope")["curves"] == []


def test_route_validates_ids_and_rejects_unknown_paths(ro):
    assert api.route(ro, ["studies", "1", "trials", "0"], {})["number"] == 0
    assert len(api.route(ro, ["studies", "1", "lineage"], {})) == 2
    for parts in (["studies", "-1"], ["studies", "1e3"], ["studies", " 1"], ["studies", "١"], ["studies", "9" * 16],
                  ["studies", "1", "trials", "0x1"], ["studies", "2"], ["studies", "1", "trials", "99"],
                  ["studies", "1", "nope"], ["nope"], []):
        with pytest.raises(api.NotFound):
            api.route(ro, parts, {})


def test_route_without_a_database_lists_no_study(ro):
    assert api.route(None, ["studies"], {}) == []
    with pytest.raises(api.NotFound):
        api.route(None, ["studies", "1"], {})
