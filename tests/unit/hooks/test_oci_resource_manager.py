"""OCIResourceManagerHook against the Resource Manager emulator through the real, signing oci SDK."""

from __future__ import annotations

import asyncio
import time

import pytest

from multicloud.hooks.oci import OCIWaiterTimeout
from multicloud.hooks.oci_resource_manager import OCIResourceManagerHook
from tests.emulators.oci_resource_manager import ResourceManagerEmulator

STACK, BAD = "ocid1.ormstack.oc1..dr", "ocid1.ormstack.oc1..bad"


@pytest.fixture
def orm(oci_emulator):
    return ResourceManagerEmulator(oci_emulator, failing_stacks={BAD}, steps_to_finish=1)


def test_an_apply_job_runs_to_success_and_is_found_again_by_name(oci_conn, orm, oci_emulator):
    hook = OCIResourceManagerHook(oci_conn)
    job = hook.create_job(STACK, "APPLY", display_name="dr-ti-1", freeform_tags={"run": "r1"}, retry_token="tok-1")
    assert hook.in_flight_job(STACK, "dr-ti-1").id == job.id
    assert hook.create_job(STACK, "APPLY", display_name="dr-ti-1", freeform_tags={"run": "r1"},
                           retry_token="tok-1").id == job.id          # the retry token re-attaches
    assert hook.job_completion(job.id, poll_interval=0.01).lifecycle_state == "SUCCEEDED"
    assert hook.in_flight_job(STACK, "dr-ti-1") is None
    assert [j.id for j in hook.find_jobs(STACK, "dr-ti-1")] == [job.id]
    assert oci_emulator.requests_to("POST", r"/20180917/jobs")[0].body["jobOperationDetails"] == {
        "operation": "APPLY", "executionPlanStrategy": "AUTO_APPROVED"}
    assert hook.job_log_tail(job.id)[-1].startswith("Apply complete!")


def test_a_failed_job_ends_failed_and_its_log_tail_explains_it(oci_conn, orm):
    hook = OCIResourceManagerHook(oci_conn)
    job = hook.create_job(BAD, "PLAN", display_name="dr-ti-2")
    done = asyncio.run(hook.async_job_completion(job.id, poll_interval=0.01))
    assert done.lifecycle_state == "FAILED"
    assert "quota exceeded" in hook.job_log_tail(job.id, lines=1)[0]


def test_an_unknown_operation_is_refused_before_any_call(oci_conn, orm, oci_emulator):
    with pytest.raises(ValueError, match="PLAN or APPLY"):
        OCIResourceManagerHook(oci_conn).create_job(STACK, "DESTROY", display_name="x")
    assert oci_emulator.requests_to("POST", r"/jobs") == []


def test_cancel_sends_only_for_a_running_job(oci_conn, orm):
    hook = OCIResourceManagerHook(oci_conn)
    job = hook.create_job(STACK, "APPLY", display_name="dr-ti-3")
    assert hook.cancel_job(job.id) is True
    assert hook.job_completion(job.id, poll_interval=0.01).lifecycle_state == "CANCELED"
    assert hook.cancel_job(job.id) is False                    # already terminal
    assert hook.cancel_job("ocid1.ormjob.oc1..gone") is False  # 404: nothing to cancel


def test_a_job_still_running_at_the_deadline_times_out(oci_conn, oci_emulator):
    ResourceManagerEmulator(oci_emulator, steps_to_finish=10_000)
    hook = OCIResourceManagerHook(oci_conn)
    job = hook.create_job(STACK, "APPLY", display_name="dr-ti-4")
    with pytest.raises(OCIWaiterTimeout) as err:
        hook.job_completion(job.id, poll_interval=0.05, deadline=time.time() + 0.3)
    assert err.value.last.lifecycle_state == "IN_PROGRESS"
