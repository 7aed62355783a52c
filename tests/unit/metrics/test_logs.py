"""Structured log entries reach OCI Logging (the emulator, real oci SDK, signed) and CloudWatch
Logs (moto over HTTP, the amazon provider's hook); a failing log sink never fails the caller."""

from __future__ import annotations

import json

import pytest

from multicloud.estate import load_estate
from multicloud.estate.models import LogSink
from multicloud.metrics import logs
from tests.emulators.oci_logging import LoggingIngestionEmulator

LOG_ID = "ocid1.log.oc1.eu-frankfurt-1.multicloud"


@pytest.fixture(autouse=True)
def _fresh():
    logs.reset_clients()
    logs.LOG_SINK_FAILURES.clear()
    yield
    logs.reset_clients()


def _estate(*sinks: LogSink):
    return load_estate().model_copy(update={"logs": list(sinks)})


def test_entries_reach_the_oci_logging_emulator_and_the_file(estate_home, oci_conn, oci_emulator):
    ingestion = LoggingIngestionEmulator(oci_emulator)
    ingestion.add_log(LOG_ID)
    estate = _estate(LogSink(type="file"), LogSink(type="oci", connection_id=oci_conn, log_id=LOG_ID))
    logs.record_many("residency_decision", [
        {"dataset": "customers", "region": "aws-use1", "decision": "deny", "rule": "eu-only"},
        {"dataset": "customers", "region": "oci-fra", "decision": "allow", "rule": "eu-only"}], estate=estate)
    assert logs.LOG_SINK_FAILURES == {}
    stored = ingestion.entries[LOG_ID]
    assert [json.loads(e["data"])["decision"] for e in stored] == ["deny", "allow"]
    assert {(e["source"], e["type"]) for e in stored} == {("multicloud", "multicloud.residency_decision")}
    (push,) = oci_emulator.requests_to("POST", "/actions/push$")
    assert push.signed  # the required headers and x-content-sha256 were checked against the body
    assert [e["decision"] for e in logs.read_entries(estate_home, "residency_decision")] == ["deny", "allow"]


def test_entries_reach_moto_cloudwatch_logs(estate_home, moto_server):
    conn = moto_server.connection("aws_logs", region="eu-west-1")
    estate = _estate(LogSink(type="cloudwatch", connection_id=conn, region="eu-west-1",
                             log_group="/multicloud/events", log_stream="dr"))
    logs.record("rehearsal_step", {"pair": "eu-churn", "step": "failover", "t_s": 1.9}, estate=estate)
    logs.record("rehearsal_step", {"pair": "eu-churn", "step": "fail_back", "t_s": 7.2}, estate=estate)
    assert logs.LOG_SINK_FAILURES == {}
    client = moto_server.client("logs", region="eu-west-1")
    events = client.get_log_events(logGroupName="/multicloud/events", logStreamName="dr", startFromHead=True)
    steps = [json.loads(e["message"]) for e in events["events"]]
    assert [(s["kind"], s["step"]) for s in steps] == [("rehearsal_step", "failover"), ("rehearsal_step", "fail_back")]


def test_a_failing_sink_never_fails_the_caller(estate_home, oci_conn, oci_emulator, caplog):
    LoggingIngestionEmulator(oci_emulator)  # the log does not exist: 404
    estate = _estate(LogSink(type="oci", connection_id=oci_conn, log_id="ocid1.log.oc1..missing"),
                     LogSink(type="file"))
    entry = logs.record("cost_move", {"workload": "churn", "from": "aws-use1", "to": "oci-fra"}, estate=estate)
    assert entry["kind"] == "cost_move"
    assert logs.LOG_SINK_FAILURES == {"oci": 1}
    assert "log sink oci failed" in caplog.text
    assert logs.read_entries(estate_home, "cost_move")[0]["workload"] == "churn"  # the file sink still got it


def test_unknown_kinds_and_incomplete_sinks_are_refused():
    with pytest.raises(ValueError, match="not one of"):
        logs.record("gossip", {})
    with pytest.raises(ValueError, match="needs log_id"):
        LogSink(type="oci")
    with pytest.raises(ValueError, match="needs log_group"):
        LogSink(type="cloudwatch")
