"""OCILoggingIngestionHook against the Logging Ingestion emulator through the real, signing oci SDK."""

from __future__ import annotations

import json

import oci
import pytest

from multicloud.hooks.oci_logging import OCILoggingIngestionHook
from tests.emulators.oci_logging import LoggingIngestionEmulator

LOG = "ocid1.log.oc1..fra"


def test_put_logs_sends_one_signed_batch_of_json_entries(oci_conn, oci_emulator):
    ingestion = LoggingIngestionEmulator(oci_emulator)
    ingestion.add_log(LOG)
    OCILoggingIngestionHook(oci_conn).put_logs(
        LOG, [{"event": "sync", "rows": 3}, {"event": "audit", "ok": True}], source="residency_sync",
        log_type="multicloud.event", subject="run-1")
    entries = ingestion.entries[LOG]
    assert [json.loads(e["data"]) for e in entries] == [{"event": "sync", "rows": 3}, {"event": "audit", "ok": True}]
    assert {(e["source"], e["type"], e["subject"]) for e in entries} == {("residency_sync", "multicloud.event", "run-1")}
    assert len({e["id"] for e in entries}) == 2
    (request,) = oci_emulator.requests_to("POST", r"/logs/.+/actions/push")
    assert request.signed


def test_an_unknown_log_is_an_error_and_nothing_is_stored(oci_conn, oci_emulator):
    ingestion = LoggingIngestionEmulator(oci_emulator)
    with pytest.raises(oci.exceptions.ServiceError) as err:
        OCILoggingIngestionHook(oci_conn).put_logs("ocid1.log.oc1..missing", [{"a": 1}], source="s", log_type="t")
    assert err.value.status == 404
    assert ingestion.entries == {}


def test_an_empty_batch_is_rejected_by_the_service(oci_conn, oci_emulator):
    ingestion = LoggingIngestionEmulator(oci_emulator)
    ingestion.add_log(LOG)
    with pytest.raises(oci.exceptions.ServiceError) as err:
        OCILoggingIngestionHook(oci_conn).put_logs(LOG, [], source="s", log_type="t")
    assert err.value.status == 400
    assert ingestion.entries[LOG] == []
