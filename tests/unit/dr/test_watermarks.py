"""Watermarks from partition layout / event_time."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from multicloud.dr.watermarks import newest_partition, watermark


def test_watermark_is_the_newest_event_time_of_the_newest_partition(tmp_path):
    old, new = tmp_path / "dt=2026-11-28" / "hr=23", tmp_path / "dt=2026-11-29" / "hr=02"
    for folder, minute in ((old, 59), (new, 17)):
        folder.mkdir(parents=True)
        stamp = datetime(2026, 11, 28 if folder == old else 29, 23 if folder == old else 2, minute, tzinfo=UTC)
        pq.write_table(pa.table({"event_time": [stamp]}), folder / "part-00000.parquet")
    assert watermark(f"file://{tmp_path}") == datetime(2026, 11, 29, 2, 17, tzinfo=UTC).timestamp()


def test_without_a_time_column_the_partition_end_is_the_watermark(tmp_path):
    folder = tmp_path / "dt=2026-11-29"
    folder.mkdir(parents=True)
    (folder / "part-00000.csv").write_text("a\n1\n")
    (tmp_path / "dt=2026-11-30").mkdir()  # empty partition: no data, not the newest
    assert newest_partition(f"file://{tmp_path}")[1] == datetime(2026, 11, 29, tzinfo=UTC)
    assert watermark(f"file://{tmp_path}") == datetime(2026, 11, 30, tzinfo=UTC).timestamp()


def test_no_data_means_no_watermark(tmp_path):
    assert watermark(f"file://{tmp_path}/missing") is None
    assert watermark(f"file://{tmp_path}") is None
