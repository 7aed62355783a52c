"""A Data Integration dataset through residency_sync under the real scheduler (e2e tier).

The real-scheduler harness (tests/harness/airflow.py: api-server, scheduler, dag-processor,
triggerer; LocalExecutor on a copy of the migrated SQLite template, free ports) runs the
project's dags/ with an estate whose ``customer-events`` is moved by an OCI Data Integration task
(``engine: oci-data-integration``). The workers and the triggerer reach the signature-checking
OCI emulator of this test process through an ``oci`` connection given to the deployment as an
environment variable, exactly as a deployment would configure it. The emulator stands in for
the published task: when a task run succeeds it writes the rows the ``JURISDICTIONS`` binding
allows (``the_published_task``), so what the target holds is what a correct task would write.

Written against behaviour, not task ids (the DAG's task shape may change): the run's state,
the emulator's task runs, the objects in storage, the audit log, the Asset events the REST API
lists for the run, and the model_training run those events start.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from multicloud.estate import load_estate
from multicloud.metrics.logs import read_entries
from multicloud.paths import DEFAULT_ESTATE_FILE
from multicloud.reports import latest_summary
from multicloud.sync.audit import read_audit
from multicloud.sync.demo_data import write_source_partitions
from tests.dags.test_residency_sync import _countries, _partition
from tests.dags.test_residency_sync_data_integration import EU, _bindings, the_published_task
from tests.harness.airflow import AirflowInstance, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(1500)]

HOUR = datetime(2026, 3, 4, 10, tzinfo=UTC)
REGIONS = ["oci-fra", "oci-lon", "aws-use1"]  # churn-eu trains on oci-fra, churn-us on aws-use1
PARTITION = HOUR.strftime("dt=%Y-%m-%d/hr=%H")


@contextmanager
def _started(af: AirflowInstance, timeout: float):
    af.start(timeout=timeout)
    try:
        yield af
    finally:
        af.stop()


def _bound(create) -> dict[str, str]:
    return _bindings(type("R", (), {"body": create.body})())


def _upstream_from(af, training_run_id: str, sync_run_id: str) -> set[str]:
    events = af.api("GET", f"/api/v2/dags/model_training/dagRuns/{training_run_id}/upstreamAssetEvents")
    return {e["uri"] for e in events["asset_events"] if e["source_run_id"] == sync_run_id}


def _di_estate(path, conn_id: str):
    raw = yaml.safe_load(DEFAULT_ESTATE_FILE.read_text())
    (events,) = [d for d in raw["datasets"] if d["id"] == "customer-events"]
    events["engine"] = "oci-data-integration"
    events["data_integration"] = {"connection_id": conn_id, "workspace_id": "ocid1.disworkspace.oc1..ws",
                                  "application_key": "app-1", "task_key": "route-events"}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_a_data_integration_dataset_under_the_scheduler_keeps_every_guarantee(tmp_path, airflow_db_template, oci_conn,
                                                                               oci_emulator):
    import os

    from tests.emulators.oci_data_integration import DataIntegrationEmulator

    estate_file = _di_estate(tmp_path / "estate-di.yaml", oci_conn)
    # The deployment's start date is the current hour: the scheduler's first own run waits for this
    # hour to end, so unpausing (trigger does) starts no scheduled run that competes for the 4 slots.
    this_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    af = AirflowInstance(tmp_path / "deployment", db_template=airflow_db_template, extra_env={
        "MULTICLOUD_ESTATE": str(estate_file), "MULTICLOUD_RESIDENCY_SYNC_START_DATE": this_hour.isoformat(),
        f"AIRFLOW_CONN_{oci_conn.upper()}": os.environ[f"AIRFLOW_CONN_{oci_conn.upper()}"],
        # parsing takes minutes, not seconds, at a load average of 30 (2 cores, several engineers)
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "180", "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "240",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())})
    estate = load_estate(estate_file, home=af.estate_home)
    write_source_partitions(estate, HOUR, rows=600, files=2)
    di = DataIntegrationEmulator(oci_emulator)
    di.on_success = the_published_task(estate)

    with _started(af, timeout=600):  # a loaded 2-core machine can take minutes to bring the api-server up
        af.wait_for_dags(["residency_sync", "model_training"])
        af.unpause("model_training")  # a deployment runs it unpaused: it is scheduled on the sync's Assets
        run_id = af.trigger("residency_sync", conf={"datasets": ["customer-events"], "regions": REGIONS,
                                                    "interval_start": HOUR.isoformat().replace("+00:00", "Z")})
        af.wait_for_run("residency_sync", run_id, timeout=900)
        assert [r["run_type"] for r in af.runs("residency_sync")
                if datetime.fromisoformat(r["run_after"]) < this_hour + timedelta(hours=1)] == ["manual"]

        # one task run per target region, signed, none for the quarantine, never two at once (the
        # scheduler's own run of the current hour, started by the unpause, is told apart by partition)
        creates = [c for c in oci_emulator.requests_to("POST", "/taskRuns$") if _bound(c)["PARTITION"] == PARTITION]
        assert all(c.signed for c in creates)
        assert sorted(_bound(c)["TARGET_REGION"] for c in creates) == sorted(REGIONS)
        assert not any("_quarantine" in _bound(c)["TARGET_URL"] for c in creates)
        assert di.overlaps == []

        # quarantine respected: those rows stayed in the source's own quarantine
        quarantine = af.estate_home / "storage" / "onprem-hq" / "_quarantine" / "customer-events" / HOUR.strftime(
            "dt=%Y-%m-%d/hr=%H")
        assert _countries(quarantine) == {"CA", "XX", None}
        assert _countries(_partition(af.estate_home, "oci-fra", HOUR)) <= EU
        assert _countries(_partition(af.estate_home, "oci-lon", HOUR)) == {"GB"}
        assert _countries(_partition(af.estate_home, "aws-use1", HOUR)) == {"US"}
        # audited: every residency decision of the run as a structured log entry, denials in the audit log
        decisions = [e for e in read_entries(af.estate_home, kind="residency_decision") if e.get("run_id") == run_id]
        assert {(e["region"], e["decision"]) for e in decisions if e.get("engine") == "oci-data-integration"} >= {
            ("oci-fra", "allow"), ("oci-lon", "allow"), ("aws-use1", "allow")}, decisions
        assert any(e["decision"] == "quarantine" for e in decisions), decisions
        denials = [e for e in read_audit(af.estate_home) if e.get("run_id") == run_id]
        assert denials, "no residency denial recorded for the run"
        assert all(e["dataset"] == "customer-events" and e["outcome"] in ("denied", "would-deny") for e in denials)

        # target validated (rows the router allows, keys, residency expectation), not the task's claim
        summary = latest_summary("residency_sync", af.estate_home)
        assert summary["data"]["failed"] == [], summary
        assert all(summary["data"]["landed"][r]["customer-events"] > 0 for r in REGIONS), summary["data"]["landed"]
        assert summary["data"]["quarantined"]["customer-events"] > 0

        # an Asset event per (dataset, region), listed by the REST API for this run
        events = af.api("GET", "/api/v2/assets/events", params={"source_dag_id": "residency_sync",
                                                                 "source_run_id": run_id, "limit": 100})
        published = {e["uri"] for e in events["asset_events"] if e["source_run_id"] == run_id}
        assert {f"x-multicloud://customer-events/{r}" for r in REGIONS} <= published, published
        assert all((e["extra"] or {}).get("engine") == "oci-data-integration"
                   for e in events["asset_events"] if e["uri"].startswith("x-multicloud://customer-events/")), events

        # model_training starts on those Assets (nobody triggers it) and trains
        trained = af.wait_for_runs("model_training", lambda runs: [r for r in runs if r["run_type"] == "asset_triggered"],
                                   timeout=300, what="an asset-triggered model_training run")
        ours = [r for r in trained if {"x-multicloud://customer-events/oci-fra", "x-multicloud://customer-events/aws-use1"}
                <= _upstream_from(af, r["dag_run_id"], run_id)]
        assert ours, f"no model_training run was started by this run's Asset events: {trained}"
        af.wait_for_run("model_training", ours[0]["dag_run_id"], timeout=600)
