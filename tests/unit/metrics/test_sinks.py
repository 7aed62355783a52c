"""Metrics reach every sink over real protocols: moto's CloudWatch (HTTP), the OCI Monitoring
emulator (signed HTTP, real oci SDK), Airflow's StatsD client (UDP) and the file sink.
A failing sink logs and counts, never raises."""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime, timedelta

import pytest

from multicloud import metrics
from multicloud.estate import load_estate
from multicloud.estate.models import MetricsSink
from multicloud.metrics import core


@pytest.fixture(autouse=True)
def _fresh_clients():
    metrics.reset_clients()
    core.SINK_FAILURES.clear()
    yield
    metrics.reset_clients()


def _estate(*sinks: MetricsSink):
    return load_estate().model_copy(update={"metrics": list(sinks)})


@pytest.fixture
def moto_cloudwatch(moto_server):
    moto_server.connection("aws_moto", region="eu-west-1")
    return moto_server.url


def test_file_sink_round_trip(estate_home):
    metrics.emit("sync.rows", 42, dimensions={"region": "oci-fra"})
    [point] = metrics.read_points(name="sync.rows")
    assert (point.value, point.dimensions) == (42.0, {"region": "oci-fra"})


def test_metrics_reach_moto_cloudwatch(estate_home, moto_cloudwatch):
    import boto3

    estate = _estate(MetricsSink(type="file"),
                     MetricsSink(type="cloudwatch", connection_id="aws_moto", namespace="MultiCloud", region="eu-west-1"))
    metrics.emit("residency.violations", 3, dimensions={"region": "oci-ash"}, estate=estate)
    metrics.emit("dr.rto_seconds", 12.5, unit="seconds", dimensions={"pair": "eu-churn"}, estate=estate)
    assert core.SINK_FAILURES == {}

    client = boto3.client("cloudwatch", endpoint_url=moto_cloudwatch, region_name="eu-west-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    listed = client.list_metrics(Namespace="MultiCloud")["Metrics"]
    assert {(m["MetricName"], m["Dimensions"][0]["Value"]) for m in listed} == {
        ("residency.violations", "oci-ash"), ("dr.rto_seconds", "eu-churn")}
    now = datetime.now(UTC)
    data = client.get_metric_data(
        MetricDataQueries=[{"Id": "rto", "MetricStat": {"Metric": {
            "Namespace": "MultiCloud", "MetricName": "dr.rto_seconds",
            "Dimensions": [{"Name": "pair", "Value": "eu-churn"}]}, "Period": 60, "Stat": "Maximum"}}],
        StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=5))
    assert data["MetricDataResults"][0]["Values"] == [12.5]


def test_metrics_reach_oci_monitoring_emulator(estate_home, oci_emulator, oci_conn):
    from tests.emulators.oci_monitoring import install_monitoring

    accepted = install_monitoring(oci_emulator)
    estate = _estate(MetricsSink(type="oci", connection_id=oci_conn, namespace="multicloud",
                                 compartment_id="ocid1.compartment.oc1..test", region="eu-frankfurt-1"))
    metrics.emit("cost.monthly_usd", 1234.5, unit="usd", dimensions={"cloud": "oci"}, estate=estate)
    metrics.emit("governance.runs", 1, estate=estate)  # no dimensions: the sink must add one
    assert core.SINK_FAILURES == {}
    assert [(m["name"], m["datapoints"][0]["value"], m["dimensions"]) for m in accepted] == [
        ("cost.monthly_usd", 1234.5, {"cloud": "oci"}), ("governance.runs", 1.0, {"source": "multicloud"})]
    [request, _] = oci_emulator.requests_to("POST", r"/20180401/metrics")
    assert request.signed  # the emulator verified the SDK's rsa-sha256 signature with the test key


def test_oci_sink_defaults_to_telemetry_ingestion_endpoint():
    from multicloud.metrics.sinks import oci_endpoint

    assert oci_endpoint("eu-frankfurt-1") == "https://telemetry-ingestion.eu-frankfurt-1.oraclecloud.com"


def test_statsd_sink_sends_through_airflows_stats(estate_home, monkeypatch):
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    try:
        import statsd  # noqa: F401
    except ImportError:
        pytest.fail("the 'statsd' package (Airflow's statsd extra) is missing: lock statsd==4.0.1 in requirements.in")

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(receiver.getsockname()[1]))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "airflow")
    try:
        metrics.emit("sync.rows", 7, estate=_estate(MetricsSink(type="statsd")))
        packet = receiver.recv(4096).decode()
    finally:
        receiver.close()
        monkeypatch.undo()  # back to this process's [metrics] (StatsD off): Stats as it was for later tests
        stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=True)
    assert packet == "airflow.multicloud.sync.rows:7.0|g"
    assert core.SINK_FAILURES == {}


def test_a_failing_sink_logs_and_counts_but_never_raises(estate_home, caplog):
    estate = _estate(MetricsSink(type="file"),
                     MetricsSink(type="cloudwatch", connection_id="no_such_connection", region="eu-west-1"),
                     MetricsSink(type="oci", connection_id="oci_missing"))  # no compartment_id
    with caplog.at_level(logging.WARNING, logger="multicloud.metrics.core"):
        point = metrics.emit("sync.rows", 5, estate=estate)
    assert point.value == 5.0
    assert core.SINK_FAILURES == {"cloudwatch": 1, "oci": 1}
    assert "metrics sink oci failed for sync.rows: ValueError: the oci metrics sink needs compartment_id" in caplog.text
    names = [(p.name, p.dimensions.get("sink")) for p in metrics.read_points()]
    assert names == [("sync.rows", None), ("metrics.sink_failures", "cloudwatch"), ("metrics.sink_failures", "oci")]
