"""Watermarks from partition layout / event_time, and the storage fault's undo."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from multicloud.dr.faults import storage_fingerprint, undo_storage_offline
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


def test_storage_comes_back_and_writes_during_the_outage_are_kept(tmp_path):
    path, aside = tmp_path / "oci-fra", tmp_path / "oci-fra.offline-1"
    aside.mkdir()
    (aside / "a.parquet").write_bytes(b"x" * 10)
    path.mkdir()
    (path / "late.parquet").write_bytes(b"y")  # something wrote while the region was "down"
    undo_storage_offline({"path": str(path), "aside": str(aside)})
    assert storage_fingerprint(f"file://{path}") == {"url": f"file://{path}", "exists": True, "files": 1, "bytes": 10}
    (kept,) = tmp_path.glob("oci-fra.written-during-outage-*")
    assert (kept / "late.parquet").exists()
    undo_storage_offline({"path": str(path), "aside": str(aside)})  # idempotent
    with pytest.raises(FileNotFoundError, match="neither"):
        undo_storage_offline({"path": str(tmp_path / "x"), "aside": str(tmp_path / "y")})


def test_a_retried_storage_fault_reuses_its_ledger_entry_and_restore_puts_it_back(estate_home):
    from multicloud.dr.faults import take_storage_offline
    from multicloud.dr.ledger import FaultLedger
    from multicloud.dr.rehearsal import undo_handlers
    from multicloud.estate import load_estate

    estate = load_estate(home=estate_home)
    storage = estate_home / "storage" / "oci-fra"
    (storage / "customer-events").mkdir(parents=True)
    (storage / "customer-events" / "part.parquet").write_bytes(b"z")
    ledger = FaultLedger("eu-churn", estate_home)
    first = take_storage_offline(estate, ledger, "oci-fra", "run1")
    again = take_storage_offline(estate, ledger, "oci-fra", "run1")  # the task retried
    assert first == again
    assert len(ledger.entries()) == 1
    assert not storage.exists()
    ledger.undo_all(undo_handlers(estate, estate.dr_pair("eu-churn"), estate_home))
    assert (storage / "customer-events" / "part.parquet").read_bytes() == b"z"
    assert not list(storage.parent.glob("oci-fra.offline-*"))
