"""Fixtures for the dashboard tests: a study written by the test, and a server on a free port."""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path

import pytest

import torchsearch as ts
from torchsearch.dashboard import make_server

XSS = "<img src=x onerror=alert(1)>"
SPACE = {"lr": ts.Float(1e-3, 1.0, log=True), "width": ts.PowerOfTwo(16, 128), "act": ts.Choice([XSS, "relu"])}


def write_study(folder: Path, *, name: str = "<b>demo</b>", n: int = 4) -> tuple[ts.Storage, int]:
    """A study with ``n`` trials reporting two metrics over 3 epochs, one failed trial, one stopped
    trial, and two PBT lineage events; returns the (writing) storage and the study id."""
    st = ts.Storage(folder)
    sid = st.get_or_create_study(name, metric="accuracy", mode="max",
                                 space=ts.Space(SPACE).to_dict(), scheduler="PBT(population=4)", seed=0)
    for i in range(n):
        add_trial(st, sid, {"lr": 10 ** -(i % 3 + 1), "width": 16 << (i % 3), "act": XSS if i % 2 else "relu"},
                  acc=0.5 + 0.1 * i)
    num = st.add_trial(sid, {"lr": 0.5, "width": 16, "act": XSS})
    st.add_report(sid, num, 1, {"accuracy": float("nan"), "loss": float("nan")})
    st.update_trial(sid, num, state="failed", ended=time.time(), error=f"ValueError: loss is NaN {XSS}",
                    traceback="Traceback (most recent call last):\n  ValueError")
    st.update_trial(sid, 1, state="stopped", stop_code="patience", stop_reason="patience: no improvement in 2")
    st.add_lineage(sid, 0, 2, 3, {"lr": 0.1, "width": 16, "act": "relu"}, {"lr": 0.012, "width": 16, "act": XSS},
                   ["copied trial 3", "lr: 0.01 -> 0.012 (x1.2)", f"act: relu -> {XSS}"])
    st.add_lineage(sid, 2, 2, None, {"lr": 0.001, "width": 64, "act": "relu"},
                   {"lr": 0.0008, "width": 64, "act": "relu"}, ["lr: 0.001 -> 0.0008 (x0.8)"])
    return st, sid


def add_trial(st: ts.Storage, sid: int, params: dict, *, acc: float, epochs: int = 3) -> int:
    num = st.add_trial(sid, params)
    for e in range(1, epochs + 1):
        st.add_report(sid, num, e, {"accuracy": acc * e / epochs, "loss": 1.0 / e})
    st.update_trial(sid, num, state="completed", value=acc, best_step=epochs, ended=time.time())
    return num


class Server:
    def __init__(self, folder: Path) -> None:
        self.httpd = make_server(folder, port=0)
        self.port = self.httpd.port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def request(self, path: str, *, method: str = "GET", host: str | None = "default",
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """Send ``path`` exactly as given (no normalisation), with ``host`` as the Host header."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            if host == "default":
                host = f"127.0.0.1:{self.port}"
            if host is not None:
                conn.putheader("Host", host)
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            conn.endheaders()
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def study_dir(tmp_path):
    folder = tmp_path / "runs"
    st, _ = write_study(folder)
    st.close()
    return folder


@pytest.fixture
def server(study_dir):
    s = Server(study_dir)
    yield s
    s.close()
