"""Lineage: a task that calls record_transfer emits OpenLineage input/output datasets.

End to end with the real OpenLineage provider and its file transport (no server): a tiny DAG in
a temporary dags folder runs under ``airflow dags test`` in a subprocess, because
tests/conftest.py disables OpenLineage for this pytest process and the provider reads its
configuration once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from urllib.parse import urlsplit

import pytest

from multicloud.lineage import asset_uri, oci_asset_to_openlineage, record_transfer, sanitize_oci_uri

DAG = textwrap.dedent('''
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(dag_id="lineage_probe", schedule=None, start_date=datetime(2026, 1, 1), tags=["test"],
         default_args={"owner": "test", "retries": 0})
    def lineage_probe():
        @task
        def copy_partition():
            from multicloud.lineage import record_transfer
            record_transfer(["file:///estate/storage/onprem-hq/customer-events/dt=2026-11-29"],
                            ["file:///estate/storage/oci-fra/customer-events/dt=2026-11-29",
                             "s3://eu-bucket/customer-events/dt=2026-11-29"], component="routing")
        copy_partition()

    lineage_probe()
''')


def test_asset_uri_forms():
    assert asset_uri("/data/x") == "file:///data/x"
    assert asset_uri("s3://b/k") == "s3://b/k"
    with pytest.raises(ValueError):
        asset_uri("")


def test_record_transfer_outside_a_task_is_harmless():
    assert record_transfer(["/a"], ["/b"]) == 2  # the no-op collector (OpenLineage disabled) accepts them


def test_oci_scheme_is_registered_with_its_handler_and_converter():
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManagerTaskRuntime()
    manager.initialize_providers_asset_uri_resources()
    assert manager.asset_uri_handlers["oci"] is sanitize_oci_uri
    assert manager.asset_to_openlineage_converters["oci"] is oci_asset_to_openlineage
    with pytest.raises(ValueError, match="oci://<bucket>@<namespace>"):
        sanitize_oci_uri(urlsplit("oci://bucket-without-namespace/x"))


def test_oci_converter():
    from airflow.sdk import Asset

    dataset = oci_asset_to_openlineage(Asset(uri="oci://claims@ns1/eu-claims/dt=2026-11-29"), None)
    assert (dataset.namespace, dataset.name) == ("oci://claims@ns1", "eu-claims/dt=2026-11-29")


@pytest.mark.slow
def test_openlineage_file_transport_reports_inputs_and_outputs(airflow_db, tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "lineage_probe.py").write_text(DAG)
    events_file = tmp_path / "lineage" / "events.jsonl"
    events_file.parent.mkdir()
    env = {**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "AIRFLOW__OPENLINEAGE__DISABLED": "False",
           "AIRFLOW__OPENLINEAGE__NAMESPACE": "multicloud-test",
           "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(events_file),
                                                          "append": True})}
    done = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "lineage_probe"], env=env,
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    complete = [e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"].endswith(".copy_partition")]
    assert len(complete) == 1, [(e["eventType"], e["job"]["name"]) for e in events]
    inputs = {(d["namespace"], d["name"]) for d in complete[0]["inputs"]}
    outputs = {(d["namespace"], d["name"]) for d in complete[0]["outputs"]}
    assert inputs == {("file", "/estate/storage/onprem-hq/customer-events/dt=2026-11-29")}
    assert outputs == {("file", "/estate/storage/oci-fra/customer-events/dt=2026-11-29"),
                       ("s3://eu-bucket", "customer-events/dt=2026-11-29")}
