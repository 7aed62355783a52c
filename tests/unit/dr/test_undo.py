"""Undoing a DR pair's ledger entries: a handler for every kind, undo failures reported, and a stop
condition's abort that restores the primary and still fails the step."""

from __future__ import annotations

import pytest

from multicloud.dr import failover
from multicloud.dr.journal import load_run, run_file
from multicloud.dr.ledger import APPLIED, UNDO_FAILED, UNDONE, FaultLedger
from multicloud.dr.undo import (
    FAULT_KINDS,
    KEEP_WHEN_STAYING,
    TRAFFIC_KINDS,
    StopConditionTripped,
    abort,
    check_undo,
    undo_handlers,
)
from multicloud.dr.write_targets import set_write_target, write_target, write_targets


def _applied(ledger: FaultLedger, kind: str, target: str, undo: dict) -> str:
    entry = ledger.record(kind, target, undo, "r1")
    ledger.mark(entry, APPLIED)
    return entry


def test_every_kind_a_rehearsal_or_an_incident_records_has_an_undo(estate):
    handlers = undo_handlers(estate, estate.dr_pair("eu-churn"))
    recorded = FAULT_KINDS | TRAFFIC_KINDS | KEEP_WHEN_STAYING | failover.INCIDENT_KINDS | {"probe_started"}
    assert recorded <= set(handlers)


def test_check_undo_passes_undone_and_kept_entries_and_names_every_failure():
    check_undo([{"kind": "route_set", "target": "e", "state": UNDONE}, {"kind": "x", "target": "t", "state": "kept"}])
    with pytest.raises(RuntimeError, match="left open") as failed:
        check_undo([{"kind": "storage_offline", "target": "oci-fra", "state": UNDO_FAILED, "error": "gone"},
                    {"kind": "route_set", "target": "e", "state": UNDONE},
                    {"kind": "servers_stopped", "target": "oke-fra", "state": UNDO_FAILED}])
    assert "storage_offline oci-fra: gone" in str(failed.value)
    assert "servers_stopped oke-fra: None" in str(failed.value)
    assert "route_set" not in str(failed.value)


@pytest.mark.parametrize("previous", [None, {"customer-events": "oci-fra"}])
def test_undoing_a_promoted_write_target_puts_back_what_was_there(estate, estate_home, previous):
    pair = estate.dr_pair("eu-churn")
    set_write_target(pair.id, previous, estate_home)
    set_write_target(pair.id, {"customer-events": pair.secondary}, estate_home)
    undo_handlers(estate, pair, estate_home)["write_target_promoted"]({"previous": previous})
    assert write_target(pair, "customer-events", estate_home) == pair.primary
    assert write_targets(estate_home).get(pair.id) == previous


def test_undoing_a_staged_artifact_removes_it_and_the_folders_it_made(estate, tmp_path):
    staged = tmp_path / "storage" / "models" / "churn-eu" / "v1" / "model.json"
    staged.parent.mkdir(parents=True)
    staged.write_text("{}")
    handler = undo_handlers(estate, estate.dr_pair("eu-churn"))["artifact_staged"]
    handler({"url": f"file://{staged}"})
    assert not (tmp_path / "storage" / "models").exists()
    assert (tmp_path / "storage").is_dir()  # only the folders the staging created
    handler({"url": f"file://{staged}"})  # idempotent: a retried restore finds nothing to remove


def test_abort_restores_the_primary_keeps_the_probe_and_fails_the_step(estate, estate_home):
    pair = estate.dr_pair("eu-churn")
    ledger = FaultLedger(pair.id, estate_home)
    probe = _applied(ledger, "probe_started", pair.endpoint, {"pid": None, "file": str(estate_home / "p.jsonl")})
    set_write_target(pair.id, {"customer-events": pair.secondary}, estate_home)
    promoted = _applied(ledger, "write_target_promoted", pair.id, {"previous": None})
    state = load_run(pair.id, "r1", estate_home)
    with pytest.raises(StopConditionTripped, match="errors 51 > 50"):
        abort(estate, pair, state, "errors 51 > 50", estate_home)
    assert write_target(pair, "customer-events", estate_home) == pair.primary
    states = {e["id"]: e["state"] for e in ledger.entries()}
    assert states == {probe: APPLIED, promoted: UNDONE}  # the probe keeps sampling for the report
    saved = load_run(pair.id, "r1", estate_home)
    assert (saved["outcome"], saved["abort_reason"]) == ("aborted", "errors 51 > 50")
    assert saved["events"]["abort"] <= saved["events"]["primary_restored"]
    assert run_file(pair.id, "r1", estate_home).exists()


def test_an_abort_whose_undo_fails_still_fails_the_step_and_leaves_the_entry_open(estate, estate_home, tmp_path):
    pair = estate.dr_pair("eu-churn")
    ledger = FaultLedger(pair.id, estate_home)
    broken = _applied(ledger, "storage_offline", pair.primary,
                      {"path": str(tmp_path / "gone"), "aside": str(tmp_path / "also-gone")})
    with pytest.raises(StopConditionTripped):
        abort(estate, pair, load_run(pair.id, "r1", estate_home), "too slow", estate_home)
    [entry] = ledger.open_entries()
    assert (entry["id"], entry["state"]) == (broken, UNDO_FAILED)  # the next restore retries it
