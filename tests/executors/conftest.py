"""One local Ray cluster for every Ray test of this folder (test_ray*.py and the conformance
suite): a head and a worker node of one CPU each, on 127.0.0.1 only, started at the first test
that needs it and shut down at the end of the session (a cluster per module cost each module
Ray's start-up). The head also says it has one GPU (there is none: Ray only counts it), for the
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


def two_node_cluster():
    """A head (1 CPU, 1 counted GPU) and a worker node (1 CPU) on 127.0.0.1; this process joins it."""
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, connect=True, head_node_args=HEAD)
    c.add_node(**NODE)
    c.wait_for_nodes()
    return c


@pytest.fixture(scope="session")
def cluster():
    import ray

    c = two_node_cluster()
    yield c
    ray.shutdown()
    c.shutdown()
