"""Right-sizing from observed demand, the approval decision, nothing to do, not-yet-served workloads."""

from __future__ import annotations

from pathlib import Path

import pytest

from multicloud.cost.rightsizing import size_replicas
from multicloud.cost.run import decision_after_approval, gate, plan, unserved
from multicloud.estate import load_estate

LOCAL = Path(__file__).resolve().parents[3] / "include" / "estate" / "local.yaml"
SLO = {"slo_p95_ms": 250.0, "slo_success_rate": 0.99, "target_utilisation": 0.6, "concurrency": 4}


def test_demand_sets_the_replica_range():
    # 4 replicas at 100 ms p95 sustain 40 req/s each; 20 req/s in total at 60% needs 1 replica.
    size = size_replicas("w", 4, 20 * 3600, p95_ms=100, success_rate=0.999, critical=False, **SLO)
    assert (size.min_replicas, size.max_replicas, size.needed) == (1, 4, 1)
    critical = size_replicas("w", 4, 20 * 3600, p95_ms=100, success_rate=0.999, critical=True, **SLO)
    assert critical.min_replicas == 2                              # the HA minimum
    grown = size_replicas("w", 2, 200 * 3600, p95_ms=100, success_rate=0.999, critical=False, **SLO)
    assert (grown.min_replicas, grown.max_replicas) == (9, 9)      # 200 / (40 x 0.6) = 8.3: grow to 9


def test_no_measurement_or_a_breached_slo_never_shrinks():
    unknown = size_replicas("w", 3, 1000, p95_ms=None, success_rate=None, critical=False, **SLO)
    assert (unknown.min_replicas, unknown.max_replicas) == (3, 3)
    slow = size_replicas("w", 3, 3600, p95_ms=400, success_rate=0.999, critical=False, **SLO)
    assert slow.min_replicas == 3
    assert "SLO breached" in slow.reason
    failing = size_replicas("w", 3, 3600, p95_ms=100, success_rate=0.95, critical=False, **SLO)
    assert failing.min_replicas == 3


def test_rejected_approval_is_reported_as_rejected():
    rejected = decision_after_approval("waiting for approval", {"chosen_options": ["Reject"],
                                       "responded_by_user": {"id": "1", "name": "ops"}}, "success")
    assert rejected == "rejected by ops: nothing applied"
    assert decision_after_approval("waiting for approval", {"chosen_options": ["Approve"]}, None).startswith("approved")
    assert "not given" in decision_after_approval("waiting for approval", None, None)
    assert decision_after_approval("dry run: plan only", None, None) == "dry run: plan only"


def test_nothing_to_do_is_a_clear_non_failing_result(estate_home):
    result = plan(load_estate(home=estate_home), [], max_moves=5)
    assert result["status"] == "nothing_to_do"
    assert result["moves"] == []
    decision = gate(result, dry_run=False, min_savings_pct=5, approval_required=False)
    assert not decision.apply
    assert decision.reason.startswith("nothing to do")


def test_a_workload_not_served_yet_gets_no_move(estate_home):
    estate = load_estate(home=estate_home)
    # A fresh start: nothing runs anywhere yet, so nothing may be moved.
    assert unserved(estate, estate_home) == ["churn-eu-serving", "churn-us-serving"]
    result = plan(estate, ["aws", "azure", "gcp", "oci"], max_moves=5, home=estate_home, only_served=True)
    assert result["moves"] == []
    assert result["not_served"] == ["churn-eu-serving", "churn-us-serving"]


def test_right_sizing_on_the_estate_removes_idle_replicas(estate_home, tmp_path):
    import yaml

    raw = yaml.safe_load(LOCAL.read_text())
    us = next(w for w in raw["workloads"] if w["id"] == "churn-us-serving")
    us.update(replicas=3, placement={"oke-ash": 3}, requests_per_hour=3600,
              demand={"p95_ms": 50, "success_rate": 0.999, "concurrency": 1})
    path = tmp_path / "sized.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    result = plan(load_estate(str(path), home=estate_home), ["aws", "azure", "gcp", "oci"], max_moves=5)
    assert result["sizing"]["churn-us-serving"]["min_replicas"] == 1
    assert {"workload": "churn-us-serving", "source": "oke-ash", "target": None, "replicas": 2,
            "before": 3}.items() <= next(m for m in result["moves"] if m["workload"] == "churn-us-serving").items()
    assert result["savings_monthly"] == pytest.approx(2 * 0.25 * 0.184 * 730, rel=1e-3)
