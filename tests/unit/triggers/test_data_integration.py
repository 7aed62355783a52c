"""OCIDataIntegrationTaskRunTrigger: survives a triggerer restart, names its hook, fires one event
per outcome (against the Data Integration emulator through the real, signing oci SDK). The
operator's deferral, restarts and kills are in tests/unit/operators/test_data_integration.py."""

from __future__ import annotations

import time

import pytest

from multicloud.hooks.oci_data_integration import OCIDataIntegrationHook
from multicloud.triggers.data_integration import OCIDataIntegrationTaskRunTrigger
from tests.emulators.oci_data_integration import DataIntegrationEmulator
from tests.unit.triggers.triggerer import events, rebuilt

WS, APP = "ocid1.disworkspace.oc1..ws", "app-1"


@pytest.fixture
def di(oci_emulator):
    return DataIntegrationEmulator(oci_emulator)


def _trigger(oci_conn: str, **kwargs) -> OCIDataIntegrationTaskRunTrigger:
    run = OCIDataIntegrationHook(oci_conn).create_task_run(WS, APP, task_key="task-copy", name="copy-1")
    return rebuilt(OCIDataIntegrationTaskRunTrigger(task_run_key=run.key, workspace_id=WS, application_key=APP,
                                                    oci_conn_id=oci_conn, poll_interval=0.01,
                                                    max_poll_interval=0.02, **kwargs))


def test_serialize_keeps_every_argument_and_names_the_hook_class():
    trigger = rebuilt(OCIDataIntegrationTaskRunTrigger(
        task_run_key="run-1", workspace_id=WS, application_key=APP, timeout_s=600, started_at=1000.0))
    assert OCIDataIntegrationTaskRunTrigger.hook_class is OCIDataIntegrationHook
    kwargs = trigger.serialize()[1]
    assert (kwargs["task_run_key"], kwargs["started_at"], kwargs["timeout_s"]) == ("run-1", 1000.0, 600)
    assert trigger.deadline == 1600.0


def test_a_successful_run_fires_success_with_its_metadata(oci_conn, di):
    di.script("QUEUED", "RUNNING", "SUCCESS")
    (event,) = events(_trigger(oci_conn))
    assert event["status"] == "success"
    assert event["task_run"]["status"] == "SUCCESS"


def test_a_failed_run_fires_an_error_with_the_service_message(oci_conn, di):
    di.script("RUNNING", "ERROR", error="column PARTITION not found")
    (event,) = events(_trigger(oci_conn))
    assert event["status"] == "error"
    assert "column PARTITION not found" in event["message"]


def test_a_run_still_going_at_the_deadline_fires_timeout(oci_conn, di):
    di.script("RUNNING")
    (event,) = events(_trigger(oci_conn, timeout_s=0.2, started_at=time.time()))
    assert event["status"] == "timeout"
    assert event["task_run"]["status"] == "RUNNING"


def test_an_unknown_run_fires_an_error(oci_conn, di):
    trigger = OCIDataIntegrationTaskRunTrigger(task_run_key="taskrun-none", workspace_id=WS, application_key=APP,
                                               oci_conn_id=oci_conn, poll_interval=0.01)
    (event,) = events(trigger)
    assert event["status"] == "error"
    assert "404" in event["message"] or "NotFound" in event["message"]
