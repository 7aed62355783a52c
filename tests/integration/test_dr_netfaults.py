"""Network faults for object storage and links: the fault proxy between the project and a real S3
server (SeaweedFS), and the rehearsal's storage fault on an ``s3://`` DR pair.

1. ``FaultProxy`` on a link (a region pair's replication path) in front of SeaweedFS, through the
   real S3 client: pass, latency, reset, blackhole, and back to pass with every object intact.
2. A DR pair whose regions keep their objects in ``s3://`` buckets, the primary's storage
   connection pointing at its fault proxy (a separate process, as a rehearsal task would find it):
   ``faults.take_storage_offline`` (the rehearsal's injection) blackholes the primary's storage,
   the promoted write target (the secondary, direct) keeps taking writes, and the ledger's undo
   brings the primary back with every object as before.
"""

from __future__ import annotations

import json
import time

import botocore.config
import botocore.exceptions
import botocore.session
import pytest

from multicloud.dr import faults, netfaults
from multicloud.dr.ledger import FaultLedger, dr_state_dir
from multicloud.dr.rehearsal import undo_handlers
from multicloud.dr.write_targets import set_write_target, write_target
from multicloud.estate import load_estate
from multicloud.paths import DEFAULT_ESTATE_FILE
from multicloud.sync.storage import s3_storage_options
from tests.seaweedfs import ACCESS, SECRET, make_bucket, seaweedfs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
BUCKET = "dr-pair"


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory):
    with seaweedfs(tmp_path_factory.mktemp("seaweed-dr")) as endpoint:
        make_bucket(endpoint, BUCKET)
        yield endpoint


def _client(endpoint: str):
    """The S3 client as a storage reader configures it: short timeouts, no silent retries."""
    config = botocore.config.Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1})
    return botocore.session.get_session().create_client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET, config=config)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_a_link_proxy_passes_delays_resets_and_blackholes_real_s3_traffic(seaweed, tmp_path):
    control = tmp_path / "oci-fra--gcp-euw4.fault.json"
    proxy = netfaults.FaultProxy(("127.0.0.1", _port(seaweed)), control).start()
    client = _client(f"http://127.0.0.1:{proxy.port}")
    try:
        client.put_object(Bucket=BUCKET, Key="link/a.json", Body=b'{"a": 1}')
        assert client.get_object(Bucket=BUCKET, Key="link/a.json")["Body"].read() == b'{"a": 1}'

        netfaults.write_fault(control, netfaults.Fault("latency", latency_s=0.3))
        started = time.monotonic()
        client.head_object(Bucket=BUCKET, Key="link/a.json")
        assert time.monotonic() - started >= 0.3  # a slow WAN link: each chunk waits

        netfaults.write_fault(control, netfaults.Fault("reset"))
        started = time.monotonic()
        with pytest.raises((botocore.exceptions.ConnectionClosedError, botocore.exceptions.ConnectionError)):
            client.get_object(Bucket=BUCKET, Key="link/a.json")
        assert time.monotonic() - started < 1.0  # a reset fails at once, no timeout

        netfaults.write_fault(control, netfaults.Fault("blackhole"))
        started = time.monotonic()
        with pytest.raises((botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError)):
            client.get_object(Bucket=BUCKET, Key="link/a.json")
        assert time.monotonic() - started >= 1.0  # a partition: the client waits for its own timeout

        netfaults.write_fault(control, netfaults.Fault())
        assert client.get_object(Bucket=BUCKET, Key="link/a.json")["Body"].read() == b'{"a": 1}'
    finally:
        proxy.stop()


def test_a_bad_fault_is_refused_naming_the_mode():
    with pytest.raises(ValueError, match="'flaky' is not one of"):
        netfaults.Fault("flaky")


def _s3_estate(tmp_path, home, monkeypatch, primary_endpoint: str, secondary_endpoint: str):
    for name, endpoint in (("S3_FRA", primary_endpoint), ("S3_EUW4", secondary_endpoint)):
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps({
            "conn_type": "aws", "login": ACCESS, "password": SECRET,
            "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}))
    text = DEFAULT_ESTATE_FILE.read_text()
    for region, conn in (("oci-fra", "s3_fra"), ("gcp-euw4", "s3_euw4")):
        old = f'storage: {{url: "file://{{estate_home}}/storage/{region}"}}'
        assert old in text
        text = text.replace(old, f'storage: {{url: "s3://{BUCKET}/{region}", connection_id: {conn}, '
                                 's3_compat: aws}', 1)
    path = tmp_path / "estate.yaml"
    path.write_text(text)
    return load_estate(path, home=home)


def test_the_rehearsals_storage_fault_blackholes_an_s3_primary_and_undo_restores_it(
        seaweed, tmp_path, estate_home, monkeypatch):
    dr_state = dr_state_dir(estate_home)
    proxy = netfaults.start_proxy(dr_state, "oci-fra", seaweed)  # its own process, found by name
    try:
        estate = _s3_estate(tmp_path, estate_home, monkeypatch, proxy["url"], seaweed)
        pair = estate.dr_pair("eu-churn")
        primary = _client(s3_storage_options("s3_fra")["client_kwargs"]["endpoint_url"])
        secondary = _client(s3_storage_options("s3_euw4")["client_kwargs"]["endpoint_url"])
        for key in ("oci-fra/customer-events/part-0.json", "oci-fra/customer-events/part-1.json"):
            primary.put_object(Bucket=BUCKET, Key=key, Body=b"{}")
        before = sorted(o["Key"] for o in primary.list_objects_v2(Bucket=BUCKET, Prefix="oci-fra/")["Contents"])

        ledger = FaultLedger(pair.id, estate_home)
        assert faults.take_storage_offline(estate, ledger, pair.primary, run_id="r1").startswith("blackhole")
        with pytest.raises((botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError)):
            primary.list_objects_v2(Bucket=BUCKET, Prefix="oci-fra/")  # the primary's storage is gone
        assert faults.take_storage_offline(estate, ledger, pair.primary, run_id="r1")  # a retried task: one entry
        assert [e["kind"] for e in ledger.open_entries()] == ["storage_offline"]

        # what dr_failover does: writes go to the secondary, which its own endpoint still serves
        set_write_target(pair.id, dict.fromkeys(pair.datasets, pair.secondary), estate_home)
        target = write_target(pair, "customer-events", estate_home)
        secondary.put_object(Bucket=BUCKET, Key=f"{target}/customer-events/outage-write.json", Body=b'{"n": 1}')

        undone = ledger.undo_all(undo_handlers(estate, pair, estate_home))
        assert [(e["kind"], e["state"]) for e in undone] == [("storage_offline", "undone")]
        assert netfaults.read_fault(dr_state / "netfaults" / "oci-fra.fault.json").mode == "pass"
        after = sorted(o["Key"] for o in primary.list_objects_v2(Bucket=BUCKET, Prefix="oci-fra/")["Contents"])
        assert after == before  # the primary's objects are all there
        written = secondary.get_object(Bucket=BUCKET, Key="gcp-euw4/customer-events/outage-write.json")
        assert written["Body"].read() == b'{"n": 1}'  # the outage's write survived on the secondary
    finally:
        assert netfaults.stop_proxy(dr_state, "oci-fra")


def test_object_storage_without_a_fault_proxy_is_refused(seaweed, tmp_path, estate_home, monkeypatch):
    estate = _s3_estate(tmp_path, estate_home, monkeypatch, seaweed, seaweed)
    ledger = FaultLedger("eu-churn", estate_home)
    with pytest.raises(ValueError, match="no network fault proxy named 'oci-fra'"):
        faults.take_storage_offline(estate, ledger, "oci-fra")
    assert ledger.entries() == []  # refused before anything was recorded or changed
