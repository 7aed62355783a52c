"""The embedded local estate's source systems: new source partitions every interval.

A live estate's source regions receive data from their own systems every hour. The embedded
estate (``include/estate/local.yaml``, ``file://`` storage under the estate home) has none, so
residency_sync's plan calls ``produce_local_sources`` for the interval it covers: every local
dataset whose source partition is missing gets the demo data for that interval
(``demo_data``, deterministic per interval and seed, so a retry or a backfill converges to the
same objects). A partition that already exists is never touched. Each partition is written to a
hidden folder and renamed into place, so a reader never sees a half-written partition and two
runs of the same interval cannot both publish one.

Only the embedded estate file gets a producer, unless the deployment says otherwise with
``MULTICLOUD_LOCAL_SOURCES``: ``demo`` (a trimmed copy of the local estate, as the scheduler tests
use) or ``off``. On any other estate a missing source partition is late data, never invented: ``source_partitions``
lists the partitions a run reads (one per dataset due in the interval), which residency_sync's
``await_sources`` task waits for (``multicloud.operators.source_partitions``) up to each dataset's
``arrival_timeout_s``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime
from pathlib import Path
from typing import NotRequired, TypedDict

from multicloud import paths
from multicloud.sync.layout import partition_key

ROWS_PER_INTERVAL = 2000


SETTING_ENV = "MULTICLOUD_LOCAL_SOURCES"


def produces_sources(estate_file: Path | None = None) -> bool:
    """True for the embedded local estate (or when the deployment sets MULTICLOUD_LOCAL_SOURCES=demo)."""
    setting = os.environ.get(SETTING_ENV, "").strip().lower()
    if setting in ("demo", "off"):
        return setting == "demo"
    chosen = (estate_file or paths.estate_file()).resolve()
    return chosen == paths.DEFAULT_ESTATE_FILE.resolve()


def produce_local_sources(estate, interval_start: datetime, datasets: list[str] | None = None,
                          rows: int = ROWS_PER_INTERVAL) -> list[str]:
    """Write the missing source partitions of ``interval_start``; returns the partitions written."""
    written: list[str] = []
    for dataset in estate.datasets:
        if datasets and dataset.id not in datasets:
            continue
        storage = estate.region(dataset.source).storage.url
        if not storage.startswith("file://"):
            continue
        partition = partition_key(interval_start, dataset.partitioning)
        final = Path(storage.removeprefix("file://")) / dataset.path.strip("/") / partition
        if final.exists():
            continue
        staging = final.parent / f".producing-{uuid.uuid4().hex}"
        try:
            if not _write_one(dataset.id, interval_start, rows, staging):
                continue
            try:
                os.rename(staging, final)  # atomic; refuses when another run published first
                written.append(f"{dataset.id}/{partition}")
            except OSError:
                if not final.exists():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return written


class SourcePartition(TypedDict):
    """One source partition a run reads (``source_partitions``); ``await_sources`` waits for it."""

    dataset: str
    region: str  # the dataset's source region
    partition: str
    url: str
    connection_id: str | None
    s3_compat: bool
    timeout_s: float  # the dataset's arrival_timeout_s


class AwaitedPartition(SourcePartition):
    """A missing source partition ``await_sources`` waits for; ``deadline``: epoch seconds (absent
    when the estate sets no arrival_timeout_s: late at once)."""

    deadline: NotRequired[float]


class Arrivals(TypedDict):
    """What ``await_sources`` returns (its XCom): the partitions that arrived and those still late."""

    late: list[AwaitedPartition]
    arrived: list[AwaitedPartition]


def source_partitions(estate, interval_start: datetime, interval_end: datetime | None = None,
                      datasets: list[str] | None = None, regions: list[str] | None = None) -> list[SourcePartition]:
    """The source partitions a run over [interval_start, interval_end) reads, one per dataset due.

    The same choice as the planner: datasets named explicitly whatever their schedule, the others
    when due (``dataset_interval``); a dataset with no target among ``regions`` reads nothing.
    Each entry: dataset, region (the source), partition, url, connection_id, s3_compat,
    timeout_s (the dataset's ``arrival_timeout_s``). Unknown ids raise KeyError."""
    from multicloud.sync.layout import dataset_url
    from multicloud.sync.planner import dataset_interval

    chosen = [estate.dataset(d) for d in datasets] if datasets else list(estate.datasets)
    wanted = set(regions) if regions else None
    found: list[SourcePartition] = []
    for dataset in chosen:
        own_start = interval_start if datasets else dataset_interval(dataset, interval_start, interval_end)
        if own_start is None:
            continue
        if wanted is not None and not wanted & set(estate.targets_of(dataset)):
            continue
        partition = partition_key(own_start, dataset.partitioning)
        storage = estate.region(dataset.source).storage
        found.append({"dataset": dataset.id, "region": dataset.source, "partition": partition,
                      "url": f"{dataset_url(estate, dataset.source, dataset.id)}/{partition}",
                      "connection_id": storage.connection_id, "s3_compat": storage.s3_compat,
                      "timeout_s": float(dataset.arrival_timeout_s)})
    return found


def _write_one(dataset_id: str, interval_start: datetime, rows: int, folder: Path) -> bool:
    from multicloud.sync.demo_data import source_table, write_partition_files

    table = source_table(dataset_id, interval_start, rows)
    if table is None:
        return False
    write_partition_files(table, folder)
    return True
