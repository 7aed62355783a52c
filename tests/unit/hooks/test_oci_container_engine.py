"""OCIContainerEngineHook against the node-pool emulator through the real, signing oci SDK."""

from __future__ import annotations

import asyncio

import pytest

from multicloud.hooks.oci_container_engine import NodePoolWorkRequestError, OCIContainerEngineHook
from tests.emulators.oci_container_engine import ContainerEngineEmulator

POOL = "ocid1.nodepool.oc1..fra"


@pytest.fixture
def oke(oci_emulator):
    engine = ContainerEngineEmulator(oci_emulator, steps_to_finish=1, failing_pools={"ocid1.nodepool.oc1..bad"})
    engine.add_pool(POOL, 3)
    engine.add_pool("ocid1.nodepool.oc1..bad", 2)
    return engine


def test_resize_waits_for_the_work_request_and_the_nodes_change(oci_conn, oke, oci_emulator):
    hook = OCIContainerEngineHook(oci_conn)
    assert hook.get_node_pool_size(POOL) == 3
    work_request = hook.update_node_pool_size(POOL, 1)
    assert oke.size(POOL) == 3                     # nothing changes until the work request finishes
    assert hook.wait_for_work_request(work_request, poll_interval_s=0.01, timeout_s=5) == "SUCCEEDED"
    assert hook.get_node_pool_size(POOL) == 1
    assert hook.count_active_nodes(POOL) == 1
    put = oci_emulator.requests_to("PUT", r"/nodePools/")[0]
    assert put.signed
    assert put.body == {"nodeConfigDetails": {"size": 1}}


def test_async_wait_and_failures(oci_conn, oke):
    hook = OCIContainerEngineHook(oci_conn)
    work_request = hook.update_node_pool_size(POOL, 5)
    import oci

    with pytest.raises(oci.exceptions.ServiceError, match=r"Conflict|in progress"):   # OKE refuses a second concurrent resize
        hook.update_node_pool_size(POOL, 6)
    assert asyncio.run(hook.async_wait_for_work_request(work_request, poll_interval_s=0.01, timeout_s=5)) == "SUCCEEDED"
    assert oke.active_nodes(POOL) == 5
    failing = hook.update_node_pool_size("ocid1.nodepool.oc1..bad", 0)
    with pytest.raises(NodePoolWorkRequestError, match="FAILED"):
        hook.wait_for_work_request(failing, poll_interval_s=0.01, timeout_s=5)
    with pytest.raises(ValueError, match=">= 0"):
        hook.update_node_pool_size(POOL, -1)


def test_a_work_request_still_running_at_the_timeout_is_an_error_naming_its_state(oci_conn, oci_emulator):
    engine = ContainerEngineEmulator(oci_emulator, steps_to_finish=10_000)
    engine.add_pool(POOL, 3)
    hook = OCIContainerEngineHook(oci_conn)
    work_request = hook.update_node_pool_size(POOL, 2)
    with pytest.raises(NodePoolWorkRequestError, match=r"still (ACCEPTED|IN_PROGRESS) after 0.2s"):
        hook.wait_for_work_request(work_request, poll_interval_s=0.05, timeout_s=0.2)
    with pytest.raises(NodePoolWorkRequestError, match=r"still (ACCEPTED|IN_PROGRESS) after 0.2s"):
        asyncio.run(hook.async_wait_for_work_request(work_request, poll_interval_s=0.05, timeout_s=0.2))
    assert engine.size(POOL) == 3
