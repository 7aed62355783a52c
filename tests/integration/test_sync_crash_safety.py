"""Crash safety: SIGKILL a sync subprocess at random points, many times.

After every kill, each object visible at the target must be complete: a copied object's SHA-256
equals one version the source really had, a routed Parquet object reads back whole with the rows
routing sends. A final uninterrupted run converges: target checksums equal the source's and no
temporary object is left.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from multicloud.sync.copier import TMP_MARK
from multicloud.sync.demo_data import customer_events

pytestmark = pytest.mark.integration

KILLS = 15
ROOT = Path(__file__).resolve().parents[2]

SYNC_SCRIPT = """
import sys
from multicloud.estate import load_estate
from multicloud.sync.copier import sync_tree
from multicloud.sync.routing import Output, route_partition, router_for
from multicloud.sync.storage import location
src, dst, rsrc, rdst = sys.argv[1:5]
router = router_for(load_estate(), "customer-events")
route_partition(location("file://" + rsrc), {"uk": Output(location("file://" + rdst), frozenset({"UK"}))}, router,
                batch_size=2000)
sync_tree(location("file://" + src), location("file://" + dst), workers=3, chunk_size=256 * 1024)
"""


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_in_flight(*roots: Path) -> bool:
    return any(TMP_MARK in p.name for root in roots if root.exists() for p in root.rglob("*"))


def _kill_mid_write(process: subprocess.Popen, roots: tuple[Path, ...], rng: random.Random) -> bool:
    """SIGKILL once a temporary object shows a write under way (plus a random slice of it).

    Timing the kill by the clock alone depends on load and on how much the incremental copier
    skips; waiting for a write in flight puts every kill inside the sync. False: it ended first.
    """
    deadline = time.monotonic() + 60
    while process.poll() is None and not _write_in_flight(*roots) and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.15))
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


def _visible(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not any(
        part.startswith((".", "_")) for part in p.relative_to(root).parts)]


def test_sigkill_never_exposes_a_partial_object_and_rerun_converges(tmp_path, estate_home):
    rng = random.Random(20260301)
    src, dst, rsrc, rdst = (tmp_path / n for n in ("src", "dst", "rsrc", "rdst"))
    versions: dict[str, set[str]] = {}
    for i in range(24):
        path = src / f"d{i % 3}" / f"obj-{i:03d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(rng.randint(512 * 1024, 3 << 20)))
        versions[str(path.relative_to(src))] = {_sha(path)}
    rsrc.mkdir()
    expected_uk: dict[str, int] = {}
    for i in range(3):
        table = customer_events(20_000, datetime(2026, 3, 1, 10 + i, tzinfo=UTC))
        pq.write_table(table, rsrc / f"part-{i:05d}.parquet", row_group_size=2000)
        expected_uk[f"part-{i:05d}.parquet"] = int(pc.sum(pc.equal(table["country"], "GB")).as_py())

    command = [sys.executable, "-c", SYNC_SCRIPT, str(src), str(dst), str(rsrc), str(rdst)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins")}
    killed: dict[str, int] = {"routing": 0, "copy": 0}
    attempts = 0
    while sum(killed.values()) < KILLS and attempts < 4 * KILLS:
        attempts += 1
        # change a few sources between runs so committed objects get overwritten too
        for rel in rng.sample(sorted(versions), 3):
            data = os.urandom((src / rel).stat().st_size)
            (src / rel).write_bytes(data)
            versions[rel].add(hashlib.sha256(data).hexdigest())
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        phase = rng.choice(sorted(killed))  # interrupt the routing writes or the object copies
        killed[phase] += _kill_mid_write(process, (rdst,) if phase == "routing" else (dst,), rng)
        process.wait()
        for path in _visible(dst):
            rel = str(path.relative_to(dst))
            assert _sha(path) in versions[rel], f"partial or foreign object visible: {rel}"
        for path in _visible(rdst):
            table = pq.read_table(path)  # a truncated Parquet file would not read
            assert table.num_rows == expected_uk[path.name]
            assert set(pc.unique(table["country"]).to_pylist()) == {"GB"}
    assert sum(killed.values()) == KILLS, f"only {killed} of {attempts} kills landed while a write was under way"
    assert min(killed.values()) >= KILLS // 4, f"both phases must be interrupted: {killed}"

    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert final.returncode == 0, final.stderr[-2000:]
    assert {str(p.relative_to(dst)): _sha(p) for p in _visible(dst)} == {
        str(p.relative_to(src)): _sha(p) for p in _visible(src)}
    assert sorted(p.name for p in _visible(rdst)) == sorted(expected_uk)
    assert not [p for p in tmp_path.rglob("*") if TMP_MARK in p.name]


# ---- the same on s3:// (SeaweedFS): kill mid-upload, nothing partial visible, rerun converges -------
S3_KILLS = 3
S3_SYNC_SCRIPT = """
import sys
import fsspec
from multicloud.estate import load_estate
from multicloud.sync.copier import sync_tree
from multicloud.sync.routing import Output, route_partition, router_for
from multicloud.sync.storage import Location, location
src, rsrc, endpoint, key, secret = sys.argv[1:6]
fs = fsspec.filesystem("s3", key=key, secret=secret, client_kwargs={"endpoint_url": endpoint})
def s3(path):
    return Location(fs, path, "s3://" + path, "aws")
router = router_for(load_estate(), "customer-events")
route_partition(location("file://" + rsrc), {"uk": Output(s3("crash-bucket/routed"), frozenset({"UK"}))}, router,
                batch_size=2000)
sync_tree(location("file://" + src), s3("crash-bucket/copied"), workers=3, part_size=5 << 20)
"""


def test_sigkill_mid_upload_to_s3_never_exposes_a_partial_object(tmp_path, estate_home):
    import botocore.session

    from tests.seaweedfs import ACCESS, SECRET, make_bucket, seaweedfs

    rng = random.Random(20261201)
    src, rsrc = tmp_path / "src", tmp_path / "rsrc"
    versions: dict[str, set[str]] = {}
    for i in range(5):  # 1-12 MiB: most go as multipart uploads of 5 MiB parts
        path = src / f"d{i % 2}" / f"obj-{i:03d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(rng.randint(1 << 20, 12 << 20)))
        versions[str(path.relative_to(src))] = {_sha(path)}
    rsrc.mkdir()
    expected_uk: dict[str, int] = {}
    for i in range(1):
        table = customer_events(20_000, datetime(2026, 3, 1, 10 + i, tzinfo=UTC))
        pq.write_table(table, rsrc / f"part-{i:05d}.parquet", row_group_size=2000)
        expected_uk[f"part-{i:05d}.parquet"] = int(pc.sum(pc.equal(table["country"], "GB")).as_py())

    with seaweedfs(tmp_path / "weed") as endpoint:
        make_bucket(endpoint, "crash-bucket")
        client = botocore.session.get_session().create_client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ACCESS,
            aws_secret_access_key=SECRET)

        def visible(prefix: str) -> dict[str, bytes]:
            listed = client.list_objects_v2(Bucket="crash-bucket", Prefix=f"{prefix}/").get("Contents", [])
            return {o["Key"][len(prefix) + 1:]: client.get_object(Bucket="crash-bucket", Key=o["Key"])["Body"].read()
                    for o in listed if not o["Key"].rsplit("/", 1)[-1].startswith(("_", "."))}

        def writes() -> set[str]:
            """Uploads in flight and committed object versions under copied/: a change means writing."""
            uploads = client.list_multipart_uploads(Bucket="crash-bucket", Prefix="copied/").get("Uploads", [])
            objects = client.list_objects_v2(Bucket="crash-bucket", Prefix="copied/").get("Contents", [])
            return {u["UploadId"] for u in uploads} | {o["Key"] + o["ETag"] for o in objects}

        command = [sys.executable, "-c", S3_SYNC_SCRIPT, str(src), str(rsrc), endpoint, ACCESS, SECRET]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins")}
        killed = attempts = 0
        while killed < S3_KILLS and attempts < 4 * S3_KILLS:
            attempts += 1
            for rel in rng.sample(sorted(versions), 2):  # committed objects get overwritten too
                data = os.urandom((src / rel).stat().st_size)
                (src / rel).write_bytes(data)
                versions[rel].add(hashlib.sha256(data).hexdigest())
            before = writes()  # left by earlier runs (stale uploads included): they do not count here
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while process.poll() is None and not writes() - before and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.05))  # the first write seen: the other workers are mid-upload
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                killed += 1
            process.wait()
            for rel, body in visible("copied").items():
                assert hashlib.sha256(body).hexdigest() in versions[rel], f"partial or foreign object visible: {rel}"
            for rel, body in visible("routed").items():
                table = pq.read_table(pa.BufferReader(body))  # a truncated Parquet object would not read
                assert table.num_rows == expected_uk[rel]
        assert killed == S3_KILLS, f"only {killed} of {attempts} kills landed while the copy was writing"

        final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)
        assert final.returncode == 0, final.stderr[-2000:]
        assert {rel: hashlib.sha256(body).hexdigest() for rel, body in visible("copied").items()} == {
            str(p.relative_to(src)): _sha(p) for p in _visible(src)}
        assert sorted(visible("routed")) == sorted(expected_uk)
        assert not client.list_multipart_uploads(Bucket="crash-bucket").get("Uploads")  # stale uploads aborted
        keys = [o["Key"] for o in client.list_objects_v2(Bucket="crash-bucket").get("Contents", [])]
        assert not [k for k in keys if TMP_MARK in k]
