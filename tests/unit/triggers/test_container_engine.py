"""OKEWorkRequestTrigger: survives a triggerer restart, names its hook, fires one event per outcome
(against the node-pool emulator through the real, signing oci SDK)."""

from __future__ import annotations

import importlib

import pytest

from multicloud.hooks.oci_container_engine import OCIContainerEngineHook
from multicloud.triggers.container_engine import OKEWorkRequestTrigger
from tests.emulators.oci_container_engine import ContainerEngineEmulator
from tests.unit.triggers.triggerer import events, rebuilt

POOL, BAD = "ocid1.nodepool.oc1..fra", "ocid1.nodepool.oc1..bad"


@pytest.fixture
def oke(oci_emulator):
    engine = ContainerEngineEmulator(oci_emulator, steps_to_finish=1, failing_pools={BAD})
    engine.add_pool(POOL, 3)
    engine.add_pool(BAD, 2)
    return engine


def test_serialize_round_trips_and_names_the_hook_class():
    trigger = rebuilt(OKEWorkRequestTrigger("ocid1.workrequest.oc1..a", "oci_x", poll_interval_s=2.0, timeout_s=90.0))
    assert trigger.serialize()[1] == {"work_request_id": "ocid1.workrequest.oc1..a", "oci_conn_id": "oci_x",
                                      "poll_interval_s": 2.0, "timeout_s": 90.0}
    module, _, name = OKEWorkRequestTrigger.hook_class.rpartition(".")
    assert getattr(importlib.import_module(module), name) is OCIContainerEngineHook


def test_a_finished_resize_fires_succeeded(oci_conn, oke):
    work_request = OCIContainerEngineHook(oci_conn).update_node_pool_size(POOL, 1)
    trigger = rebuilt(OKEWorkRequestTrigger(work_request, oci_conn, poll_interval_s=0.01, timeout_s=5))
    assert events(trigger) == [{"status": "SUCCEEDED", "work_request_id": work_request, "message": ""}]
    assert oke.size(POOL) == 1


def test_a_failed_resize_fires_an_error(oci_conn, oke):
    work_request = OCIContainerEngineHook(oci_conn).update_node_pool_size(BAD, 0)
    (event,) = events(OKEWorkRequestTrigger(work_request, oci_conn, poll_interval_s=0.01, timeout_s=5))
    assert event["status"] == "error"
    assert "FAILED" in event["message"]


def test_a_resize_still_running_at_the_timeout_fires_an_error(oci_conn, oci_emulator):
    engine = ContainerEngineEmulator(oci_emulator, steps_to_finish=10_000)
    engine.add_pool(POOL, 3)
    work_request = OCIContainerEngineHook(oci_conn).update_node_pool_size(POOL, 2)
    (event,) = events(OKEWorkRequestTrigger(work_request, oci_conn, poll_interval_s=0.05, timeout_s=0.2))
    assert event["status"] == "error"
    assert "after 0.2s" in event["message"]
