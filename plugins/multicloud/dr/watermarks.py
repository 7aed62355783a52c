"""Data watermarks for RPO: the newest record of a dataset held in one region's storage.

Layout from ``sync.layout``: ``{dataset root}/dt=YYYY-MM-DD[/hr=HH]/part-*.{parquet,csv,jsonl}``.
The watermark is the newest ``event_time`` in the newest partition when the files carry that
column (parquet through pyarrow), else the end of the newest partition. None means no data.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import fsspec

from multicloud.sync.layout import dataset_url

_PARTITION = re.compile(r"dt=(\d{4}-\d{2}-\d{2})(?:/hr=(\d{2}))?$")
TIME_COLUMNS = ("event_time", "updated_at", "timestamp")


def newest_partition(root: str) -> tuple[str, datetime, timedelta] | None:
    """(url, start, length) of the newest dt=/hr= partition under ``root``; None if none."""
    fs, path = fsspec.core.url_to_fs(root)
    if not fs.exists(path):
        return None
    best: tuple[str, datetime, timedelta] | None = None
    for day in fs.ls(path, detail=False):
        name = day.rstrip("/").rsplit("/", 1)[-1]
        if not name.startswith("dt="):
            continue
        hours = [h for h in fs.ls(day, detail=False) if h.rstrip("/").rsplit("/", 1)[-1].startswith("hr=")]
        for part in hours or [day]:
            match = _PARTITION.search(part.rstrip("/"))
            if not match:
                continue
            start = datetime.strptime(match.group(1), "%Y-%m-%d").replace(tzinfo=UTC)
            length = timedelta(days=1)
            if match.group(2) is not None:
                start += timedelta(hours=int(match.group(2)))
                length = timedelta(hours=1)
            if _has_data(fs, part) and (best is None or start > best[1]):
                best = (part, start, length)
    return best


def _has_data(fs, folder: str) -> bool:
    return any(not f.rsplit("/", 1)[-1].startswith((".", "_")) for f in fs.ls(folder, detail=False))


def watermark(root: str) -> float | None:
    """Epoch seconds of the newest record under ``root``."""
    newest = newest_partition(root)
    if newest is None:
        return None
    folder, start, length = newest
    fs, _ = fsspec.core.url_to_fs(root)
    latest = _max_time_column(fs, folder)
    return latest if latest is not None else (start + length).timestamp()


def _max_time_column(fs, folder: str) -> float | None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    newest: float | None = None
    for path in fs.ls(folder, detail=False):
        if not path.endswith(".parquet"):
            continue
        with fs.open(path, "rb") as handle:
            table = pq.read_table(handle)
        column = next((c for c in TIME_COLUMNS if c in table.column_names), None)
        if column is None or table.num_rows == 0:
            continue
        value = pc.max(table[column]).as_py()
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if isinstance(value, datetime):
            stamp = (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
        elif isinstance(value, int | float):
            stamp = float(value)
        else:
            continue
        newest = stamp if newest is None else max(newest, stamp)
    return newest


def dataset_watermarks(estate, region_id: str, dataset_ids: list[str]) -> dict[str, float | None]:
    return {d: watermark(dataset_url(estate, region_id, d)) for d in dataset_ids}
