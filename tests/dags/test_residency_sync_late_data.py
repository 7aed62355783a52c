"""Late source data on a live estate: residency_sync waits for it (one deferral), then names it.

dag.test() runs the deferred ``await_sources`` through its trigger inline, as the triggerer would.
The estate is the local one with ``arrival_timeout_s`` set per dataset and no demo source
producer (``MULTICLOUD_LOCAL_SOURCES=off``: like a real estate, nothing invents source data).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from multicloud.reports import latest_summary
from multicloud.sync.sources import produce_local_sources
from tests.dags.dag_files import load_dag

START = datetime(2026, 3, 2, 7, tzinfo=UTC)
CONF = {"datasets": ["customer-events", "telemetry"], "regions": ["oci-fra", "oci-lon"],
        "interval_start": START.strftime("%Y-%m-%dT%H:00:00Z")}
TIMEOUT_S = 4


@pytest.fixture
def live_estate(make_live_estate):
    estate = make_live_estate(lambda dataset: TIMEOUT_S)
    assert produce_local_sources(estate, START, ["customer-events"])  # telemetry's source is late
    return estate


@pytest.fixture(scope="module")
def dag(airflow_db):
    return load_dag("residency_sync", retries=0)


def _landed(home, region: str, dataset: str) -> bool:
    return any((home / "storage" / region / dataset / START.strftime("dt=%Y-%m-%d/hr=%H")).glob("*.parquet"))


def test_a_late_partition_fails_the_run_naming_it_while_the_other_dataset_syncs(dag, live_estate, estate_home):
    started = time.monotonic()
    run = dag.test(run_conf=CONF)
    assert time.monotonic() - started >= TIMEOUT_S  # it waited for the partition
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["await_sources"] == "success"  # late data is not a crash of the wait
    assert states["plan"] == "success"
    assert _landed(estate_home, "oci-fra", "customer-events")
    assert not _landed(estate_home, "oci-lon", "telemetry")
    failed = latest_summary("residency_sync", estate_home)["data"]["failed"]
    assert any(f.startswith("telemetry: source partition dt=2026-03-02/hr=07 in gcp-euw4 is late") for f in failed), \
        failed
    assert not any(f.startswith("customer-events") for f in failed), failed


def test_a_partition_that_arrives_during_the_wait_is_synced(dag, live_estate, estate_home):
    arrival = threading.Timer(1.0, produce_local_sources, args=(live_estate, START, ["telemetry"]))
    arrival.start()
    try:
        run = dag.test(run_conf=CONF)
    finally:
        arrival.join()
    assert run.state == "success"
    assert _landed(estate_home, "oci-lon", "telemetry")
    assert _landed(estate_home, "oci-fra", "customer-events")
    assert latest_summary("residency_sync", estate_home)["data"]["late"] == []


def test_the_trigger_serializes_completely_and_keeps_its_deadlines():
    from multicloud.triggers.source_partitions import SourcePartitionsTrigger

    partition = {"dataset": "telemetry", "region": "gcp-euw4", "partition": "dt=2026-03-02/hr=07",
                 "url": "file:///nowhere/telemetry/dt=2026-03-02/hr=07", "connection_id": None, "s3_compat": None,
                 "timeout_s": 4.0, "deadline": time.time() - 1}
    path, kwargs = SourcePartitionsTrigger(partitions=[partition], poll_interval=2).serialize()
    rebuilt = SourcePartitionsTrigger(**kwargs)
    assert path == "multicloud.triggers.source_partitions.SourcePartitionsTrigger"
    assert rebuilt.partitions == [partition]

    import asyncio

    async def first_event():
        async for event in rebuilt.run():
            return event.payload

    payload = asyncio.run(asyncio.wait_for(first_event(), timeout=10))
    assert payload == {"arrived": [], "late": [partition]}  # past its deadline: late at the first check


def test_source_partitions_follow_the_planner_choice(live_estate):
    from multicloud.sync.sources import source_partitions

    found = source_partitions(live_estate, START, START + timedelta(hours=1), None, ["oci-lon"])
    by_dataset = {p["dataset"]: p for p in found}
    assert by_dataset["telemetry"]["region"] == "gcp-euw4"
    assert by_dataset["telemetry"]["partition"] == "dt=2026-03-02/hr=07"
    assert by_dataset["telemetry"]["timeout_s"] == TIMEOUT_S
    assert all("oci-lon" in live_estate.targets_of(live_estate.dataset(d)) for d in by_dataset)
