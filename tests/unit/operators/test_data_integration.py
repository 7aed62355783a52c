"""OCIDataIntegrationRunTaskOperator, its hook and trigger: the real oci SDK against the emulator.

The three recoveries the operator owes its users: a failed run is followed by a *new* run on
retry (never the failed one again, never two at once), a crashed worker's in-flight run is
re-attached to, and a triggerer restart keeps the original deadline.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from multicloud.hooks.oci_data_integration import OCIDataIntegrationHook
from multicloud.operators.base import attempt_token, instance_name
from multicloud.operators.data_integration import OCIDataIntegrationRunTaskOperator
from multicloud.triggers.data_integration import OCIDataIntegrationTaskRunTrigger
from multicloud.waiting import wait_until
from tests.emulators.oci_data_integration import DataIntegrationEmulator

WS, APP = "ocid1.disworkspace.oc1..ws", "app-1"


class FakeTI:
    def __init__(self, map_index: int = 0, try_number: int = 1) -> None:
        self.dag_id, self.run_id, self.task_id = "residency_sync", "manual__1", "data_integration"
        self.map_index, self.try_number = map_index, try_number
        self.xcom: dict = {}

    def xcom_push(self, key, value):
        self.xcom[key] = value


@pytest.fixture
def di(oci_emulator):
    return DataIntegrationEmulator(oci_emulator)


def _operator(oci_conn, **kwargs):
    kwargs.setdefault("deferrable", True)
    return OCIDataIntegrationRunTaskOperator(
        task_id="data_integration", workspace_id=WS, application_key=APP,
        task_key="task-copy", bindings={"PARTITION": "dt=2026-03-01/hr=14", "TARGET_REGION": "oci-fra"},
        oci_conn_id=oci_conn, poll_interval=0.01, max_poll_interval=0.02, **kwargs)


def _defer(operator, ti) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"ti": ti})
    return deferred.value


def _rebuilt(trigger):
    """What the triggerer does: store serialize()'s kwargs, import the class path, rebuild."""
    classpath, kwargs = trigger.serialize()
    assert classpath == "multicloud.triggers.data_integration.OCIDataIntegrationTaskRunTrigger"
    return OCIDataIntegrationTaskRunTrigger(**kwargs)


async def _first_event(trigger):
    async for event in trigger.run():
        return event.payload
    return None


def test_create_running_success(oci_conn, oci_emulator, di):
    operator, ti = _operator(oci_conn), FakeTI()
    deferred = _defer(operator, ti)
    event = asyncio.run(_first_event(_rebuilt(deferred.trigger)))
    assert event["status"] == "success"
    result = operator.execute_complete({"ti": ti}, event)
    assert result["key"] == ti.xcom["task_run_key"] == "taskrun-1"
    assert (result["status"], result["records_written"]) == ("SUCCESS", 1234)
    assert di.runs["taskrun-1"].history == ["QUEUED", "RUNNING", "SUCCESS"]
    (create,) = oci_emulator.requests_to("POST", "/taskRuns$")
    assert create.body["registryMetadata"]["aggregatorKey"] == "task-copy"
    assert create.body["configProvider"]["bindings"]["TARGET_REGION"] == {"simpleValue": "oci-fra"}
    assert create.body["name"] == instance_name("task-copy", ti)
    assert create.retry_token == attempt_token(ti, None, None)
    assert all(r.signed for r in oci_emulator.requests)


def test_error_then_a_retry_succeeds_with_a_new_run_never_two_at_once(oci_conn, oci_emulator, di):
    di.script("RUNNING", "ERROR", error="ORA-01653: unable to extend table CLAIMS")
    first_try = FakeTI(try_number=1)
    operator = _operator(oci_conn)
    event = asyncio.run(_first_event(_defer(operator, first_try).trigger))
    with pytest.raises(AirflowException, match="ORA-01653: unable to extend table CLAIMS"):
        operator.execute_complete({"ti": first_try}, event)
    # the same attempt repeating its create (e.g. an API retry) gets the same run back
    assert _defer(_operator(oci_conn), FakeTI(try_number=1)).trigger.task_run_key == "taskrun-1"

    second_try = FakeTI(try_number=2)
    retry = _operator(oci_conn)
    event = asyncio.run(_first_event(_defer(retry, second_try).trigger))
    assert retry.execute_complete({"ti": second_try}, event)["status"] == "SUCCESS"
    assert event["task_run_key"] == "taskrun-2"
    assert [di.runs[k].status for k in ("taskrun-1", "taskrun-2")] == ["ERROR", "SUCCESS"]
    assert di.runs["taskrun-1"].name == di.runs["taskrun-2"].name  # one task instance, one name
    tokens = {r.retry_token for r in oci_emulator.requests_to("POST", "/taskRuns$")}
    assert len(tokens) == 2  # one per attempt
    assert di.overlaps == []


def test_a_retry_reruns_only_the_failed_steps_when_asked(oci_conn, oci_emulator, di):
    di.script("ERROR", error="step load_claims failed")
    operator = _operator(oci_conn, deferrable=False, rerun_failed_on_retry=True)
    with pytest.raises(AirflowException, match="step load_claims failed"):
        operator.execute({"ti": FakeTI(try_number=1)})
    assert operator.execute({"ti": FakeTI(try_number=2)})["status"] == "SUCCESS"
    creates = oci_emulator.requests_to("POST", "/taskRuns$")
    assert [(c.body.get("reRunType"), c.body.get("refTaskRunId")) for c in creates] == [
        (None, None), ("FAILED", "taskrun-1")]


def test_worker_crash_while_running_reattaches_to_the_same_run(oci_conn, oci_emulator, di):
    di.script("QUEUED", "RUNNING", "RUNNING", "RUNNING", "SUCCESS")
    _defer(_operator(oci_conn), FakeTI(try_number=1))
    hook = OCIDataIntegrationHook(oci_conn_id=oci_conn)
    hook.get_task_run(WS, APP, "taskrun-1")
    assert hook.get_task_run(WS, APP, "taskrun-1").status == "RUNNING"
    # the worker dies here; Airflow retries the task instance on another worker
    result = _operator(oci_conn, deferrable=False).execute({"ti": FakeTI(try_number=2)})
    assert (result["key"], result["status"]) == ("taskrun-1", "SUCCESS")
    assert len(oci_emulator.requests_to("POST", "/taskRuns$")) == 1
    assert list(di.runs) == ["taskrun-1"]
    (listing, *_) = oci_emulator.requests_to("GET", "/taskRuns$")
    assert listing.query["name"] == [instance_name("task-copy", FakeTI())]


def test_triggerer_restart_keeps_the_original_deadline(oci_conn, oci_emulator, di):
    di.script("RUNNING")  # never finishes
    operator = _operator(oci_conn, timeout_s=0.4)
    deferred = _defer(operator, FakeTI())
    assert deferred.timeout is not None
    assert deferred.timeout.total_seconds() > 0.4  # the task-level backstop
    trigger = _rebuilt(deferred.trigger)

    async def run_until_the_triggerer_stops():
        task = asyncio.ensure_future(_first_event(trigger))
        await asyncio.sleep(0.15)
        task.cancel()  # the triggerer process goes away
        await asyncio.gather(task, return_exceptions=True)
        await trigger.cleanup()

    asyncio.run(run_until_the_triggerer_stops())
    assert wait_until(lambda: time.time() > trigger.deadline, 5)  # down until after the original deadline
    reads_before = len(oci_emulator.requests_to("GET", "/taskRuns/"))
    restarted = _rebuilt(trigger)
    assert restarted.started_at == trigger.started_at == deferred.trigger.started_at
    event = asyncio.run(_first_event(restarted))
    assert event["status"] == "timeout"
    # one read after the restart, then the deadline (a restarted clock would poll for 0.4 s more)
    assert len(oci_emulator.requests_to("GET", "/taskRuns/")) - reads_before == 1
    assert not oci_emulator.requests_to("PUT", "/taskRuns/")  # the restart never stopped the run
    with pytest.raises(AirflowException, match="still RUNNING"):
        operator.execute_complete({"ti": SimpleNamespace()}, event)


def test_user_kill_terminates_but_cleanup_does_not(oci_conn, oci_emulator, di):
    di.script("RUNNING")
    trigger = _defer(_operator(oci_conn), FakeTI()).trigger
    asyncio.run(trigger.cleanup())  # a triggerer restart: the remote run must survive
    assert not oci_emulator.requests_to("PUT", "/taskRuns/")
    asyncio.run(trigger.on_kill())  # a user marked the task failed
    (put,) = oci_emulator.requests_to("PUT", "/taskRuns/")
    assert put.body["status"] == "TERMINATING"
    assert di.runs[trigger.task_run_key].terminate_requested


def test_worker_side_on_kill_terminates_the_run(oci_conn, oci_emulator, di):
    di.script("RUNNING")
    operator = _operator(oci_conn)
    _defer(operator, FakeTI())
    operator.on_kill()  # killed on the worker, before the trigger took over
    (put,) = oci_emulator.requests_to("PUT", "/taskRuns/")
    assert put.body["status"] == "TERMINATING"


def test_rerun_arguments_are_checked(oci_conn, oci_emulator, di):
    with pytest.raises(ValueError, match="needs ref_task_run_id"):
        _operator(oci_conn, re_run_type="FAILED")
    with pytest.raises(ValueError, match="re_run_type must be one of"):
        _operator(oci_conn, re_run_type="SOMETIMES")


def test_the_trigger_builds_its_hook_once_for_every_poll(oci_conn, di, monkeypatch):
    built = []
    real = OCIDataIntegrationHook.get_client
    monkeypatch.setattr(OCIDataIntegrationHook, "get_client", lambda self, *a, **k: built.append(a) or real(self, *a, **k))
    trigger = _rebuilt(_defer(_operator(oci_conn), FakeTI()).trigger)
    built.clear()  # the operator's own client
    assert asyncio.run(_first_event(trigger))["status"] == "success"
    assert len(di.runs[trigger.task_run_key].history) == 3
    assert len(built) == 1


def test_deferrable_defaults_to_the_airflow_setting(oci_conn, monkeypatch):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert OCIDataIntegrationRunTaskOperator(task_id="t", workspace_id=WS, application_key=APP,
                                             task_key="k").deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert OCIDataIntegrationRunTaskOperator(task_id="t", workspace_id=WS, application_key=APP,
                                             task_key="k").deferrable is False
    assert "oci_conn_id" in OCIDataIntegrationRunTaskOperator.template_fields
    assert OCIDataIntegrationRunTaskOperator.template_fields_renderers == {"bindings": "json"}
