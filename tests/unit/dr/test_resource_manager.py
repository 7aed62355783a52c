"""ResourceManagerJobOperator, its hook and trigger against the OCI emulator (real SDK, signed).

The same three recoveries as Data Integration: a failed job is followed by a new job on retry,
a crashed worker's in-flight job is re-attached to, a triggerer restart keeps the deadline.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import TaskDeferred

from multicloud.operators.base import INSTANCE_TAG, attempt_token, instance_identity
from multicloud.operators.resource_manager import ResourceManagerJobError, ResourceManagerJobOperator
from multicloud.triggers.resource_manager import ResourceManagerJobTrigger
from multicloud.waiting import wait_until
from tests.emulators.oci_resource_manager import ResourceManagerEmulator

STACK = "ocid1.ormstack.oc1..standby"


@pytest.fixture
def rm(oci_emulator):
    return ResourceManagerEmulator(oci_emulator, failing_stacks={"ocid1.ormstack.oc1..broken"})


def _ti(run_id: str = "manual__1", try_number: int = 1):
    return SimpleNamespace(dag_id="dr_rehearsal", task_id="provision_standby", run_id=run_id, map_index=-1,
                           try_number=try_number)


def _context(run_id: str = "manual__1", try_number: int = 1):
    return {"ti": _ti(run_id, try_number)}


def _operator(conn: str, stack: str = STACK, **kwargs) -> ResourceManagerJobOperator:
    kwargs.setdefault("deferrable", False)
    return ResourceManagerJobOperator(task_id="provision_standby", stack_id=stack, oci_conn_id=conn,
                                      poll_interval=0.01, max_poll_interval=0.02, **kwargs)


def _defer(operator, context) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    return deferred.value


def _rebuilt(trigger):
    classpath, kwargs = trigger.serialize()
    assert classpath == "multicloud.triggers.resource_manager.ResourceManagerJobTrigger"
    return ResourceManagerJobTrigger(**kwargs)


async def _first_event(trigger):
    async for event in trigger.run():
        return event.payload


def test_apply_job_runs_to_success_with_a_retry_token_and_a_name_tag(oci_conn, oci_emulator, rm):
    result = _operator(oci_conn).execute(_context())
    assert result["status"] == "SUCCEEDED"
    (create,) = oci_emulator.requests_to("POST", r"/20180917/jobs$")
    assert create.signed
    assert (create.body["stackId"], create.body["operation"]) == (STACK, "APPLY")
    assert create.body["jobOperationDetails"] == {"operation": "APPLY", "executionPlanStrategy": "AUTO_APPROVED"}
    assert create.retry_token == attempt_token(_ti(), "APPLY")
    assert create.body["freeformTags"] == {INSTANCE_TAG: instance_identity(_ti())}
    assert len(oci_emulator.requests_to("GET", r"/20180917/jobs/[^/]+$")) >= 3  # polled until terminal


def test_failed_job_then_a_retry_succeeds_with_a_new_job(oci_conn, oci_emulator, rm):
    rm.fail_next[STACK] = 1
    with pytest.raises(ResourceManagerJobError, match="FAILED") as failure:
        _operator(oci_conn).execute(_context(try_number=1))
    assert "LimitExceeded" in str(failure.value)  # the job log's last lines explain it
    (logs,) = oci_emulator.requests_to("GET", r"/logs$")
    assert logs.query["sortOrder"] == ["DESC"]
    result = _operator(oci_conn).execute(_context(try_number=2))
    assert result["status"] == "SUCCEEDED"
    assert [j["lifecycleState"] for j in rm.jobs.values()] == ["FAILED", "SUCCEEDED"]
    assert result["job_id"] == list(rm.jobs)[1]
    assert rm.overlaps == []


def test_a_repeated_create_in_one_attempt_gets_the_same_job(oci_conn, rm):
    first = _defer(_operator(oci_conn, deferrable=True), _context()).trigger.job_id
    rm.jobs[first]["lifecycleState"] = "SUCCEEDED"  # not in flight: the token alone must dedupe
    second = _defer(_operator(oci_conn, deferrable=True), _context()).trigger.job_id
    assert first == second
    assert len(rm.jobs) == 1
    _operator(oci_conn).execute(_context("manual__2"))
    assert len(rm.jobs) == 2


def test_worker_crash_while_in_progress_reattaches_to_the_same_job(oci_conn, oci_emulator, rm):
    rm.steps_to_finish = 4
    job_id = _defer(_operator(oci_conn, deferrable=True), _context(try_number=1)).trigger.job_id
    ResourceManagerJobTrigger(job_id=job_id, oci_conn_id=oci_conn).hook.get_job(job_id)  # IN_PROGRESS
    assert rm.jobs[job_id]["lifecycleState"] == "IN_PROGRESS"
    # the worker dies; the retry (another try) finds the job by stack and name and waits for it
    result = _operator(oci_conn).execute(_context(try_number=2))
    assert (result["job_id"], result["status"]) == (job_id, "SUCCEEDED")
    assert len(oci_emulator.requests_to("POST", r"/20180917/jobs$")) == 1
    (listing, *_) = oci_emulator.requests_to("GET", r"/20180917/jobs$")
    assert listing.query["stackId"] == [STACK]


def test_triggerer_restart_keeps_the_original_deadline(oci_conn, oci_emulator, rm):
    rm.steps_to_finish = 10_000
    deferred = _defer(_operator(oci_conn, deferrable=True, timeout_s=0.4), _context())
    assert deferred.timeout.total_seconds() > 0.4
    trigger = _rebuilt(deferred.trigger)

    async def run_until_the_triggerer_stops():
        task = asyncio.ensure_future(_first_event(trigger))
        await asyncio.sleep(0.15)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await trigger.cleanup()

    asyncio.run(run_until_the_triggerer_stops())
    assert wait_until(lambda: time.time() > trigger.deadline, 5)  # down until after the original deadline
    reads_before = len(oci_emulator.requests_to("GET", r"/20180917/jobs/[^/]+$"))
    restarted = _rebuilt(trigger)
    assert restarted.deadline == deferred.trigger.deadline
    payload = asyncio.run(_first_event(restarted))
    assert payload["status"] == "timeout"
    assert payload["log_tail"]
    assert len(oci_emulator.requests_to("GET", r"/20180917/jobs/[^/]+$")) - reads_before == 1
    assert not oci_emulator.requests_to("DELETE", r"/20180917/jobs/")  # a restart never cancels
    with pytest.raises(ResourceManagerJobError, match="timeout"):
        _operator(oci_conn).execute_complete(_context(), payload)


def test_deferred_success_round_trips_through_serialize(oci_conn, rm):
    operator = _operator(oci_conn, deferrable=True)
    trigger = _rebuilt(_defer(operator, _context()).trigger)
    payload = asyncio.run(_first_event(trigger))
    assert payload["status"] == "SUCCEEDED"
    assert operator.execute_complete(_context(), payload)["job_id"] == trigger.job_id


def test_kill_cancels_the_job_worker_side_and_trigger_side(oci_conn, oci_emulator, rm):
    rm.steps_to_finish = 10_000
    operator = _operator(oci_conn, deferrable=True)
    _defer(operator, _context())
    operator.on_kill()
    assert len(oci_emulator.requests_to("DELETE", r"/20180917/jobs/")) == 1
    assert rm.jobs[operator.job_id]["lifecycleState"] == "CANCELING"

    other = _defer(_operator(oci_conn, deferrable=True), _context("manual__2")).trigger
    asyncio.run(other.on_kill())
    assert rm.jobs[other.job_id]["lifecycleState"] == "CANCELING"


def test_no_stack_skips_and_bad_operation_is_refused(oci_conn):
    from airflow.sdk.exceptions import AirflowSkipException

    with pytest.raises(AirflowSkipException):
        _operator(oci_conn, "", skip_without_stack=True).execute(_context())
    with pytest.raises(ValueError, match="PLAN or APPLY"):
        _operator(oci_conn, operation="DESTROY").execute(_context())
