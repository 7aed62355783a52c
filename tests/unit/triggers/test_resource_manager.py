"""ResourceManagerJobTrigger: survives a triggerer restart, names its hook, fires one event per
outcome, cancels the job only on a user kill (against the Resource Manager emulator through the
real, signing oci SDK). The operator's side is in tests/unit/dr/test_resource_manager.py."""

from __future__ import annotations

import asyncio
import time

import pytest

from multicloud.hooks.oci_resource_manager import OCIResourceManagerHook
from multicloud.triggers.resource_manager import ResourceManagerJobTrigger
from tests.emulators.oci_resource_manager import ResourceManagerEmulator
from tests.unit.triggers.triggerer import events, rebuilt

STACK, BAD = "ocid1.ormstack.oc1..dr", "ocid1.ormstack.oc1..bad"


@pytest.fixture
def orm(oci_emulator):
    return ResourceManagerEmulator(oci_emulator, failing_stacks={BAD}, steps_to_finish=1)


def _trigger(oci_conn: str, stack: str, **kwargs) -> ResourceManagerJobTrigger:
    job = OCIResourceManagerHook(oci_conn).create_job(stack, "APPLY", display_name="dr-ti")
    return rebuilt(ResourceManagerJobTrigger(job_id=job.id, oci_conn_id=oci_conn, poll_interval=0.01,
                                             max_poll_interval=0.02, **kwargs))


def test_serialize_keeps_the_job_and_the_deadline_and_names_the_hook_class():
    trigger = rebuilt(ResourceManagerJobTrigger(job_id="ocid1.ormjob.oc1..j", region="eu-frankfurt-1",
                                                started_at=50.0))
    assert ResourceManagerJobTrigger.hook_class is OCIResourceManagerHook
    kwargs = trigger.serialize()[1]
    assert (kwargs["job_id"], kwargs["region"], kwargs["timeout_s"]) == ("ocid1.ormjob.oc1..j", "eu-frankfurt-1", 3600.0)
    assert trigger.deadline == 3650.0


def test_a_succeeded_job_fires_succeeded_without_a_log_tail(oci_conn, orm):
    (event,) = events(_trigger(oci_conn, STACK))
    assert event["status"] == "SUCCEEDED"
    assert event["operation"] == "APPLY"
    assert "log_tail" not in event


def test_a_failed_job_fires_failed_with_the_reason_and_the_log_tail(oci_conn, orm):
    (event,) = events(_trigger(oci_conn, BAD))
    assert event["status"] == "FAILED"
    assert event["message"] == "terraform apply failed"
    assert any("quota exceeded" in line for line in event["log_tail"])


def test_a_job_running_at_the_deadline_fires_timeout_with_the_log_tail(oci_conn, oci_emulator):
    ResourceManagerEmulator(oci_emulator, steps_to_finish=10_000)
    (event,) = events(_trigger(oci_conn, STACK, timeout_s=0.2, started_at=time.time()))
    assert event["status"] == "timeout"
    assert event["log_tail"]


def test_a_user_kill_cancels_the_job_and_a_restart_does_not(oci_conn, orm, oci_emulator):
    trigger = _trigger(oci_conn, STACK)
    asyncio.run(trigger.cleanup())                    # a triggerer restart
    assert oci_emulator.requests_to("DELETE", r"/jobs/") == []
    asyncio.run(trigger.on_kill())                    # a user marked the task failed
    assert len(oci_emulator.requests_to("DELETE", r"/jobs/")) == 1
    assert orm.jobs[trigger.job_id]["lifecycleState"] == "CANCELING"
