"""Joining a running Ray cluster: ``Ray(address="auto")`` (the cluster ``ray start`` made on this
machine) and ``Ray(address="ray://host:port")`` (Ray Client). A head is started with ``ray start
--head`` (loopback only, its own RAY_TMPDIR so that "auto" finds this one and no other) and torn
down afterwards; the studies run in a subprocess (this process is joined to the session's
cluster). With Ray Client the coordinator is the client process: the actors connect back to it,
so it must be reachable from the cluster's nodes (here it is: one machine).

Ray Client's proxy starts a server per client on the first free port of a fixed range (23000 on:
Ray 2.60's MIN_SPECIFIC_SERVER_PORT, not configurable), and gRPC binds it with SO_REUSEPORT: two
clusters' proxies on one machine, each with a client at the same time (this test run by two
suites at once, as on a shared machine), both take 23000, and a client reaches the other
cluster's server: reproduced with two heads side by side ("Call to `ray.init()` on the server
failed with: Maybe you called ray.init twice", 1 connection in 12), and the "Starting Ray client
server failed" seen before in full runs on the busy machine is taken to be the same collision.
So the test holds a lock file (``/tmp/torchsearch-ray-client.lock``, the same for every copy of
the suite) from the head's start to its end, and the script still connects up to twice more
after either message."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from tests.executors.test_ray import needs_ray

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_LOCK = "/tmp/torchsearch-ray-client.lock"  # one Ray Client test at a time on this machine (see above)


@pytest.fixture(scope="module")
def head():
    """``ray start --head --block`` in a session of its own, under the machine-wide lock; yields
    (gcs port, client port, env)."""
    with open(_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        yield from _head()


def _head():
    folder = tempfile.mkdtemp(prefix="tsray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    gcs, client = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    # RAY_AUTH_MODE=token: the head and its clients use the token in ~/.ray/auth_token (created when missing);
    # with it unset, Ray Client sent no token to a head that required one (Ray 2.60) and timed out
    env.update(RAY_TMPDIR=folder, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0",
               RAY_AUTH_MODE="token",  # an existing PYTHONPATH is kept (a machine that provides packages that way)
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    ray_cli = str(Path(sys.executable).with_name("ray"))
    proc = subprocess.Popen([ray_cli, "start", "--head", "--block", f"--port={gcs}", f"--ray-client-server-port={client}",
                             "--node-ip-address=127.0.0.1", "--num-cpus=2", "--include-dashboard=false",
                             "--disable-usage-stats", "--min-worker-port=0", "--max-worker-port=0"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        address_file = Path(folder, "ray", "ray_current_cluster")
        limit = time.monotonic() + 90
        while not address_file.exists() and proc.poll() is None and time.monotonic() < limit:
            time.sleep(0.2)
        assert address_file.exists(), f"ray start --head did not come up (exit code {proc.poll()})"
        yield gcs, client, env
    finally:  # every process `ray start` made is in its session: end them all, and only them
        for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            limit = time.monotonic() + wait
            while time.monotonic() < limit and _group_alive(proc.pid):
                time.sleep(0.2)
        proc.wait(timeout=5)
        subprocess.run(["rm", "-rf", folder], check=False)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _client_server_log(folder: str) -> str:
    """The end of the Ray Client servers' error logs (why a client could not start), for a failure message."""
    logs = sorted(Path(folder).glob("ray/session_latest/logs/ray_client_server*.err"))
    return "".join(f"\n--- {p.name}:\n" + p.read_text(errors="replace")[-1500:] for p in logs)


SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    import ray
    import torchsearch as ts
    from torchsearch.executors import Ray
    from torchsearch.schedulers import Grid

    def job(trial):
        trial.report({"value": float(trial.params["x"]), "pid": float(os.getpid())}, step=0)

    out = {}
    for address in sys.argv[1:]:
        for attempt in (1, 2, 3):
            study = ts.Study(space={"x": ts.Choice([0, 1, 2, 3])}, scheduler=Grid(), metric="value", mode="min",
                             verbose=False)
            try:
                study.run(job, executor=Ray(address=address))
                break
            except ConnectionAbortedError as e:  # a collision with another cluster's Ray Client (module docstring)
                if attempt == 3 or not any(m in str(e) for m in ("Starting Ray client server failed",
                                                                  "Maybe you called ray.init twice")):
                    raise
                print(f"connecting again after: {e}", file=sys.stderr)
                ray.shutdown()
                time.sleep(2)
        out[address] = {"states": [t.state for t in study.trials], "values": sorted(t.value for t in study.trials),
                        "pids": sorted({int(t.metrics["pid"][0]) for t in study.trials}),
                        "gcs": ray.get_runtime_context().gcs_address if not address.startswith("ray://") else None,
                        "client": ray.util.client.ray.is_connected(), "me": os.getpid()}
        ray.shutdown()
    print("RESULT " + json.dumps(out))
""")


@needs_ray
def test_auto_and_ray_client_addresses_join_the_running_cluster_and_run_the_study(head, tmp_path):
    gcs, client, env = head
    script = tmp_path / "join.py"
    script.write_text(SCRIPT)
    client_address = f"ray://127.0.0.1:{client}"
    out = subprocess.run([sys.executable, str(script), "auto", client_address], env=env, capture_output=True,
                         text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:] + _client_server_log(env["RAY_TMPDIR"])
    result = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))[7:])
    auto, remote = result["auto"], result[client_address]
    assert auto["gcs"] == f"127.0.0.1:{gcs}" and not auto["client"]  # "auto" found the head `ray start` made
    assert remote["client"]  # Ray Client mode
    for r in (auto, remote):
        assert r["states"] == ["completed"] * 4 and r["values"] == [0.0, 1.0, 2.0, 3.0]
        assert r["me"] not in r["pids"]  # the trials ran in the cluster's actors, not in the coordinator
