"""The HTTP server: JSON, security headers, Host check, GET only, no traversal, no tracebacks,
and answering while another process writes the study."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from torchsearch.dashboard import make_server
from torchsearch.dashboard import server as server_mod
from torchsearch.dashboard.server import STATIC_DIR, exposure_warning, load_static

from .conftest import XSS, Server


def _json(server, path):
    status, headers, body = server.request(path)
    assert status == 200, body
    assert headers["content-type"].startswith("application/json")
    return json.loads(body)


def test_api_answers_json_for_studies_trials_and_one_trial(server):
    assert server.httpd.url == f"http://127.0.0.1:{server.port}/"
    [s] = _json(server, "/api/studies")
    assert s["name"] == "<b>demo</b>" and s["n_trials"] == 5
    rows = _json(server, f"/api/studies/{s['id']}/trials")
    assert [r["number"] for r in rows] == [0, 1, 2, 3, 4]
    assert _json(server, "/api/studies/1/trials/4")["state"] == "failed"
    assert _json(server, "/api/studies/1/curves?metric=loss")["metric"] == "loss"
    assert len(_json(server, "/api/studies/1/lineage")) == 2


def test_user_strings_travel_as_json_data_never_as_markup(server):
    status, headers, body = server.request("/api/studies/1/trials")
    assert headers["x-content-type-options"] == "nosniff"
    assert json.loads(body)[1]["params"]["act"] == XSS
    # the page itself is static: no study data is ever written into HTML by the server
    status, headers, page = server.request("/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"demo" not in page and b"onerror" not in page


def test_every_response_has_the_content_security_policy(server):
    for path in ("/", "/static/app.js", "/static/app.css", "/api/studies", "/api/nope", "/static/nope"):
        status, headers, _ = server.request(path)
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp, path
        assert headers["x-frame-options"] == "DENY"
    status, headers, _ = server.request("/", method="POST")
    assert "content-security-policy" in headers


def test_page_has_no_inline_script_and_the_script_never_writes_markup():
    page = (STATIC_DIR / "index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.S | re.I)
    assert scripts == [""] and 'src="/static/app.js"' in page
    assert not re.search(r"\son[a-z]+\s*=", page, flags=re.I), "inline event handler attribute"
    js = (STATIC_DIR / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in js, sink


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "LOCALHOST"])
def test_host_header_naming_the_server_is_accepted(server, host):
    status, _, _ = server.request("/api/studies", host=f"{host}:{server.port}")
    assert status == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}",
                                  "127.0.0.1:{other}", "127.0.0.1", "", None, "localhost:{port}@evil.example"])
def test_other_host_headers_are_refused_against_dns_rebinding(server, host):
    if host is not None:
        host = host.format(port=server.port, other=server.port + 1)
    status, headers, body = server.request("/api/studies", host=host)
    assert status == 421
    assert b"demo" not in body and "content-security-policy" in headers


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "BREW"])
def test_only_get_is_allowed(server, method):
    status, headers, body = server.request("/api/studies", method=method)
    assert status == 405
    assert headers["allow"] == "GET"


TRAVERSALS = [
    "/static/../server.py", "/static/../../storage.py", "/static/%2e%2e/server.py", "/static/%2E%2E%2Fserver.py",
    "/static/..%2fserver.py", "/static/.%2e/.%2e/storage.py", "/static/%252e%252e/server.py",
    "/static//etc/passwd", "/static/%2fetc%2fpasswd", "//etc/passwd", "/..", "/../study.db", "/study.db",
    "/static/../../../runs/study.db", "/static/..\\server.py", "/static/app.js/../../server.py",
    "/static/./app.js", "/etc/passwd", "/static/%00", "/api/../static/app.js", "/api/studies/1/../../../etc/passwd",
    "/api/studies/..%2f..%2fetc%2fpasswd", "/checkpoints/", "/static/__init__.py", "/static/",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_paths_outside_the_shipped_page_cannot_be_read(server, path):
    status, _, body = server.request(path)
    assert status in (400, 404), (path, status)
    assert b"import" not in body and b"root:" not in body and b"SQLite" not in body


def test_absolute_form_request_target_is_refused(server):
    status, _, body = server.request("http://127.0.0.1/etc/passwd")
    assert status in (400, 404) and b"root:" not in body


def test_static_files_leave_out_symlinks_hidden_files_and_folders(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    static = tmp_path / "static"
    static.mkdir()
    (static / "app.js").write_text("1")
    (static / "link.js").symlink_to(secret)
    (static / ".hidden.css").write_text("x")
    (static / "sub").mkdir()
    assert set(load_static(static)) == {"app.js"}
    assert set(load_static()) == {"index.html", "app.js", "app.css"}


def test_a_symlink_planted_in_the_storage_folder_is_not_served(server, study_dir):
    (study_dir / "leak.js").symlink_to("/etc/passwd")
    for path in ("/static/leak.js", "/leak.js", "/static/../runs/leak.js", "/api/leak.js"):
        status, _, body = server.request(path)
        assert status == 404 and b"root:" not in body


def test_errors_never_carry_a_traceback(server, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internals at /home/someone")

    monkeypatch.setattr(server_mod.api, "route", boom)
    server.httpd.log = None
    status, _, body = server.request("/api/studies")
    assert status == 500
    assert b"Traceback" not in body and b"secret" not in body and b"RuntimeError" not in body


def _raw(port: int, data: bytes) -> bytes:
    """Send ``data`` on a raw socket; everything the server answers until it closes."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(data)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    return got


@pytest.mark.parametrize(("line", "code"), [
    (b"GARBAGE", 400), (b"GET /api/studies HTTP/9.9", 505), (b"GET /api/studies HTTP/1.1 extra", 400), (b"GET", 400),
    (b"GET /api/studies", 400), (b"\x16\x03\x01\x00\xa5\x01\x00", 400),  # HTTP/0.9; a TLS hello
])
def test_malformed_request_lines_get_a_full_error_response_with_status_line_and_headers(server, line, code):
    data = _raw(server.port, line + b"\r\nHost: 127.0.0.1:%d\r\n\r\n" % server.port)
    head, _, body = data.partition(b"\r\n\r\n")
    status, *headers = head.decode("latin-1").split("\r\n")
    assert re.fullmatch(rf"HTTP/1\.[01] {code} .+", status), data[:200]
    names = {h.split(":", 1)[0].lower() for h in headers}
    assert {"content-type", "content-length", "content-security-policy", "x-content-type-options"} <= names
    assert body.startswith(b'{"error":') and b"Traceback" not in data and b"demo" not in data


def test_folder_without_a_database_yet_lists_no_study(tmp_path):
    s = Server(tmp_path)
    try:
        status, _, body = s.request("/api/studies")
        assert status == 200 and json.loads(body) == []
        assert s.request("/api/studies/1")[0] == 404
    finally:
        s.close()


def test_binding_another_address_than_loopback_prints_a_warning():
    assert exposure_warning("127.0.0.1") is None and exposure_warning("localhost") is None
    assert exposure_warning("::1") is None
    assert "WARNING" in exposure_warning("0.0.0.0") and "192.168.1.5" in exposure_warning("192.168.1.5")


WRITER = textwrap.dedent("""
    import sys, time
    import torchsearch as ts
    def objective(p):
        time.sleep(0.1)
        return (p["x"] - 1.0) ** 2
    ts.optimize(objective, {"x": ts.Float(-3.0, 3.0)}, n_trials=int(sys.argv[2]), storage=sys.argv[1],
                study_name="live", seed=0)
""")


def test_server_keeps_answering_while_another_process_writes_trials(tmp_path):
    folder, n = tmp_path / "live", 25
    s = Server(folder)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder), str(n)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen, answers = [], 0
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            status, _, body = s.request("/api/studies")
            assert status == 200, body
            answers += 1
            studies = json.loads(body)
            if studies:
                status, _, body = s.request(f"/api/studies/{studies[0]['id']}/trials")
                assert status == 200, body
                seen.append(len(json.loads(body)))
            if proc.poll() is not None and seen and seen[-1] == n:
                break
            time.sleep(0.05)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        s.close()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert seen[-1] == n and seen == sorted(seen)
    assert len(set(seen)) > 2, f"never saw the study mid-way: {seen}"


def test_a_database_whose_tables_are_not_written_yet_lists_no_study(tmp_path):
    import sqlite3

    sqlite3.connect(tmp_path / "study.db").close()  # a study that has just created its file
    s = Server(tmp_path)
    try:
        status, _, body = s.request("/api/studies")
        assert status == 200 and json.loads(body) == []
        con = sqlite3.connect(tmp_path / "study.db")  # ... and some of its tables
        con.execute("CREATE TABLE studies (id INTEGER PRIMARY KEY, name TEXT)")
        con.commit()
        con.close()
        status, _, body = s.request("/api/studies")
        assert status == 200 and json.loads(body) == []
    finally:
        s.close()


def test_more_than_20_query_fields_is_a_400_not_a_500(server):
    many = "&".join(f"f{i}=1" for i in range(21))
    status, headers, body = server.request(f"/api/studies/1/curves?{many}")
    assert status == 400 and json.loads(body) == {"error": "too many query fields (at most 20)"}
    assert "content-security-policy" in headers
    status, _, body = server.request("/api/studies/1/curves?" + "&".join(["metric=loss"] * 20))
    assert status == 200 and json.loads(body)["metric"] == "loss"  # 20 is still fine


def test_a_half_sent_request_is_dropped_after_the_request_timeout(study_dir):
    assert make_server(study_dir, port=0).request_timeout == 10.0  # the default
    httpd = make_server(study_dir, port=0, request_timeout=0.3)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        # headers never finished: the server closes the connection (recv returns b"") instead of
        # keeping a thread on it for ever; the 20 s client timeout only guards the test
        assert _raw(httpd.port, b"GET /api/studies HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % httpd.port) == b""
        assert _raw(httpd.port, b"GET /api/stu") == b""
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_database_from_a_newer_torchsearch_or_a_foreign_file_is_refused_with_the_reason(tmp_path):
    import sqlite3

    import torchsearch as ts
    from torchsearch.storage import SCHEMA_VERSION

    newer, foreign = tmp_path / "newer", tmp_path / "foreign"
    ts.Storage(newer).close()
    con = sqlite3.connect(newer / "study.db")
    con.execute("UPDATE schema_version SET version = 99")
    con.commit()
    con.close()
    foreign.mkdir()
    (foreign / "study.db").write_bytes(b"not a database at all, but a long enough text")
    for folder, reason in [
        (newer, f"written by a newer torchsearch \\(schema 99, this one reads up to {SCHEMA_VERSION}\\): upgrade"),
        (foreign, r"is not a torchsearch database \(not SQLite"),
    ]:
        s = Server(folder)
        try:
            status, _, body = s.request("/api/studies")
        finally:
            s.close()
        assert status == 503 and re.search(reason, json.loads(body)["error"]), body
        assert json.loads(body)["error"].startswith("storage: '") and "storage: storage:" not in body.decode()


def test_an_empty_database_file_that_stays_empty_is_refused_not_shown_as_a_new_study(tmp_path):
    (tmp_path / "study.db").write_bytes(b"")
    os.utime(tmp_path / "study.db", (1e9, 1e9))  # made long ago: no study is creating it
    s = Server(tmp_path)
    try:
        status, _, body = s.request("/api/studies")
    finally:
        s.close()
    assert status == 503 and "is an empty file (0 bytes), not a torchsearch database" in json.loads(body)["error"]


def test_a_request_trickled_a_byte_at_a_time_is_dropped_at_its_deadline(study_dir):
    import socket

    # the server's clock moves 3 s each time it is read: at each new request and before each read
    # of the socket. A whole request trickled a byte per read would be answered if only silence
    # were timed out; with a 10 s deadline per request it is dropped after a few bytes.
    reads, read_again = [], threading.Event()

    def clock():
        reads.append(None)
        read_again.set()
        return 3.0 * len(reads)

    httpd = make_server(study_dir, port=0, request_timeout=10.0, clock=clock)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    request = b"GET /api/studies HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % httpd.port
    try:
        with socket.create_connection(("127.0.0.1", httpd.port), timeout=20) as s:
            sent = 0
            while len(reads) < 5:  # the 5th read of the clock is past the deadline (3 + 10 < 15)
                assert read_again.wait(20), "the server never read its clock"
                read_again.clear()
                try:
                    s.sendall(request[sent:sent + 1])  # the next byte once the server waits for it
                except OSError:  # the server has closed the connection already
                    break
                sent += 1
            try:
                answer = s.recv(100)
            except ConnectionResetError:
                answer = b""
        assert answer == b"" and sent < len(request)  # dropped, unanswered, before the request ended
        with socket.create_connection(("127.0.0.1", httpd.port), timeout=20) as s:  # the server still serves
            s.sendall(request)
            assert s.recv(100).startswith(b"HTTP/1.1 200 ")
    finally:
        httpd.shutdown()
        httpd.server_close()
