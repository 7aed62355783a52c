"""publish_report: merges per-region audits, writes report + summary, raises violation and drift alerts."""

from __future__ import annotations

import json

from multicloud.alerts import read_alerts
from multicloud.estate import load_estate
from multicloud.governance import collect as collect_mod
from multicloud.governance.audit import audit_estate
from multicloud.governance.publish import publish_report


def test_publish_merges_regions_and_alerts_on_violation_and_drift(estate_home):
    planted = estate_home / "storage" / "gcp-usc1" / "eu-claims" / "part-0.parquet"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"x")
    (estate_home / "storage" / "oci-fra").mkdir(parents=True)
    estate = load_estate(home=estate_home)
    audits = [audit_estate(estate, regions=[r]).as_dict() for r in ("oci-fra", "gcp-usc1")]
    collected = collect_mod.collect(estate, estate_home)
    collected["drift"] = {"status": "ok", "drifted": 1, "rows": [
        {"cluster": "aks-weu", "model": "churn-eu", "drift": True, "differences": ["image"]},
        {"cluster": "oke-fra", "model": "churn-eu", "drift": False, "differences": []}]}
    outcome = publish_report(audits, collected, estate, "manual__9", home=estate_home)

    assert outcome["violations"] == 1
    report = json.loads((estate_home / "reports" / "estate_governance" / "report.json").read_text())
    assert report["audit"]["violations_by_region"] == {"oci-fra": 0, "gcp-usc1": 1}
    summary = json.loads((estate_home / "reports" / "estate_governance" / "latest.json").read_text())
    assert "Environment drift: 1 of 2 deployments" in summary["headline"]
    assert summary["headline"][-1].startswith("Report: ")
    assert [(a["kind"], a["run_id"]) for a in read_alerts(estate_home)] == [
        ("residency_violation", "manual__9"), ("drift", "manual__9")]
    assert "aks-weu" in read_alerts(estate_home, kind="drift")[0]["message"]


def _unverified_run(estate_home, params):
    estate = load_estate(home=estate_home)
    (estate_home / "storage" / "oci-fra").mkdir(parents=True)  # gcp-usc1 has no storage: unverified
    audits = [audit_estate(estate, regions=[r]).as_dict() for r in ("oci-fra", "gcp-usc1")]
    collected = collect_mod.collect(estate, estate_home)
    return publish_report(audits, collected, estate, "manual__u", home=estate_home, **params)


def test_an_unverified_region_fails_the_run_red_with_alert_and_metric(estate_home):
    import pytest

    from multicloud.governance.publish import ResidencyUnverified
    from multicloud.metrics.core import read_points

    with pytest.raises(ResidencyUnverified, match="gcp-usc1"):
        _unverified_run(estate_home, {})
    report = json.loads((estate_home / "reports" / "estate_governance" / "report.json").read_text())
    assert report["audit"]["status"] == "unverified"
    assert report["audit"]["region_status"] == {"oci-fra": "clean", "gcp-usc1": "unverified"}
    page = (estate_home / "reports" / "estate_governance" / "report.html").read_text()
    assert "id='unverified'" in page
    assert "does not exist" in page
    assert "No violation: every object" not in page
    summary = json.loads((estate_home / "reports" / "estate_governance" / "latest.json").read_text())
    assert summary["headline"][0] == "Residency at rest UNVERIFIED in 1 region(s): gcp-usc1"
    [raised] = read_alerts(estate_home, kind="residency_unverified")
    assert "gcp-usc1" in raised["message"]
    assert [p.value for p in read_points(estate_home, "governance.unverified_regions")] == [1]
    flags = {p.dimensions["region"]: p.value for p in read_points(estate_home, "governance.region_unverified")}
    assert flags == {"oci-fra": 0, "gcp-usc1": 1}


def test_an_explicit_param_lets_the_run_complete_red(estate_home):
    outcome = _unverified_run(estate_home, {"complete_when_unverified": True})
    assert (outcome["status"], outcome["unverified"]) == ("unverified", 1)
    assert read_alerts(estate_home, kind="residency_unverified")
