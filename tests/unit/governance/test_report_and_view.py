"""The governance report and the Estate view degrade to "no data yet" and show what others wrote."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from multicloud import reports
from multicloud.estate import load_estate
from multicloud.governance import collect as collect_mod
from multicloud.governance import report as report_mod
from multicloud.governance.audit import audit_estate


def test_empty_estate_home_reports_no_data_yet(estate_home):
    estate = load_estate(home=estate_home)
    collected = collect_mod.collect(estate, estate_home)
    assert collected["cost"]["status"] == collect_mod.NO_DATA
    assert collected["dr"]["status"] == collect_mod.NO_DATA
    assert collected["residency_log"]["status"] == collect_mod.NO_DATA
    report = report_mod.build(audit_estate(estate).as_dict(), collected, "manual__1")
    lines = report_mod.headline(report)
    assert lines[0].startswith("Residency at rest UNVERIFIED in 10 region(s)")  # no storage yet: not "clean"
    assert lines[1].startswith("Residency at rest: 0 violation(s)")
    assert "Estate: 5 clouds, 10 regions, 9 clusters, 3 jurisdictions" in lines
    assert "Cost: no data yet" in lines
    assert "Last DR rehearsal: no data yet" in lines
    json_path, html_path = report_mod.write(report, estate_home)
    assert json.loads(json_path.read_text())["run_id"] == "manual__1"
    assert "data:image/png;base64," in html_path.read_text()


def test_cost_and_dr_sections_read_other_dags_reports(estate_home):
    for run, monthly in (("r1", 900.0), ("r2", 750.0)):
        reports.write_summary("cost_rebalance", run, ["moved 2 replicas"],
                              {"before_monthly": 1000.0, "achieved_monthly": monthly, "currency": "USD"},
                              home=estate_home)
    history = estate_home / "reports" / "dr_rehearsal" / "history.jsonl"
    history.parent.mkdir(parents=True)
    history.write_text(json.dumps({"run_id": "d1", "outcome": "passed", "rto_s": 12.0, "rpo_s": 600.0,
                                   "rto_target_s": 30, "rpo_target_s": 3600}) + "\n")
    estate = load_estate(home=estate_home)
    collected = collect_mod.collect(estate, estate_home)
    assert [p["monthly"] for p in collected["cost"]["trend"]] == [900.0, 750.0]
    assert (collected["dr"]["rto_s"], collected["dr"]["outcome"]) == (12.0, "passed")
    lines = report_mod.headline(report_mod.build(audit_estate(estate).as_dict(), collected, "m"))
    assert "Cost: 750 USD/month (was 1,000)" in lines
    assert "Last DR rehearsal: passed, RTO 12.0s / RPO 600.0s" in lines


def test_estate_view_requires_an_airflow_identity(estate_home):
    from multicloud.ui.app import app

    response = TestClient(app).get("/")
    assert response.status_code == 401


@pytest.fixture
def authorized_app():
    from multicloud.ui.app import app, require_airflow_user

    app.dependency_overrides[require_airflow_user] = lambda: None  # the browser test covers real auth
    yield app
    app.dependency_overrides.clear()


def test_estate_view_page_and_json(estate_home, authorized_app):
    app = authorized_app
    planted = estate_home / "storage" / "oci-ash" / "eu-claims" / "x.parquet"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"x")
    reports.write_summary("estate_governance", "manual__7", ["ok"], {}, home=estate_home)
    client = TestClient(app)
    data = client.get("/api/estate").json()
    assert {r["id"]: r["violations"] for r in data["regions"]}["oci-ash"] == 1
    page = client.get("/").text
    assert "data-region='oci-ash'" in page
    assert "tr class='region violation' data-region='oci-ash'" in page
    assert "href='/dags/estate_governance/runs/manual__7'" in page
    # Every other region has no storage at all: shown red as UNVERIFIED with the cause, never "ok".
    assert data["regions"][0]["unverified"] is not None
    assert "summary-unverified" in page
    assert "UNVERIFIED: cannot list its storage" in page
    assert "None: every object and row is where its class allows." not in page
