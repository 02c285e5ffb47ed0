"""The dashboard's HTTP server: the standard library's ``ThreadingHTTPServer``, read-only, GET only.

Safety, since it is a web server on a researcher's machine:

- binds 127.0.0.1 unless asked otherwise (``serve`` prints a warning for any other address);
- answers only requests whose ``Host`` header names the bound address, ``localhost`` or a
  loopback address, with the bound port (a DNS-rebinding page gets 421);
- answers GET only (every other method gets 405);
- serves only the files shipped in ``static/`` (read once at start, regular files only, no
  symlinks), by exact name: a request path is never joined to a folder, so ``..``, encoded dots,
  absolute paths and symlinks cannot reach anything else;
- sends a Content-Security-Policy that allows only its own script and style (no inline
  script), ``nosniff`` and ``frame-ancestors 'none'``;
- never sends a traceback: an unexpected error is logged on the server and answered with a
  plain 500; a malformed request line gets a full 400 response (status line and headers, also
  for lines that never reached a version), HTTP/0.9 is refused, more than 20 query fields is 400;
- gives each request ``request_timeout`` seconds (10 by default) to arrive whole, from the
  first byte of its request line to the end of its headers (and an idle keep-alive connection
  as long for its next request): a half-sent request, or one trickled a byte at a time, is
  dropped instead of holding its thread for ever;
- opens the SQLite database read-only, one connection per request, so it never holds a lock
  that a writing study waits for; :func:`serve` refuses to start on a folder whose
  ``study.db`` was written by a newer torchsearch or is not a torchsearch database (as every
  other command does); one that becomes so while the server runs is answered 503 with the
  reason (a database being created shows an empty page until its study is written).
"""

from __future__ import annotations

import io
import ipaddress
import json
import mimetypes
import socket
import sys
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, unquote, urlsplit

from .._dbfile import BeingCreated
from ..exceptions import StorageError
from ..storage import DB_NAME, Storage
from . import api

__all__ = ["DashboardServer", "check_storage", "exposure_warning", "load_static", "make_server", "serve"]

STATIC_DIR = Path(__file__).with_name("static")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_MAX_FIELDS = 20  # query fields a request may carry (the API uses at most two)
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}


def load_static(folder: str | Path = STATIC_DIR) -> dict[str, tuple[bytes, str]]:
    """``{name: (content, content type)}`` for the regular files directly in ``folder``.

    Symlinks, sub-folders and hidden files are left out, so nothing but the shipped page can
    be served whatever a request asks for.
    """
    files: dict[str, tuple[bytes, str]] = {}
    for p in Path(folder).iterdir():
        if p.name.startswith(".") or p.is_symlink() or not p.is_file():
            continue
        ctype = _TYPES.get(p.suffix) or mimetypes.guess_type(p.name)[0] or "application/octet-stream"
        files[p.name] = (p.read_bytes(), ctype)
    return files


def _loopback_names() -> set[str]:
    return {"localhost", "127.0.0.1", "[::1]", "::1"}


def _allowed_hosts(host: str) -> set[str]:
    """Host header names (without port, lower case) accepted for a server bound to ``host``."""
    names = _loopback_names()
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        names.add(host.lower())
        return names
    if addr.is_unspecified:  # 0.0.0.0 or ::: the machine's own names and addresses
        for name in {socket.gethostname(), socket.getfqdn()}:
            names.add(name.lower())
            try:
                for info in socket.getaddrinfo(name, None):
                    a = str(info[4][0])
                    names.add(f"[{a}]" if ":" in a else a)
            except OSError:
                pass
    else:
        names.add(f"[{addr}]" if addr.version == 6 else str(addr))
    return names


class DashboardServer(ThreadingHTTPServer):
    """Serves the dashboard of the storage folder ``storage_path`` on ``(host, port)``."""

    daemon_threads = True

    def __init__(self, storage_path: str | Path, host: str = "127.0.0.1", port: int = 8080, *,
                 log: TextIO | None = None, request_timeout: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"dashboard: port must be an integer from 0 to 65535 (0 picks a free one), "
                             f"got port={port!r}")
        if not (isinstance(request_timeout, (int, float)) and request_timeout > 0):
            raise ValueError(f"dashboard: request_timeout must be seconds > 0, got request_timeout={request_timeout!r}")
        self.request_timeout = float(request_timeout)
        self.clock = clock  # what the request deadlines read (tests give a fake one)
        self.storage_path = Path(storage_path)
        self.static = load_static()
        self.log = log
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)
        self.port = int(self.server_address[1])
        self.allowed_hosts = _allowed_hosts(host)

    def open_storage(self) -> Storage | None:
        """A fresh read-only connection (None while the folder holds no study database yet)."""
        if not (self.storage_path / DB_NAME).exists():
            return None
        return Storage(self.storage_path, readonly=True)

    @property
    def url(self) -> str:
        host = self.server_address[0]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}/"


class _DeadlineReader(io.RawIOBase):
    """The request side of a connection: every read must end before the request's deadline
    (:meth:`start` sets it, ``timeout`` seconds ahead on ``clock``), however the bytes trickle
    in; past it, a read raises ``TimeoutError`` and ``http.server`` drops the connection."""

    def __init__(self, sock: socket.socket, clock: Callable[[], float], timeout: float) -> None:
        self.sock, self.clock, self.timeout = sock, clock, timeout
        self.deadline = clock() + timeout

    def start(self) -> None:
        self.deadline = self.clock() + self.timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - self.clock()
        if left <= 0:
            raise TimeoutError("request not received within the request timeout")
        self.sock.settimeout(min(left, self.timeout))
        return self.sock.recv_into(buffer)


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    server_version = "torchsearch-dashboard"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    # Before a request line is parsed, http.server assumes HTTP/0.9 and answers an error with a
    # bare body (no status line, no headers). Responses always carry both here.
    default_request_version = "HTTP/1.0"

    def setup(self) -> None:
        self.timeout = self.server.request_timeout
        super().setup()
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self.server.clock, self.timeout))

    def handle_one_request(self) -> None:
        self.rfile.raw.start()  # type: ignore[attr-defined]  # the next request has request_timeout to arrive
        super().handle_one_request()

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if len(self.requestline.split()) == 2:  # "GET /": an HTTP/0.9 request
            self.send_error(400, "HTTP/0.9 requests are not served: send HTTP/1.0 or HTTP/1.1")
            return False
        return True

    def version_string(self) -> str:  # no Python version in the Server header
        return self.server_version

    # -- responses --------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.connection.settimeout(self.timeout)  # the whole timeout for writing, whatever reading left
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in {"Cache-Control": "no-store", **_SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, extra: dict[str, str] | None = None) -> None:
        body = json.dumps(api.clean(obj), allow_nan=False, separators=(",", ":")).encode()
        self._send(status, body, "application/json; charset=utf-8", extra)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors are short JSON, with the security headers, and never a traceback."""
        self.close_connection = True
        try:
            self._json(code, {"error": message or self.responses.get(code, ("error",))[0]},
                       {"Connection": "close"})
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
        if self.server.log is not None:
            self.server.log.write(f"{self.address_string()} - {format % args}\n")

    # -- methods ----------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # every method but GET: POST, PUT, DELETE, HEAD, OPTIONS, ...
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self.close_connection = True
        self._json(405, {"error": f"method {self.command[:20]} not allowed: the dashboard is read-only"},
                   {"Allow": "GET", "Connection": "close"})

    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").strip().lower()
        if not host or len(self.headers.get_all("Host") or []) != 1:
            return False
        name, port = host, None
        if host.startswith("["):
            end = host.find("]")
            if end < 0:
                return False
            name, rest = host[: end + 1], host[end + 1:]
            if rest:
                if not rest.startswith(":"):
                    return False
                port = rest[1:]
        elif ":" in host:
            name, port = host.rsplit(":", 1)
        if port is not None and port != str(self.server.port):
            return False
        if port is None and self.server.port != 80:
            return False
        return name in self.server.allowed_hosts

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        try:
            if not self._host_ok():
                self._json(421, {"error": "unexpected Host header: open the dashboard by its address "
                                          f"(http://127.0.0.1:{self.server.port}/ or localhost)"})
                return
            self._route()
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:  # never leak a traceback to the client
            if self.server.log is not None:
                traceback.print_exc(file=self.server.log)
            self._json(500, {"error": "internal error (see the server's output)"})

    def _route(self) -> None:
        raw = self.path
        if not raw.startswith("/") or "\\" in raw or "\x00" in raw:
            self._json(400, {"error": "bad request path"})
            return
        split = urlsplit(raw)
        path = split.path
        if "%" in path:  # ids and file names never need escapes: refuse encoded dots and slashes
            decoded = unquote(path)
            if decoded != path:
                self._json(404, {"error": "not found"})
                return
        if path in ("/", "/index.html"):
            self._static("index.html")
        elif path.startswith("/static/"):
            self._static(path[len("/static/"):])
        elif path.startswith("/api/"):
            try:
                query = parse_qs(split.query, max_num_fields=_MAX_FIELDS)
            except ValueError:  # more fields than that: no endpoint takes them
                self._json(400, {"error": f"too many query fields (at most {_MAX_FIELDS})"})
                return
            self._api([p for p in path[len("/api/"):].split("/") if p != ""] if path != "/api/" else [], query)
        else:
            self._json(404, {"error": "not found"})

    def _static(self, name: str) -> None:
        entry = self.server.static.get(name)  # exact names only: no path is ever built from a request
        if entry is None:
            self._json(404, {"error": "not found"})
            return
        self._send(200, entry[0], entry[1], {"Cache-Control": "no-cache"})

    def _api(self, parts: list[str], query: dict[str, list[str]]) -> None:
        try:
            try:
                storage = self.server.open_storage()
                try:
                    result = api.route(storage, parts, query)
                finally:
                    if storage is not None:
                        storage.close()
            except BeingCreated:
                result = api.route(None, parts, query)  # the study is creating its database right now
        except api.NotFound as e:
            self._json(404, {"error": str(e)[:300]})
        except StorageError as e:
            why = str(e) if str(e).startswith("storage: ") else f"storage: {e}"  # one prefix, not two
            self._json(503, {"error": why[:300]})
        else:
            self._json(200, result)


def make_server(storage_path: str | Path, *, host: str = "127.0.0.1", port: int = 8080,
                log: TextIO | None = None, request_timeout: float = 10.0,
                clock: Callable[[], float] = time.monotonic) -> DashboardServer:
    """A ready server (port 0 picks a free port: read it from ``server.port``); run ``serve_forever()``.
    ``request_timeout``: seconds a request has to arrive whole (on ``clock``) before its
    connection is closed."""
    return DashboardServer(storage_path, host, port, log=log, request_timeout=request_timeout, clock=clock)


def exposure_warning(host: str) -> str | None:
    """The warning to print when ``host`` is not a loopback address (None for 127.0.0.1, ::1, localhost)."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host.lower() == "localhost"
    if loopback:
        return None
    return (f"torchsearch dashboard: WARNING: listening on {host}, not 127.0.0.1: anyone who can reach this "
            "machine on that address can read your studies (there is no login)")


def check_storage(storage_path: str | Path) -> None:
    """Refuse (:class:`StorageError`) a folder whose ``study.db`` the dashboard could never
    show: not a torchsearch database, empty, or written by a newer torchsearch. A folder without
    one, or one a study is creating right now, is fine: the page fills in once it is written."""
    if not (Path(storage_path) / DB_NAME).exists():
        return
    try:
        Storage(storage_path, readonly=True).close()
    except BeingCreated:
        pass


def serve(storage_path: str | Path, *, host: str = "127.0.0.1", port: int = 8080,
          out: TextIO | None = None) -> int:
    """Serve the dashboard until Ctrl-C; print its address (and a warning off loopback).
    Refuses a folder whose ``study.db`` is not a readable torchsearch database
    (:func:`check_storage`) before it listens."""
    out = out or sys.stdout
    check_storage(storage_path)
    warning = exposure_warning(host)
    if warning:
        print(warning, file=sys.stderr)
    server = make_server(storage_path, host=host, port=port, log=sys.stderr)
    if not (server.storage_path / DB_NAME).exists():
        print(f"torchsearch dashboard: no {DB_NAME} in {str(server.storage_path)!r} yet; the page fills in "
              "once a study starts writing there", file=sys.stderr)
    print(f"torchsearch dashboard for {str(server.storage_path)!r} on {server.url} (Ctrl-C to stop)", file=out)
    out.flush()
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
