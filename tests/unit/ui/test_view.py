"""estate_view: what the Estate page shows, from files only; a broken estate is shown, never raised."""

from __future__ import annotations

import json

import pytest

from multicloud.governance.collect import NO_DATA
from multicloud.ui import view


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch):
    monkeypatch.setattr(view, "_cache", {})


def test_the_local_estate_is_audited_live_and_every_region_is_listed(estate_home):
    shown = view.estate_view(home=estate_home)
    assert shown["residency"]["source"] == "live audit"
    assert len(shown["regions"]) == 10
    assert all(r["violations"] == 0 for r in shown["regions"])
    assert shown["runs"] is not None
    json.dumps(shown)                                  # JSON-ready: the /api/estate answer


def test_a_planted_violation_shows_on_its_region(estate_home):
    planted = estate_home / "storage" / "oci-ash" / "eu-claims" / "x.parquet"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"x")
    regions = {r["id"]: r for r in view.estate_view(home=estate_home)["regions"]}
    assert regions["oci-ash"]["violations"] == 1
    assert sum(r["violations"] for r in regions.values()) == 1


def _violations(shown: dict) -> dict[str, int]:
    return {region: count for region, count in shown["residency"]["violations_by_region"].items() if count}


def test_a_live_audit_is_reused_within_the_ttl_and_redone_after(estate_home, monkeypatch):
    assert _violations(view.estate_view(home=estate_home)) == {}
    planted = estate_home / "storage" / "oci-ash" / "eu-claims" / "x.parquet"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"x")
    monkeypatch.setenv(view.TTL_ENV, "60")
    assert _violations(view.estate_view(home=estate_home)) == {}            # cached
    monkeypatch.setenv(view.TTL_ENV, "0")
    assert _violations(view.estate_view(home=estate_home)) == {"oci-ash": 1}


def test_without_a_live_audit_the_last_governance_report_is_shown(estate_home, monkeypatch):
    monkeypatch.setenv(view.LIVE_AUDIT_ENV, "never")
    residency = view.estate_view(home=estate_home)["residency"]
    assert residency["source"] == NO_DATA
    assert residency["violations"] == []
    report = estate_home / "reports" / "estate_governance" / "report.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({"run_id": "manual__9", "audit": {
        "violations": [{"region": "oci-fra"}], "violations_by_region": {"oci-fra": 1}, "unverified": []}}))
    shown = view.estate_view(home=estate_home)
    assert shown["residency"]["source"] == "estate_governance run manual__9"
    assert {r["id"]: r["violations"] for r in shown["regions"]}["oci-fra"] == 1


def test_a_broken_estate_file_is_an_error_on_the_page(estate_home, tmp_path):
    broken = tmp_path / "estate.yaml"
    broken.write_text("regions: [unclosed\n")
    shown = view.estate_view(home=estate_home, estate_file=str(broken))
    assert shown["regions"] == []
    assert shown["error"]
    assert shown["estate_file"] == str(broken)
