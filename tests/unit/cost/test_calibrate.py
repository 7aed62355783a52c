"""Calibration from real bill APIs: AWS Cost Explorer (moto, server mode) bills 30% below the
catalog, the OCI Usage API (emulator, signed requests) bills at the catalog. The plan changes
because of it and the report shows the calibration and each cloud's model error."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import requests
import yaml

from multicloud.cost.calibrate import calibrate
from multicloud.cost.run import collect, divergence_alerts, plan, report
from multicloud.estate import load_estate, parse_estate

LOCAL = Path(__file__).resolve().parents[3] / "include" / "estate" / "local.yaml"
END = date(2026, 11, 1)
WINDOW = 30 * 24 / 730          # the 30-day window in catalog months
TENANCY = "ocid1.tenancy.oc1..test"


def _cluster(raw: dict, cluster_id: str) -> dict:
    return next(r["cluster"] for r in raw["regions"] if (r.get("cluster") or {}).get("id") == cluster_id)


def bill_estate(home: Path) -> str:
    """The local estate with two US clusters of near-equal list price (gke-usc1 n2 0.3885/h, eks-use1
    m7i 0.4032/h), churn-us-serving's 4 replicas on GCP and a small batch workload on AWS."""
    raw = yaml.safe_load(LOCAL.read_text())
    next(r for r in raw["regions"] if r["id"] == "oci-ash").pop("cluster")
    _cluster(raw, "eks-use1").update(shape="m7i.2xlarge", capacity={"cpu": 16, "memory_gb": 64})
    _cluster(raw, "gke-usc1").update(shape="n2-standard-8", capacity={"cpu": 16, "memory_gb": 64})
    _cluster(raw, "oke-fra").pop("committed")
    us = next(w for w in raw["workloads"] if w["id"] == "churn-us-serving")
    us.update(replicas=4, placement={"gke-usc1": 4})
    raw["workloads"].append({"id": "churn-us-batch", "model": "churn-us", "replicas": 1,
                             "resources": {"cpu": 2, "memory_gb": 4}, "placement": {"eks-use1": 1}})
    raw["pricing"]["cost_sources"] = {
        "aws": {"type": "aws_cost_explorer", "connection_id": "aws_cost"},
        "oci": {"type": "oci_usage_api", "connection_id": "oci_test", "tenancy": TENANCY, "tag_namespace": "finops"},
    }
    path = home / "bill-estate.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


@pytest.fixture
def bills(moto_server, oci_conn, oci_emulator):
    """AWS bills 30% below list price; OCI bills exactly the list price."""
    from tests.emulators.oci_usage import install_usage_api

    moto_server.connection("aws_cost")
    aws_batch = round(0.7 * 0.25 * 0.4032 * 730 * WINDOW, 4)
    period = {"TimePeriod": {"Start": "2026-10-02", "End": "2026-11-01"}, "Estimated": False}

    def group(keys, amount):
        return {"Keys": keys, "Metrics": {"UnblendedCost": {"Amount": str(amount), "Unit": "USD"}}}

    canned = [
        {"ResultsByTime": [{**period, "Groups": [group(["Amazon Elastic Compute Cloud - Compute", "us-east-1"], aws_batch),
                                                 group(["Amazon Elastic Kubernetes Service", "us-east-1"], 72.0)]}]},
        {"ResultsByTime": [{**period, "Groups": [group(["workload$churn-us-batch"], aws_batch),
                                                 group(["workload$"], 72.0)]}]},
    ]
    response = requests.post(f"{moto_server.url}/moto-api/static/ce/cost-and-usage-results",
                             json={"results": canned}, timeout=5)
    assert response.status_code == 201
    oci_eu = round(0.25 * 0.184 * 730 * WINDOW, 4)
    install_usage_api(oci_emulator, {
        "service,region": [{"service": "COMPUTE", "region": "eu-frankfurt-1", "computedAmount": oci_eu, "currency": "USD"}],
        "tag": [{"computedAmount": oci_eu, "currency": "USD",
                 "tags": [{"namespace": "finops", "key": "workload", "value": "churn-eu-serving"}]}],
    })
    return {"aws": aws_batch, "oci": oci_eu}


def test_bills_30_percent_below_catalog_change_the_plan_and_the_report_shows_the_model_error(
        bills, estate_home):
    estate = load_estate(bill_estate(estate_home), home=estate_home)
    clouds = ["aws", "gcp", "oci"]
    collected = [collect(estate, cloud, END) for cloud in clouds]
    assert [c["source"] for c in collected] == ["aws-cost-explorer", "catalog", "oci-usage-api"]

    # At list prices GCP's n2 is cheaper than AWS's m7i: nothing is worth moving.
    at_catalog = plan(estate, clouds, max_moves=5)
    assert at_catalog["moves"] == []
    # With the bills AWS's m7i really costs 0.7 x list: in us-east-1 0.282/h, below GCP's n2, so
    # churn-us-serving moves there; in eu-west-1 0.315/h, below gke-euw4's 0.427/h, so the EU
    # workload's GCP replica moves to eks-euw1 (still two EU regions).
    calibrated = plan(estate, clouds, max_moves=5, collected=collected)
    assert sorted((m["workload"], m["source"], m["target"], m["replicas"]) for m in calibrated["moves"]) == [
        ("churn-eu-serving", "gke-euw4", "eks-euw1", 1), ("churn-us-serving", "gke-usc1", "eks-use1", 4)]
    assert calibrated["price_factors"]["aws/m7i.2xlarge"] == pytest.approx(0.7, rel=1e-3)
    assert "oci/*" in calibrated["price_factors"]
    by_cloud = {c["cloud"]: c for c in calibrated["calibration"]}
    assert by_cloud["aws"]["basis"] == "workload tags"
    assert by_cloud["aws"]["billed"] == pytest.approx(bills["aws"], abs=0.01)
    assert by_cloud["aws"]["error_pct"] == pytest.approx(100 * (1 / 0.7 - 1), abs=0.1)   # model 42.9% too high
    assert by_cloud["aws"]["diverges"]
    assert by_cloud["oci"]["error_pct"] == pytest.approx(0.0, abs=0.1)
    assert not by_cloud["oci"]["diverges"]
    assert by_cloud["gcp"]["basis"] == "catalog (no bill)"
    # Monthly costs are at the effective prices: AWS's share is 30% below its list price.
    assert calibrated["before"]["by_cloud"]["aws"] == pytest.approx(0.7 * 0.25 * 0.4032 * 730, rel=1e-3)
    assert calibrated["catalog_before_monthly"] > calibrated["before_monthly"]

    lines, data = report(estate, "manual__bills", calibrated, [], collected, "dry run: plan only", home=estate_home)
    headline = "\n".join(lines)
    assert "Calibration: aws billed" in headline
    assert "model error +42.9%, DIVERGES" in headline
    assert "oci billed" in headline
    assert data["diverging_clouds"] == ["aws"]
    raised = divergence_alerts(calibrated, home=estate_home)
    assert len(raised) == 1
    assert "aws" in raised[0]
    alerts = (estate_home / "alerts" / "alerts.jsonl").read_text()
    assert "cost_divergence" in alerts


def test_a_bill_that_cannot_be_reconciled_is_not_calibrated(estate_home):
    from multicloud.cost.catalog import catalog_for_estate
    from multicloud.cost.model import build_problem
    from multicloud.residency.policy import ResidencyPolicy

    estate = parse_estate(LOCAL.read_text(), home=str(estate_home))
    problem = build_problem(estate, catalog_for_estate(estate), ResidencyPolicy.from_estate(estate),
                            {w.id: dict(w.placement) for w in estate.workloads}, max_moves=0)
    empty = {"cloud": "aws", "source": "aws-cost-explorer", "period_start": "2026-10-02", "period_end": "2026-11-01",
             "total": 0.0, "by_workload": {}}
    factors, report_ = calibrate(problem, [empty], divergence_pct=15)
    assert factors == {}
    assert report_[0].basis.startswith("not calibrated")
    assert report_[0].error_pct is None


def test_the_local_estate_ships_a_bill_the_demo_calibrates_with(estate_home):
    estate = load_estate(home=estate_home)
    collected = [collect(estate, cloud, END) for cloud in ["aws", "azure", "gcp", "oci"]]
    result = plan(estate, ["aws", "azure", "gcp", "oci"], max_moves=5, collected=collected)
    by_cloud = {c["cloud"]: c for c in result["calibration"]}
    assert by_cloud["aws"]["error_pct"] == pytest.approx(100 * (1 / 0.92 - 1), abs=0.2)      # savings plan
    assert by_cloud["gcp"]["error_pct"] == pytest.approx(100 * (1 / 0.70 - 1), abs=0.2)      # committed use
    assert by_cloud["gcp"]["diverges"]
    assert by_cloud["oci"]["basis"].startswith("not calibrated")    # committed capacity: nothing modelled
    assert [(m["workload"], m["target"]) for m in result["moves"]] == [("churn-us-serving", "oke-ash")]
