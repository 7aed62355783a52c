"""OCIDataIntegrationRunTaskOperator + trigger: the real oci SDK against the loopback emulator."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from multicloud.operators.data_integration import OCIDataIntegrationRunTaskOperator, retry_token
from multicloud.triggers.data_integration import OCIDataIntegrationTaskRunTrigger
from tests.emulators.oci_data_integration import DataIntegrationEmulator


class FakeTI:
    def __init__(self, map_index: int = 0) -> None:
        self.dag_id, self.run_id, self.task_id, self.map_index = "residency_sync", "manual__1", "data_integration", map_index
        self.xcom: dict = {}

    def xcom_push(self, key, value):
        self.xcom[key] = value


@pytest.fixture
def di(oci_emulator):
    return DataIntegrationEmulator(oci_emulator)


def _operator(oci_conn, **kwargs):
    return OCIDataIntegrationRunTaskOperator(
        task_id="data_integration", workspace_id="ocid1.disworkspace.oc1..ws", application_key="app-1",
        task_key="task-copy", bindings={"PARTITION": "dt=2026-03-01/hr=14", "TARGET_REGION": "oci-fra"},
        oci_conn_id=oci_conn, poll_interval=0.01, max_poll_interval=0.02, **kwargs)


def _defer(operator, ti):
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"ti": ti})
    return deferred.value


async def _first_event(trigger):
    async for event in trigger.run():
        return event.payload
    return None


def test_create_running_success(oci_conn, oci_emulator, di):
    operator, ti = _operator(oci_conn), FakeTI()
    deferred = _defer(operator, ti)
    trigger = deferred.trigger
    # the trigger round-trips through serialize (what the triggerer stores)
    classpath, kwargs = trigger.serialize()
    assert classpath == "multicloud.triggers.data_integration.OCIDataIntegrationTaskRunTrigger"
    trigger = OCIDataIntegrationTaskRunTrigger(**kwargs)
    event = asyncio.run(_first_event(trigger))
    assert event["status"] == "success"
    result = operator.execute_complete({"ti": ti}, event)
    assert result["key"] == ti.xcom["task_run_key"] == "taskrun-1"
    assert result["status"] == "SUCCESS"
    assert result["records_written"] == 1234
    assert di.runs["taskrun-1"].history == ["QUEUED", "RUNNING", "SUCCESS"]
    (create,) = oci_emulator.requests_to("POST", "/taskRuns$")
    assert create.signed
    assert create.body["registryMetadata"]["aggregatorKey"] == "task-copy"
    assert create.body["configProvider"]["bindings"]["TARGET_REGION"] == {"simpleValue": "oci-fra"}
    assert create.retry_token == retry_token("residency_sync", "manual__1", "data_integration", 0, None, None)
    assert all(r.signed for r in oci_emulator.requests)


def test_error_fails_with_the_service_message(oci_conn, di):
    di.script("RUNNING", "ERROR", error="ORA-01653: unable to extend table CLAIMS")
    operator, ti = _operator(oci_conn), FakeTI()
    event = asyncio.run(_first_event(_defer(operator, ti).trigger))
    assert event["status"] == "error"
    with pytest.raises(AirflowException, match="ORA-01653: unable to extend table CLAIMS"):
        operator.execute_complete({"ti": ti}, event)


def test_retry_sends_the_same_token_and_gets_the_same_run(oci_conn, oci_emulator, di):
    first = _defer(_operator(oci_conn), FakeTI(map_index=3)).trigger.task_run_key
    second = _defer(_operator(oci_conn), FakeTI(map_index=3)).trigger.task_run_key
    other = _defer(_operator(oci_conn), FakeTI(map_index=4)).trigger.task_run_key
    tokens = [r.retry_token for r in oci_emulator.requests_to("POST", "/taskRuns$")]
    assert tokens[0] == tokens[1] != tokens[2]
    assert first == second != other
    assert len(di.runs) == 2


def test_user_kill_terminates_but_cleanup_does_not(oci_conn, oci_emulator, di):
    di.script("RUNNING")
    trigger = _defer(_operator(oci_conn), FakeTI()).trigger
    asyncio.run(trigger.cleanup())  # a triggerer restart: the remote run must survive
    assert not oci_emulator.requests_to("PUT", "/taskRuns/")
    asyncio.run(trigger.on_kill())  # a user marked the task failed
    (put,) = oci_emulator.requests_to("PUT", "/taskRuns/")
    assert put.body["status"] == "TERMINATING"
    assert put.signed
    assert di.runs[trigger.task_run_key].terminate_requested


def test_worker_side_on_kill_and_non_deferrable_wait(oci_conn, oci_emulator, di):
    operator = _operator(oci_conn, deferrable=False)
    result = operator.execute({"ti": FakeTI()})
    assert result["status"] == "SUCCESS"
    operator.on_kill()
    assert oci_emulator.requests_to("PUT", "/taskRuns/")[0].body["status"] == "TERMINATING"


def test_rerun_only_failed_steps(oci_conn, oci_emulator, di):
    operator = _operator(oci_conn, re_run_type="FAILED", ref_task_run_id="taskrun-earlier")
    _defer(operator, FakeTI())
    (create,) = oci_emulator.requests_to("POST", "/taskRuns$")
    assert (create.body["reRunType"], create.body["refTaskRunId"]) == ("FAILED", "taskrun-earlier")
    with pytest.raises(ValueError, match="needs ref_task_run_id"):
        _operator(oci_conn, re_run_type="FAILED")


def test_timeout_event(oci_conn, di):
    di.script("RUNNING")
    operator = _operator(oci_conn, timeout_s=0.05)
    trigger = _defer(operator, FakeTI()).trigger
    event = asyncio.run(_first_event(trigger))
    assert event["status"] == "timeout"
    with pytest.raises(AirflowException, match="still RUNNING"):
        operator.execute_complete({"ti": SimpleNamespace()}, event)


def test_the_trigger_builds_its_client_once_for_every_poll(oci_conn, di, monkeypatch):
    from multicloud.triggers import data_integration as module

    built = []
    real = module.data_integration_client
    monkeypatch.setattr(module, "data_integration_client", lambda *a: built.append(a) or real(*a))
    trigger = _defer(_operator(oci_conn), FakeTI()).trigger
    assert asyncio.run(_first_event(trigger))["status"] == "success"
    assert len(di.runs[trigger.task_run_key].history) == 3
    assert len(built) == 1
