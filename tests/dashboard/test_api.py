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


def test_curves_of_another_metric_carry_that_metrics_mode_not_the_studys(ro):
    # the study maximises accuracy; its loss curves are lower-is-better
    assert api.curves(ro, 1)["mode"] == "max"
    assert api.curves(ro, 1, "loss")["mode"] == "min"
    assert api.curves(ro, 1, "nope")["mode"] is None  # a name that does not say: no guess


@pytest.mark.parametrize("name, mode", [("val_loss", "min"), ("trainLoss", "min"), ("top1_acc", "max"),
                                        ("val_accuracy", "max"), ("mse", "min"), ("f1", "max"), ("width", None),
                                        ("loss_over_acc", None)])
def test_metric_mode_reads_the_direction_from_the_metric_name(name, mode):
    assert api.metric_mode(name, "accuracy", "max") == mode
    assert api.metric_mode("loss", "loss", "max") == "max"  # the study's own metric: the study's mode


def test_trial_detail_holds_its_notes_and_whether_it_was_queued_by_hand(study_dir):
    st = ts.Storage(study_dir)
    st.add_note(1, 2, "wide and slow")
    st.enqueue(1, {"lr": 0.05})
    queued = st.queued(1)[0]["id"]
    num = st.add_trial(1, {"lr": 0.05, "width": 32, "act": "relu"}, queued=queued)
    st.close()
    ro = ts.Storage(study_dir, readonly=True)
    try:
        assert [n["text"] for n in api.trial(ro, 1, 2)["notes"]] == ["wide and slow"]
        rows = {r["number"]: r for r in api.trials(ro, 1)}
        assert (rows[2]["n_notes"], rows[2]["queued"]) == (1, False)
        assert (rows[num]["n_notes"], rows[num]["queued"]) == (0, True)
        assert ro.queued(1) == []  # the queue entry was taken by that trial
    finally:
        ro.close()


def test_importance_gives_each_parameters_share_or_says_why_not_yet(ro, tmp_path):
    imp = api.route(ro, ["studies", "1", "importance"], {})
    assert imp["metric"] == "accuracy" and imp["why"] is None
    assert set(imp["shares"]) == {"lr", "width", "act"} and sum(imp["shares"].values()) == pytest.approx(1.0)
    st = ts.Storage(tmp_path / "one")
    sid = st.get_or_create_study("one", metric="accuracy", mode="max", space=ts.Space(SPACE_ONE).to_dict(),
                                 scheduler="Random()", seed=0)
    st.update_trial(sid, st.add_trial(sid, {"x": 0.5}), state="completed", value=0.5)
    imp = api.importance(st, sid)
    st.close()
    assert imp["shares"] is None and "needs at least 2 completed or stopped trials" in imp["why"]


def test_importance_of_trials_all_with_the_same_value_gives_no_shares_and_says_why(tmp_path):
    st = ts.Storage(tmp_path / "flat")
    sid = st.get_or_create_study("flat", metric="accuracy", mode="max", space=ts.Space(SPACE_ONE).to_dict(),
                                 scheduler="PBT(population=4)", seed=0)
    for x in (0.1, 0.5, 0.9):
        st.update_trial(sid, st.add_trial(sid, {"x": x}), state="completed", value=0.96875)
    imp = api.importance(st, sid)
    st.close()
    assert imp["shares"] is None
    assert "all 3 completed or stopped trials have the same value (0.96875)" in imp["why"]


SPACE_ONE = {"x": ts.Float(0, 1)}
