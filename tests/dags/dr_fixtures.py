"""A served local estate for DR tests: real model servers (local driver) and replicated data.

The churn-eu model (a real logistic-regression artifact in the serving format) runs on the DR
pair's primary (oke-fra) and secondary (gke-euw4) clusters as real processes on loopback;
customer-events partitions sit in both regions' storage, the secondary's newest event 10 minutes
older than the primary's (so RPO = 600 s). Teardown stops every process the estate home started.
"""

from __future__ import annotations

import json
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from multicloud.drivers import ModelDeployment
from multicloud.drivers.local import LocalClusterDriver, stop_all_servers
from multicloud.serving.model import LogisticModel
from multicloud.sync.layout import CUSTOMER_EVENT_FEATURES, partition_url

PAIR_CLUSTERS = {"oci-fra": "oke-fra", "gcp-euw4": "gke-euw4"}
NEWEST_EVENT = datetime(2026, 11, 29, 10, 40, tzinfo=UTC)
REPLICA_LAG = timedelta(minutes=10)


def write_model(estate, version: str = "v1") -> str:
    model = LogisticModel(model="churn-eu", version=version, data_class="eu-personal",
                          features=CUSTOMER_EVENT_FEATURES, mean=(12.0, 80.0, 1.2, 36.0), scale=(3.5, 55.0, 1.1, 20.0),
                          coef=(-0.8, -0.4, 0.9, -0.6), intercept=-0.5)
    root = Path(estate.region("oci-fra").storage.url.removeprefix("file://")) / "models" / "churn-eu" / version
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.json").write_text(model.to_json())
    (root / "card.json").write_text(json.dumps({"model": "churn-eu", "version": version,
                                                "smoke_cases": smoke_cases(model)}))
    return f"file://{root}"


def smoke_cases(model: LogisticModel) -> list[dict]:
    """Model-card smoke cases: instances with the answers the model must give (both classes)."""
    instances = [{"sessions_30d": 2, "spend_30d": 5.0, "support_tickets_90d": 4, "tenure_months": 2},
                 {"sessions_30d": 25, "spend_30d": 200.0, "support_tickets_90d": 0, "tenure_months": 60}]
    return [{"instance": i, "expected": model.predict(i)} for i in instances]


def write_events(estate, region_id: str, newest: datetime) -> None:
    url = partition_url(estate, region_id, "customer-events", newest.replace(minute=0))
    folder = Path(url.removeprefix("file://"))
    folder.mkdir(parents=True, exist_ok=True)
    times = [newest - timedelta(minutes=m) for m in (30, 20, 0)]
    pq.write_table(pa.table({"event_id": ["a", "b", "c"], "country": ["DE"] * 3, "event_time": times}),
                   folder / "part-00000.parquet")


def serve_pair(estate, home: Path, version: str = "v1") -> dict[str, LocalClusterDriver]:
    uri = write_model(estate, version)
    write_events(estate, "oci-fra", NEWEST_EVENT)
    write_events(estate, "gcp-euw4", NEWEST_EVENT - REPLICA_LAG)
    drivers = {}
    for cluster in PAIR_CLUSTERS.values():
        driver = LocalClusterDriver(cluster, home)
        driver.deploy(ModelDeployment("churn-eu", version, 1, uri, runtime=estate.runtime.model_dump(mode="json")))
        assert driver.wait_ready("churn-eu", version, 30).state == "complete"
        drivers[cluster] = driver
    return drivers


def crash(driver: LocalClusterDriver) -> list[int]:
    """Kill a cluster's servers behind its driver's back (a crash, not a scale-down)."""
    pids = driver.pids()
    for pid in pids:
        os.killpg(pid, signal.SIGKILL)
    return pids


def teardown(home: Path) -> None:
    import json

    from multicloud.dr.gateway import stop_gateway
    from multicloud.dr.ledger import dr_state_dir
    from multicloud.dr.probe import stop_probe

    for ledger in dr_state_dir(home).glob("ledger-*.json"):
        for entry in json.loads(ledger.read_text())["entries"]:
            if entry["kind"] == "probe_started":
                stop_probe(entry["undo"].get("pid"), Path(entry["undo"]["file"]))
    stop_gateway(home)
    stop_all_servers(home=home)
