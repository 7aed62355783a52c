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
    estate = load_estate(home=estate_home)
    audits = [audit_estate(estate, regions=[r]).as_dict() for r in ("oci-fra", "gcp-usc1")]
    collected = collect_mod.collect(estate, estate_home)
    collected["drift"] = {"status": "ok", "drifted": 1, "rows": [
        {"cluster": "aks-weu", "model": "churn-eu", "drift": True, "differences": ["image"]},
        {"cluster": "oke-fra", "model": "churn-eu", "drift": False, "differences": []}]}
    context = {"params": {}, "run_id": "manual__9"}

    outcome = publish_report(audits, collected, context, home=estate_home)

    assert outcome["violations"] == 1
    report = json.loads((estate_home / "reports" / "estate_governance" / "report.json").read_text())
    assert report["audit"]["violations_by_region"] == {"oci-fra": 0, "gcp-usc1": 1}
    summary = json.loads((estate_home / "reports" / "estate_governance" / "latest.json").read_text())
    assert "Environment drift: 1 of 2 deployments" in summary["headline"]
    assert summary["headline"][-1].startswith("Report: ")
    assert [(a["kind"], a["run_id"]) for a in read_alerts(estate_home)] == [
        ("residency_violation", "manual__9"), ("drift", "manual__9")]
    assert "aks-weu" in read_alerts(estate_home, kind="drift")[0]["message"]
