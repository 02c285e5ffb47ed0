"""One local Ray cluster for the Ray tests of this folder (test_ray*.py and the conformance
suite's Ray runs): a head and a worker node of one CPU each, on 127.0.0.1 only. It starts at the
first test that needs it and stops after the last module that does (a cluster per module cost
each module Ray's start-up; one kept to the end of the session would idle beside every test that
comes after). The head also says it has one GPU (there is none: Ray only counts it), for the
fractional-GPU packing test; this process joins the cluster."""

from __future__ import annotations

import os

import pytest

# Ray advertises the machine's outward address unless told otherwise; despite its name this makes
# every Ray process use 127.0.0.1 on Linux too (with node_ip_address below): tests stay on loopback
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

NODE = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "object_store_memory": 80 << 20}
HEAD = {**NODE, "include_dashboard": False, "num_gpus": 1}
_SHARED: dict[str, object] = {}


def pytest_configure(config):
    config.addinivalue_line("markers", "ray_cluster: the test uses the shared Ray cluster without naming the "
                                       "`cluster` fixture (it asks for it through another fixture at run time)")


def two_node_cluster():
    """A head (1 CPU, 1 counted GPU) and a worker node (1 CPU) on 127.0.0.1; this process joins it."""
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, connect=True, head_node_args=HEAD)
    c.add_node(**NODE)
    c.wait_for_nodes()
    return c


def _stop() -> None:
    c = _SHARED.pop("cluster", None)
    if c is not None:
        import ray

        ray.shutdown()
        c.shutdown()


@pytest.fixture(scope="module")
def cluster():
    """The shared two-node cluster (started now if it is not running)."""
    if "cluster" not in _SHARED:
        _SHARED["cluster"] = two_node_cluster()
    return _SHARED["cluster"]


def _uses_cluster(item) -> bool:
    return "cluster" in item.fixturenames or item.get_closest_marker("ray_cluster") is not None


@pytest.fixture(scope="module", autouse=True)
def _stop_the_cluster_after_its_last_module(request):
    yield
    if "cluster" not in _SHARED:
        return
    items = request.session.items
    here = [i for i, item in enumerate(items) if item.module is request.module]
    if not here or not any(_uses_cluster(item) for item in items[max(here) + 1:]):
        _stop()
