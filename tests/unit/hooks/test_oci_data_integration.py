"""OCIDataIntegrationHook against the Data Integration emulator through the real, signing oci SDK:
create, find by name (what a retry re-attaches to), wait, terminate; what a failed run says."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from multicloud.hooks.oci import OCIWaiterTimeout
from multicloud.hooks.oci_data_integration import OCIDataIntegrationHook, failure_message, task_run_metadata
from tests.emulators.oci_data_integration import DataIntegrationEmulator

WS, APP = "ocid1.disworkspace.oc1..ws", "app-1"


@pytest.fixture
def di(oci_emulator):
    return DataIntegrationEmulator(oci_emulator)


def test_a_run_is_created_with_its_bindings_and_found_again_by_name(oci_conn, di, oci_emulator):
    di.script("QUEUED", "RUNNING", "SUCCESS")
    hook = OCIDataIntegrationHook(oci_conn)
    run = hook.create_task_run(WS, APP, task_key="task-copy", name="copy-af1", bindings={"PARTITION": "hr=14"},
                               retry_token="tok")
    assert hook.in_flight_task_run(WS, APP, "copy-af1").key == run.key
    done = hook.task_run_completion(WS, APP, run.key, poll_interval=0.01)
    assert done.status == "SUCCESS"
    assert hook.in_flight_task_run(WS, APP, "copy-af1") is None
    assert [r.key for r in hook.find_task_runs(WS, APP, "copy-af1")] == [run.key]
    (create,) = oci_emulator.requests_to("POST", "/taskRuns$")
    assert create.signed
    assert create.body["configProvider"]["bindings"]["PARTITION"] == {"simpleValue": "hr=14"}
    metadata = task_run_metadata(done)
    assert (metadata["status"], metadata["records_written"]) == ("SUCCESS", 1234)


def test_a_failed_run_is_explained_by_the_service(oci_conn, di):
    di.script("RUNNING", "ERROR", error="column PARTITION not found")
    hook = OCIDataIntegrationHook(oci_conn)
    run = hook.create_task_run(WS, APP, task_key="task-copy", name="copy-af2")
    done = hook.task_run_completion(WS, APP, run.key, poll_interval=0.01)
    assert done.status == "ERROR"
    assert "column PARTITION not found" in failure_message(done)
    assert failure_message(SimpleNamespace(status="TERMINATED")) == (
        "task run ended in state TERMINATED without an error message")


def test_terminate_ends_a_running_run(oci_conn, di):
    di.script("RUNNING")
    hook = OCIDataIntegrationHook(oci_conn)
    run = hook.create_task_run(WS, APP, task_key="task-copy", name="copy-af3")
    hook.terminate_task_run(WS, APP, run.key)
    assert hook.task_run_completion(WS, APP, run.key, poll_interval=0.01).status == "TERMINATED"


def test_a_run_still_going_at_the_deadline_times_out(oci_conn, di):
    di.script("RUNNING")
    hook = OCIDataIntegrationHook(oci_conn)
    run = hook.create_task_run(WS, APP, task_key="task-copy", name="copy-af4")
    with pytest.raises(OCIWaiterTimeout) as err:
        hook.task_run_completion(WS, APP, run.key, poll_interval=0.05, deadline=time.time() + 0.3)
    assert err.value.last.status == "RUNNING"


def test_an_unknown_rerun_type_is_refused_before_any_call(oci_conn, di, oci_emulator):
    with pytest.raises(ValueError, match="re_run_type must be one of"):
        OCIDataIntegrationHook(oci_conn).create_task_run(WS, APP, task_key="t", re_run_type="SOMETIMES")
    assert oci_emulator.requests_to("POST", "/taskRuns") == []
