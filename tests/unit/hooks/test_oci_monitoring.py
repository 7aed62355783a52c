"""OCIMonitoringHook against the Monitoring ingestion emulator through the real, signing oci SDK."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from oci.monitoring.models import Datapoint, MetricDataDetails

from multicloud.hooks.oci_monitoring import OCIMonitoringHook, ingestion_endpoint
from tests.emulators.oci_monitoring import install_monitoring

COMPARTMENT = "ocid1.compartment.oc1..mc"


def _metric(namespace: str = "multicloud", value: float = 1.0) -> MetricDataDetails:
    return MetricDataDetails(namespace=namespace, compartment_id=COMPARTMENT, name="sync_rows",
                             dimensions={"region": "oci-fra"},
                             datapoints=[Datapoint(timestamp=datetime.now(UTC), value=value)])


def test_metrics_are_posted_signed_to_the_connection_endpoint(oci_conn, oci_emulator):
    accepted = install_monitoring(oci_emulator)
    OCIMonitoringHook(oci_conn).post_metric_data([_metric(value=7.0)])
    assert [(m["name"], m["datapoints"][0]["value"]) for m in accepted] == [("sync_rows", 7.0)]
    (request,) = oci_emulator.requests_to("POST", r"/20180401/metrics")
    assert request.signed


def test_a_rejected_metric_fails_the_call(oci_conn, oci_emulator):
    accepted = install_monitoring(oci_emulator)
    with pytest.raises(RuntimeError, match="rejected 1 metric"):
        OCIMonitoringHook(oci_conn).post_metric_data([_metric(), _metric(namespace="oci_reserved")])
    assert len(accepted) == 1


def test_without_an_endpoint_override_the_ingestion_endpoint_is_used(oci_conn, monkeypatch):
    import json
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_OCI_TEST"])
    conn["extra"]["service_endpoints"].pop("monitoring")
    monkeypatch.setenv("AIRFLOW_CONN_OCI_TEST", json.dumps(conn))
    client = OCIMonitoringHook(oci_conn).conn
    assert client.base_client.endpoint.startswith(ingestion_endpoint("eu-frankfurt-1"))
