"""ResourceManagerJobOperator + trigger against the OCI emulator on loopback (real SDK, signed)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import TaskDeferred

from multicloud.operators.resource_manager import ResourceManagerJobError, ResourceManagerJobOperator, retry_token
from multicloud.triggers.resource_manager import ResourceManagerJobTrigger
from tests.emulators.oci_resource_manager import ResourceManagerEmulator

STACK = "ocid1.ormstack.oc1..standby"


@pytest.fixture
def rm(oci_emulator):
    return ResourceManagerEmulator(oci_emulator, failing_stacks={"ocid1.ormstack.oc1..broken"})


def _context(run_id: str = "manual__1"):
    return {"ti": SimpleNamespace(dag_id="dr_rehearsal", task_id="provision_standby", run_id=run_id, map_index=-1)}


def _operator(conn: str, stack: str = STACK, **kwargs) -> ResourceManagerJobOperator:
    return ResourceManagerJobOperator(task_id="provision_standby", stack_id=stack, oci_conn_id=conn,
                                      poll_interval_s=0.01, **kwargs)


def test_apply_job_runs_to_success_with_a_retry_token(oci_conn, oci_emulator, rm):
    result = _operator(oci_conn, deferrable=False).execute(_context())
    assert result["status"] == "SUCCEEDED"
    (create,) = oci_emulator.requests_to("POST", r"/20180917/jobs$")
    assert create.signed
    assert create.body["stackId"] == STACK
    assert create.body["operation"] == "APPLY"
    assert create.body["jobOperationDetails"] == {"operation": "APPLY", "executionPlanStrategy": "AUTO_APPROVED"}
    assert create.retry_token == retry_token("dr_rehearsal", "provision_standby", "manual__1")
    assert len(oci_emulator.requests_to("GET", r"/20180917/jobs/[^/]+$")) >= 3  # polled until terminal


def test_a_retried_task_gets_the_same_job_not_a_second_one(oci_conn, rm):
    first = _operator(oci_conn, deferrable=False).execute(_context())
    second = _operator(oci_conn, deferrable=False).execute(_context())
    assert first["job_id"] == second["job_id"]
    assert len(rm.jobs) == 1
    _operator(oci_conn, deferrable=False).execute(_context("manual__2"))
    assert len(rm.jobs) == 2


def test_failed_job_fails_the_task_with_the_last_log_lines(oci_conn, oci_emulator, rm):
    with pytest.raises(ResourceManagerJobError, match="FAILED") as failure:
        _operator(oci_conn, "ocid1.ormstack.oc1..broken", deferrable=False).execute(_context())
    assert "LimitExceeded" in str(failure.value)
    (logs,) = oci_emulator.requests_to("GET", r"/logs$")
    assert logs.query["sortOrder"] == ["DESC"]


def test_deferrable_mode_defers_with_a_serializable_trigger(oci_conn, rm):
    with pytest.raises(TaskDeferred) as deferred:
        _operator(oci_conn).execute(_context())
    trigger = deferred.value.trigger
    classpath, kwargs = trigger.serialize()
    assert classpath == "multicloud.triggers.resource_manager.ResourceManagerJobTrigger"
    rebuilt = ResourceManagerJobTrigger(**kwargs)

    async def first_event():
        async for event in rebuilt.run():
            return event.payload

    payload = asyncio.run(first_event())
    assert payload["status"] == "SUCCEEDED"
    assert _operator(oci_conn).execute_complete(_context(), payload)["job_id"] == kwargs["job_id"]


def test_trigger_times_out_with_the_log_tail(oci_conn, rm):
    rm.steps_to_finish = 10_000
    operator = _operator(oci_conn, deferrable=True)
    with pytest.raises(TaskDeferred):
        operator.execute(_context())
    trigger = ResourceManagerJobTrigger(operator.job_id, oci_conn, poll_interval_s=0.01, timeout_s=0.05)

    async def first_event():
        async for event in trigger.run():
            return event.payload

    payload = asyncio.run(first_event())
    assert payload["status"] == "timeout"
    assert payload["log_tail"]


def test_kill_cancels_the_job_worker_side_and_trigger_side(oci_conn, oci_emulator, rm):
    rm.steps_to_finish = 10_000
    operator = _operator(oci_conn)
    with pytest.raises(TaskDeferred):
        operator.execute(_context())
    operator.on_kill()
    assert len(oci_emulator.requests_to("DELETE", r"/20180917/jobs/")) == 1
    assert rm.jobs[operator.job_id]["lifecycleState"] == "CANCELING"

    other = _operator(oci_conn)
    with pytest.raises(TaskDeferred):
        other.execute(_context("manual__2"))
    asyncio.run(ResourceManagerJobTrigger(other.job_id, oci_conn).on_kill())
    assert rm.jobs[other.job_id]["lifecycleState"] == "CANCELING"


def test_no_stack_skips_and_bad_operation_is_refused(oci_conn):
    from airflow.sdk.exceptions import AirflowSkipException

    with pytest.raises(AirflowSkipException):
        _operator(oci_conn, "", skip_without_stack=True).execute(_context())
    with pytest.raises(ValueError, match="PLAN or APPLY"):
        _operator(oci_conn, operation="DESTROY").execute(_context())
