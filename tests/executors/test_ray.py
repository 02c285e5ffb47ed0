"""Ray: long-lived actors on the session's two-node local cluster (conftest.py, loopback only),
reused across trials and studies; a killed actor; the object store's one put per kept state; the
worker loop's frozen heap (gc.freeze, the same in Processes workers).
(PBT on Ray, its states through the object store: the conformance suite, test_conformance.py; node
loss, retries, Ctrl+C and a killed coordinator: test_ray_faults.py; fractional GPUs:
test_ray_gpus.py; joining with "auto" and "ray://": test_ray_client.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import torchsearch as ts
from torchsearch.executors.ray import Ray, _Store
from torchsearch.schedulers import Grid
from tests.pbt_models import MisbehavingJob, RendezvousJob

try:
    import ray
except ImportError:  # pragma: no cover - depends on the environment
    ray = None

needs_ray = pytest.mark.skipif(ray is None, reason='needs Ray: pip install "torchsearch[ray]"')
X = {"x": ts.Choice([0, 1, 2, 3])}


@pytest.fixture(scope="module")
def pool(cluster):
    """Two actors (one per node) shared by the tests of this module (the cluster: conftest.py)."""
    with Ray() as ex:
        yield ex


class Steps:
    """Reports ``steps`` evaluations, ``pause`` seconds apart; writes its pid to ``folder/<number>``."""

    def __init__(self, folder: str | None = None, steps: int = 10, pause: float = 0.05) -> None:
        self.folder, self.steps, self.pause = folder, steps, pause

    def __call__(self, trial):
        if self.folder:
            Path(self.folder, str(trial.number)).write_text(str(os.getpid()))
        for step in range(1, self.steps + 1):
            time.sleep(self.pause)
            trial.report({"value": float(step)}, step=step, final=step == self.steps)
        return None


def quick(trial):
    trial.report({"value": float(trial.params["x"])}, step=0)


# -- without a cluster ----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"cpus_per_trial": -1}, r"cpus_per_trial must be a number >= 0, got cpus_per_trial=-1"),
    ({"gpus_per_trial": "one"}, r"gpus_per_trial must be a number >= 0, got gpus_per_trial='one'"),
    ({"gpus_per_trial": 1.5}, r"gpus_per_trial above 1 must be a whole number, got gpus_per_trial=1.5"),
    ({"cpus_per_trial": 0}, r"cpus_per_trial=0 and gpus_per_trial=0 would let Ray start any number"),
    ({"max_concurrent": 0}, r"max_concurrent must be an int >= 1 or None, got max_concurrent=0"),
    ({"max_retries": -1}, r"max_retries must be an int >= 0, got max_retries=-1"),
    ({"address": 6379}, r"address must be None, 'auto' or 'ray://host:port', got address=6379"),
])
def test_bad_arguments_name_the_parameter_and_what_is_allowed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Ray(**kwargs)


def test_importing_torchsearch_never_imports_ray():
    code = "import sys, torchsearch, torchsearch.executors as e; e.Ray; assert 'ray' not in sys.modules, 'ray imported'"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_a_kept_state_is_put_into_the_object_store_once_however_many_copy_it():
    class FakeRay:
        def put(self, blob):
            return ("ref", len(blob))

    store = _Store(FakeRay())
    a, b = b"a" * 10, b"b" * 20
    refs = [store.put(a), store.put(a), store.put(b), store.put(a)]
    assert store.puts == 2
    assert [r[1] for r in refs] == [("ref", 10), ("ref", 10), ("ref", 20), ("ref", 10)]
    assert len({r[0] for r in refs}) == 4  # each delivery has its own key


# -- on the two-node cluster -------------------------------------------------------------------------
@needs_ray
def test_trials_run_at_once_in_actors_on_both_nodes_and_actors_are_reused(tmp_path, pool):
    study = ts.Study(space=X, scheduler=Grid(), metric="value", mode="min", storage=str(tmp_path / "db"),
                     verbose=False)
    folder = tmp_path / "marks"
    folder.mkdir()
    study.run(RendezvousJob(str(folder), n=2), n_trials=2, executor=pool)
    (a, b) = [(t.metrics["start"][0], t.metrics["end"][0], t.metrics["pid"][0]) for t in study.trials]
    assert [t.state for t in study.trials] == ["completed", "completed"]
    assert max(a[0], b[0]) < min(a[1], b[1])  # both ran at the same time
    assert a[2] != b[2] and os.getpid() not in (a[2], b[2])
    assert len({w.where["node_id"] for w in pool._workers}) == 2  # one actor on each node
    pids = {w.where["pid"] for w in pool._workers}
    again = ts.Study(space=X, scheduler=Grid(), metric="value", mode="min", verbose=False)
    again.run(quick, executor=pool)
    assert [t.state for t in again.trials] == ["completed"] * 4
    assert {w.where["pid"] for w in pool._workers} == pids  # no actor was started per trial


@needs_ray
def test_a_killed_actor_fails_only_its_trial_with_the_reason_and_the_study_finishes(pool):
    study = ts.Study(space=X, scheduler=Grid(), metric="value", mode="min", verbose=False)
    study.run(MisbehavingJob(), executor=pool)
    by_x = {t.params["x"]: t for t in study.trials}
    assert sorted(by_x) == [0, 1, 2, 3]
    assert by_x[1].state == "failed" and "the Ray actor of slot" in by_x[1].error and "died" in by_x[1].error
    assert "while running trial 1" in by_x[1].error
    assert by_x[2].state == "failed" and by_x[2].error == "ValueError: bad luck on purpose"
    assert by_x[0].state == by_x[3].state == "completed"


@needs_ray
def test_asha_pauses_and_promotes_on_ray_actors_and_promoted_trials_resume_exactly(pool):
    # issue 14: a pruner needs no change for Ray. A trial paused at a rung may be promoted on the
    # other actor: its reports must still be those of the same trial trained without pausing.
    from tests.pruners.test_study_pruners import check_promotions_resume_exactly, curves, run
    from torchsearch.pruners import ASHA

    unpruned = curves(run(None))
    study = run(ASHA(), executor=pool)
    reached = {t.number: max(t.metrics["mse"]) for t in study.trials}
    assert len(study.trials) == 9 and max(reached.values()) == 9
    assert any(t.stop_code == "pruned" for t in study.trials)
    check_promotions_resume_exactly(study, unpruned)


def frozen(trial):
    """Reports how many objects this process has taken out of the cyclic GC (gc.freeze), and where."""
    import gc

    trial.report({"value": float(trial.params["x"]), "frozen": float(gc.get_freeze_count()), "pid": float(os.getpid()),
                  "at": time.time()}, step=0)


@needs_ray
def test_a_worker_takes_its_imports_out_of_the_cyclic_gc_from_its_second_trial_on(pool):
    study = ts.Study(space=X, scheduler=Grid(), metric="value", mode="min", verbose=False)
    study.run(frozen, executor=pool)
    runs: dict[float, list[tuple[float, float]]] = {}
    for t in study.trials:
        runs.setdefault(t.metrics["pid"][0], []).append((t.metrics["at"][0], t.metrics["frozen"][0]))
    later = [f for r in runs.values() for _, f in sorted(r)[1:]]  # (an actor's first run here may be its first ever)
    assert later, "4 trials on 2 actors: one of them ran two"
    assert all(f > 10_000 for f in later)  # torch alone is over 100,000 objects


@needs_ray
def test_the_cluster_and_the_coordinator_listen_on_loopback_only(pool):
    # (what `ss -ltnp` shows, for the processes of this test: Ray's daemons, workers and the actors)
    psutil = pytest.importorskip("psutil")
    me = psutil.Process()
    listening = []
    for p in [me, *me.children(recursive=True)]:
        try:
            conns = p.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        listening += [(p.name(), c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN]
    assert any(port == pool._listener.address[1] for _, _, port in listening)  # the coordinator's socket is seen
    assert len(listening) > 3  # and Ray's (gcs_server, raylets, workers)
    assert [x for x in listening if not _loopback(x[1])] == []


def _loopback(address: str) -> bool:
    import ipaddress

    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)
