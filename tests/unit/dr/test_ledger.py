"""The fault ledger: recorded before applied, undone newest first, failures stay open."""

from __future__ import annotations

from multicloud.dr.ledger import APPLIED, FaultLedger


def test_undo_runs_newest_first_and_marks_entries(estate_home):
    ledger = FaultLedger("p", estate_home)
    first = ledger.record("a", "x", {"n": 1})
    ledger.mark(first, APPLIED)
    ledger.record("b", "y", {"n": 2})  # pending: a crash between record and apply
    seen = []
    outcome = ledger.undo_all({"a": lambda u: seen.append(u["n"]), "b": lambda u: seen.append(u["n"])})
    assert seen == [2, 1]
    assert [e["state"] for e in outcome] == ["undone", "undone"]
    assert ledger.open_entries() == []
    assert ledger.undo_all({}) == []  # nothing left: a second restore is a no-op


def test_a_failing_undo_stays_open_and_others_still_run(estate_home):
    ledger = FaultLedger("p", estate_home)
    ledger.record("boom", "x", {})
    ledger.record("fine", "y", {})
    ran = []

    def boom(_undo):
        raise OSError("disk gone")

    outcome = ledger.undo_all({"boom": boom, "fine": lambda _u: ran.append("fine")})
    assert ran == ["fine"]
    assert {e["kind"]: e["state"] for e in outcome} == {"boom": "undo_failed", "fine": "undone"}
    (still_open,) = ledger.open_entries()
    assert still_open["kind"] == "boom"
    assert "disk gone" in still_open["error"]
    ledger.undo_all({"boom": lambda _u: None})
    assert ledger.open_entries() == []


def test_kept_and_filtered_kinds(estate_home):
    ledger = FaultLedger("p", estate_home)
    ledger.record("traffic", "e", {})
    ledger.record("fault", "c", {})
    assert [e["kind"] for e in ledger.undo_all({"fault": lambda _u: None}, only_kinds=frozenset({"fault"}))] == ["fault"]
    outcome = ledger.undo_all({}, keep_kinds=frozenset({"traffic"}))
    assert [(e["kind"], e["state"]) for e in outcome] == [("traffic", "kept")]
    assert ledger.find_open("traffic", "e") is None


def test_unknown_kind_is_an_undo_failure_not_a_silent_skip(estate_home):
    ledger = FaultLedger("p", estate_home)
    ledger.record("mystery", "x", {})
    (entry,) = ledger.undo_all({})
    assert entry["state"] == "undo_failed"
    assert "no undo handler" in entry["error"]
