"""residency_sync with an OCI Data Integration dataset, end to end with dag.test().

customer-events (record-routed by country) is switched to ``engine: oci-data-integration``. The
DI emulator stands in for the published task: when a run succeeds it writes the rows the
``JURISDICTIONS`` binding allows (or, in the unit test below, leaks every row). What must hold:
quarantined rows stay at the source, the target is validated like the fsspec path, an Asset event
per (dataset, region) is published and model_training is queued by it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from multicloud.estate import load_estate
from multicloud.sync.planner import countries_of

RUN = datetime(2026, 3, 4, 11, tzinfo=UTC)
HOUR = RUN - timedelta(hours=1)
EU = {"DE", "FR", "NL", "IE", "ES", "IT", "PL", "SE"}


def _bindings(run) -> dict[str, str]:
    return {k: v["simpleValue"] for k, v in run.body["configProvider"]["bindings"].items()}


def the_published_task(estate, *, leak: bool = False):
    """What a correct (or a leaking) OCI task does with its bindings, on file:// storage."""

    def run_task(run) -> None:
        b = _bindings(run)
        table = pq.read_table(Path(urlsplit(b["SOURCE_URL"]).path))
        if b.get("JURISDICTIONS") and not leak:
            allowed = pa.array(sorted(countries_of(estate, b["JURISDICTIONS"].split(","))))
            table = table.filter(pc.fill_null(pc.is_in(table[b["ROUTING_COLUMN"]], value_set=allowed), False))
        target = Path(urlsplit(b["TARGET_URL"]).path)
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target / "part-00000.parquet")

    return run_task


def _estate_file(tmp_path, oci_conn) -> Path:
    from multicloud.paths import DEFAULT_ESTATE_FILE

    raw = yaml.safe_load(DEFAULT_ESTATE_FILE.read_text())
    (events,) = [d for d in raw["datasets"] if d["id"] == "customer-events"]
    events["engine"] = "oci-data-integration"
    events["data_integration"] = {"connection_id": oci_conn, "workspace_id": "ocid1.disworkspace.oc1..ws",
                                  "application_key": "app-1", "task_key": "route-events"}
    path = tmp_path / "estate-di.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def dags(airflow_db):
    """residency_sync to run (dag.test writes the dags folder's DAGs, model_training included, to the DB)."""
    from tests.dags.dag_files import load_dag

    dag = load_dag("residency_sync", retries=0)
    # the DAG polls every 15 s (a real task run takes minutes); the emulated one is done at once
    dag.get_task("data_integration").partial_kwargs.update(poll_interval=0.05, max_poll_interval=0.1)
    return dag


def _queued_for(dag_id: str) -> set[str]:
    from airflow.models.asset import AssetDagRunQueue, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(select(AssetModel.uri).join(AssetDagRunQueue, AssetDagRunQueue.asset_id == AssetModel.id)
                               .where(AssetDagRunQueue.target_dag_id == dag_id)).all()
    return {r[0] for r in rows}


def test_a_data_integration_dataset_keeps_every_guarantee(dags, estate_home, tmp_path, oci_conn, oci_emulator,
                                                          monkeypatch):
    from multicloud.reports import latest_summary
    from multicloud.sync.demo_data import write_source_partitions
    from tests.dags.test_residency_sync import _asset_events, _countries, _partition
    from tests.emulators.oci_data_integration import DataIntegrationEmulator

    estate_file = _estate_file(tmp_path, oci_conn)
    monkeypatch.setenv("MULTICLOUD_ESTATE_FILES_ALLOWED", str(estate_file))  # the deployment's allowlist
    estate = load_estate(estate_file, home=estate_home)
    write_source_partitions(estate, HOUR, rows=600, files=2)
    di = DataIntegrationEmulator(oci_emulator)
    di.on_success = the_published_task(estate)

    run = dags.test(logical_date=RUN, run_conf={"datasets": ["customer-events"], "regions": ["oci-fra", "oci-lon"],
                                                "estate_file": str(estate_file)})
    assert run.state == "success"

    creates = oci_emulator.requests_to("POST", "/taskRuns$")
    targets = {_bindings(type("R", (), {"body": c.body})())["TARGET_REGION"] for c in creates}
    assert targets == {"oci-fra", "oci-lon"}  # one task run per region; none for the quarantine
    assert all("_quarantine" not in c.body["configProvider"]["bindings"]["TARGET_URL"]["simpleValue"]
               for c in creates)
    assert all(c.signed for c in creates)
    # quarantined rows were routed at the source, never handed to OCI
    quarantine = estate_home / "storage" / "onprem-hq" / "_quarantine" / "customer-events" / HOUR.strftime(
        "dt=%Y-%m-%d/hr=%H")
    assert _countries(quarantine) == {"CA", "XX", None}
    assert _countries(_partition(estate_home, "oci-fra", HOUR)) <= EU
    assert _countries(_partition(estate_home, "oci-lon", HOUR)) == {"GB"}
    # an Asset event per (dataset, region), and model_training (trains churn-eu on oci-fra) is queued
    assert {"x-multicloud://customer-events/oci-fra", "x-multicloud://customer-events/oci-lon"} <= _asset_events(run.run_id)
    assert "x-multicloud://customer-events/oci-fra" in _queued_for("model_training")
    summary = latest_summary("residency_sync", estate_home)
    assert "OCI Data Integration: 2/2 task runs succeeded" in summary["headline"]
    assert summary["data"]["failed"] == []
    assert summary["data"]["landed"]["oci-lon"]["customer-events"] > 0  # validated rows, not the task's claim
    assert summary["data"]["quarantined"]["customer-events"] > 0


def test_a_task_that_ignores_the_jurisdiction_filter_is_caught_at_the_target(estate_home, tmp_path, oci_conn):
    from multicloud.residency.policy import ResidencyPolicy
    from multicloud.sync import data_integration
    from multicloud.sync.demo_data import write_source_partitions
    from multicloud.sync.planner import plan_sync
    from multicloud.sync.validation import ValidationFailed

    estate = load_estate(_estate_file(tmp_path, oci_conn), home=estate_home)
    write_source_partitions(estate, HOUR, rows=400, files=1)
    plan = plan_sync(estate, ResidencyPolicy.from_estate(estate), HOUR, datasets=["customer-events"],
                     regions=["oci-lon"], interval_end=RUN)
    fsspec, handed = data_integration.split_items(plan.items)
    assert [i.kind for i in fsspec] == ["quarantine"]
    (item,) = handed
    kwargs = data_integration.operator_kwargs(estate, item, "manual__leak")
    leaking = the_published_task(estate, leak=True)
    leaking(type("R", (), {"body": {"configProvider": {"bindings": {
        k: {"simpleValue": v} for k, v in kwargs["bindings"].items()}}}})())
    with pytest.raises(ValidationFailed, match="oci-lon"):
        data_integration.land(estate, item, "manual__leak", {"key": "taskrun-x"})
    with pytest.raises(ValueError, match="never leave the source"):
        data_integration.operator_kwargs(estate, fsspec[0], "manual__leak")
