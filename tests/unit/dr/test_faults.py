"""The storage fault's undo: storage comes back with the outage's writes, and a retried fault reuses its entry."""

from __future__ import annotations

import pytest

from multicloud.dr.faults import storage_fingerprint, undo_storage_offline


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
