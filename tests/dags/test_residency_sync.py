"""residency_sync end to end with dag.test() on the local estate.

Scope is kept small for CPU (customer-events to oci-fra and oci-lon, eu-claims refused to oci-ash);
the full estate runs in `make demo`.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from multicloud.estate import load_estate
from multicloud.reports import latest_summary
from multicloud.sync.audit import read_audit
from multicloud.sync.demo_data import write_source_partitions

CONF = {"datasets": ["customer-events", "eu-claims"], "regions": ["oci-fra", "oci-lon", "oci-ash"]}
# logical date T runs the interval [T-1h, T): its partition is hr of T-1h
RUN_A = datetime(2026, 3, 1, 11, tzinfo=UTC)
RUN_B = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def dag(airflow_db):
    from tests.dags.dag_files import load_dag

    dag = load_dag("residency_sync")
    for task_id in ("sync", "summarize"):
        dag.get_task(task_id).retries = 1
        dag.get_task(task_id).retry_delay = timedelta(0)
    return dag


def _partition(home, region, interval_start, dataset="customer-events"):
    return home / "storage" / region / dataset / interval_start.strftime("dt=%Y-%m-%d/hr=%H")


def _countries(folder) -> set:
    return {c for p in folder.glob("*.parquet") for c in pc.unique(pq.read_table(p)["country"]).to_pylist()}


def _asset_events(run_id: str) -> set[str]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetModel.uri).join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
            .where(AssetEvent.source_run_id == run_id)).all()
    return {r[0] for r in rows}


def _sync_labels(run_id: str) -> set[str]:
    """The names the UI shows for the run's mapped ``sync`` instances (their map_index_template)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(select(TaskInstance.rendered_map_index).where(
            TaskInstance.run_id == run_id, TaskInstance.task_id == "sync")).all()
    return {r[0] for r in rows}


def test_outage_then_backfill_lands_each_interval_exactly_once(dag, estate_home):
    estate = load_estate(home=estate_home)
    for run in (RUN_A, RUN_B):
        write_source_partitions(estate, run - timedelta(hours=1), rows=600, files=2)

    # interval A: data lands only where allowed
    run_a = dag.test(logical_date=RUN_A, run_conf=CONF)
    assert run_a.state == "success"
    hour_a = RUN_A - timedelta(hours=1)
    assert _countries(_partition(estate_home, "oci-lon", hour_a)) == {"GB"}
    fra = _countries(_partition(estate_home, "oci-fra", hour_a))
    assert fra
    assert fra <= {"DE", "FR", "NL", "IE", "ES", "IT", "PL", "SE"}
    assert not (estate_home / "storage" / "oci-ash" / "eu-claims").exists()  # denied, never copied
    quarantine = estate_home / "storage" / "onprem-hq" / "_quarantine" / "customer-events" / hour_a.strftime(
        "dt=%Y-%m-%d/hr=%H")
    assert _countries(quarantine) == {"CA", "XX", None}
    assert {"x-multicloud://customer-events/oci-fra", "x-multicloud://customer-events/oci-lon",
            "x-multicloud://customer-events/oci-ash"} <= _asset_events(run_a.run_id)
    assert ("eu-claims", "oci-ash", "denied") in {(x["dataset"], x["region"], x["outcome"])
                                                    for x in read_audit(estate_home)}
    # each region's instance is named after its shard, from its own argument (no context written)
    assert _sync_labels(run_a.run_id) == {f"{r} (1 items)" for r in ("oci-fra", "oci-lon", "oci-ash", "onprem-hq")}
    headline = latest_summary("residency_sync", estate_home)["headline"]
    assert any("oci-lon" in line for line in headline)
    assert any("quarantined" in line for line in headline)

    # interval B: oci-lon's storage is down (its root is not a directory): the run fails, clearly
    lon = estate_home / "storage" / "oci-lon"
    shutil.move(lon, estate_home / "lon-offline")
    lon.write_text("outage")
    run_b = dag.test(logical_date=RUN_B, run_conf=CONF)
    assert run_b.state == "failed"
    summary = latest_summary("residency_sync", estate_home)
    assert summary["data"]["failed"] == ["customer-events→oci-lon"]
    failure = next(o for o in summary["data"]["outcomes"].values() if o["status"] == "failed")
    assert "RegionUnavailable" in failure["error"]
    assert "oci-lon" in failure["error"]
    assert "x-multicloud://customer-events/oci-lon" not in _asset_events(run_b.run_id)
    assert "x-multicloud://customer-events/oci-fra" in _asset_events(run_b.run_id)

    # the region is back: replaying the failed interval (what `airflow backfill create` does) converges;
    # interval A is untouched and B lands once (reruns of an unchanged interval: tests/unit/sync/test_runner.py)
    lon.unlink()
    shutil.move(estate_home / "lon-offline", lon)
    assert dag.test(logical_date=RUN_B, run_conf=CONF).state == "success"
    for run in (RUN_A, RUN_B):
        hour = run - timedelta(hours=1)
        folder = _partition(estate_home, "oci-lon", hour)
        files = sorted(p.name for p in folder.glob("*.parquet"))
        assert files == ["part-00000.parquet", "part-00001.parquet"]
        rows = pq.read_table(folder)["event_id"].to_pylist()
        assert len(rows) == len(set(rows)) > 0  # present exactly once, no duplicates
        source = pq.read_table(_partition(estate_home, "onprem-hq", hour))
        expected = source.filter(pc.equal(source["country"], "GB"))["event_id"].to_pylist()
        assert sorted(rows) == sorted(expected)
