"""``torchsearch export PATH --tensorboard DIR`` and the ``dashboard`` command's arguments."""

from __future__ import annotations

import sys

import pytest

from torchsearch.cli import build_parser, main

from .conftest import XSS


def test_export_writes_metrics_and_hparams_per_trial_readable_by_tensorboard(study_dir, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    out = tmp_path / "tb"
    assert main(["export", str(study_dir), "--tensorboard", str(out)]) == 0
    assert "wrote 5 trial runs" in capsys.readouterr().out
    runs = sorted(p.name for p in (out / "_b_demo__b_").iterdir())
    assert runs == [".torchsearch-export.json"] + [f"trial-{i:04d}" for i in range(5)]  # the marker: which study

    acc = EventAccumulator(str(out / "_b_demo__b_" / "trial-0003"))
    acc.Reload()
    assert {"accuracy", "loss", "hparam/accuracy", "hparam/last/loss"} <= set(acc.Tags()["scalars"])
    assert [(e.step, round(e.value, 4)) for e in acc.Scalars("accuracy")] == [(1, 0.2667), (2, 0.5333), (3, 0.8)]
    assert acc.Scalars("hparam/accuracy")[0].value == pytest.approx(0.8)
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["act"].string_value == XSS
    assert start.hparams["width"].number_value == 16
    assert start.hparams["state"].string_value == "completed"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    act = next(h for h in experiment.hparam_infos if h.name == "act")
    assert [v.string_value for v in act.domain_discrete.values] == [XSS, "relu"]


def test_export_of_an_unknown_study_names_the_ones_there(study_dir, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    assert main(["export", str(study_dir), "--tensorboard", str(tmp_path / "tb"), "--study", "nope"]) == 2
    assert "no study named 'nope'" in capsys.readouterr().err


def test_export_without_tensorboard_says_how_to_install_it(study_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import raises ImportError
    assert main(["export", str(study_dir), "--tensorboard", str(tmp_path / "tb")]) == 2
    assert "torchsearch[tensorboard]" in capsys.readouterr().err


def test_dashboard_command_defaults_to_loopback_port_8080():
    args = build_parser().parse_args(["dashboard", "runs/x"])
    assert (args.path, args.host, args.port) == ("runs/x", "127.0.0.1", 8080)
    args = build_parser().parse_args(["dashboard", "runs/x", "--port", "0", "--host", "::1"])
    assert (args.host, args.port) == ("::1", 0)


def test_dashboard_command_serves_a_folder_that_a_starting_study_has_not_made_yet(tmp_path, monkeypatch):
    # the README's recipe starts the study and the dashboard at once: the folder may not exist yet
    import torchsearch.dashboard as dashboard

    served = []
    monkeypatch.setattr(dashboard, "serve", lambda path, **kw: served.append(path) or 0)
    assert main(["dashboard", str(tmp_path / "not-yet")]) == 0
    assert served == [str(tmp_path / "not-yet")]


def test_dashboard_command_refuses_a_file_given_as_the_folder(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["dashboard", str(tmp_path / "f")]) == 2
    assert "is a file, not a storage folder" in capsys.readouterr().err


def test_a_server_started_before_its_folder_exists_shows_the_study_once_it_is_written(tmp_path):
    import json

    from .conftest import Server, write_study

    s = Server(tmp_path / "later")
    try:
        status, _, body = s.request("/api/studies")
        assert status == 200 and json.loads(body) == []
        st, _ = write_study(tmp_path / "later")
        st.close()
        status, _, body = s.request("/api/studies")
        assert status == 200 and [x["name"] for x in json.loads(body)] == ["<b>demo</b>"]
    finally:
        s.close()


def _event_files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("events.out.tfevents.*"))


def test_exporting_again_replaces_the_earlier_export_so_each_curve_is_drawn_once(study_dir, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "tb"
    assert main(["export", str(study_dir), "--tensorboard", str(out)]) == 0
    first = _event_files(out)
    assert len(first) == 10  # 5 trials: scalars and the HParams session, one file each
    (out / "_b_demo__b_" / "trial-0003" / "my notes.txt").write_text("mine")  # not an event file: kept
    assert main(["export", str(study_dir), "--tensorboard", str(out)]) == 0
    assert len(_event_files(out)) == 10 and set(_event_files(out)).isdisjoint(first)
    assert (out / "_b_demo__b_" / "trial-0003" / "my notes.txt").read_text() == "mine"
    acc = EventAccumulator(str(out / "_b_demo__b_" / "trial-0003"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("accuracy")] == [1, 2, 3]  # once, not twice
    capsys.readouterr()


def test_export_refuses_a_folder_it_did_not_write_or_another_studys_and_leaves_it_as_it_was(study_dir, tmp_path,
                                                                                             capsys):
    pytest.importorskip("tensorboard")
    from .conftest import write_study

    out = tmp_path / "tb"
    old = out / "_b_demo__b_" / "trial-0000"  # an export without the marker (older torchsearch, or by hand)
    old.mkdir(parents=True)
    (old / "events.out.tfevents.1.host.1.0").write_bytes(b"old")
    assert main(["export", str(study_dir), "--tensorboard", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already holds files that this export did not write" in err
    assert "delete that folder" in err
    assert _event_files(out) == ["_b_demo__b_/trial-0000/events.out.tfevents.1.host.1.0"]  # left as it was

    other = tmp_path / "other"  # another study of the same name, from another folder
    st, _ = write_study(other)
    st.close()
    out2 = tmp_path / "tb2"
    assert main(["export", str(study_dir), "--tensorboard", str(out2)]) == 0
    before = _event_files(out2)
    assert main(["export", str(other), "--tensorboard", str(out2)]) == 2
    err = capsys.readouterr().err
    assert "holds the export of another study '<b>demo</b>' created" in err and _event_files(out2) == before


def test_export_into_a_file_is_a_one_line_error_naming_it(study_dir, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    text = tmp_path / "text.txt"
    text.write_text("keep me")
    assert main(["export", str(study_dir), "--tensorboard", str(text)]) == 2
    err = capsys.readouterr().err
    assert err == (f"torchsearch: error: export: --tensorboard {str(text)!r} is a file, not a folder: give a folder "
                   "for the TensorBoard logs (it is created when missing)\n")
    assert main(["export", str(study_dir), "--tensorboard", str(text / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "export: cannot write TensorBoard logs under" in err and "NotADirectoryError" in err
    assert text.read_text() == "keep me"


@pytest.mark.parametrize("port", ["99999", "-5", "65536", "http"])
def test_dashboard_port_outside_0_to_65535_is_an_argument_error_naming_port(port, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["dashboard", "runs/x", "--port", port])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "argument --port: must be" in err and "0 to 65535" in err
    assert "Traceback" not in err
    assert build_parser().parse_args(["dashboard", "x", "--port", "65535"]).port == 65535


def test_make_server_refuses_a_port_outside_0_to_65535_naming_it(tmp_path):
    from torchsearch.dashboard import make_server

    for port in (99999, -5, True):
        with pytest.raises(ValueError, match=rf"port must be an integer from 0 to 65535 .*got port={port!r}"):
            make_server(tmp_path, port=port)


@pytest.mark.parametrize(("content", "reason"), [
    (b"hello\n", r"is not a torchsearch database \(not SQLite"),
    ("sqlite", r"is a SQLite database but not a torchsearch one"),
    (b"", r"is an empty file \(0 bytes\)"),
])
def test_dashboard_refuses_at_start_up_a_folder_whose_study_db_is_not_ours_as_every_command_does(
        tmp_path, capsys, monkeypatch, content, reason):
    import re

    from torchsearch.dashboard import server
    from tests._foreign import foreign_study_db

    monkeypatch.setattr(server, "make_server", lambda *a, **k: pytest.fail("listened on a foreign database"))
    db = foreign_study_db(tmp_path, content)
    before = db.read_bytes()
    assert main(["dashboard", str(tmp_path), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(reason, err) and str(db) in err
    assert "storage: storage:" not in err and db.read_bytes() == before
    assert main(["studies", str(tmp_path)]) == 2
    assert capsys.readouterr().err == err  # the same refusal as the other commands


def test_dashboard_starts_on_a_database_a_study_is_creating_right_now(tmp_path, monkeypatch):
    from torchsearch.dashboard import server

    started = []

    class _Fake:
        storage_path, url = tmp_path, "http://127.0.0.1:1/"

        def serve_forever(self, poll_interval):
            started.append(True)

        def server_close(self):
            pass

    monkeypatch.setattr(server, "make_server", lambda *a, **k: _Fake())
    (tmp_path / "study.db").write_bytes(b"")  # just made: young
    assert main(["dashboard", str(tmp_path), "--port", "0"]) == 0 and started == [True]
