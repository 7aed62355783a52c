"""Planning on the local estate (pure, no Airflow run) and the gate's decisions."""

from __future__ import annotations

import pytest

from multicloud.cost.model import ClusterData, Problem, WorkloadData
from multicloud.cost.report import plan_moves
from multicloud.cost.run import GateDecision, gate, plan
from multicloud.estate import load_estate


def test_local_estate_plan_moves_churn_us_off_the_gpu_node_inside_the_us(estate_home):
    estate = load_estate(home=estate_home)
    result = plan(estate, ["aws", "azure", "gcp", "oci"], max_moves=5)
    assert result["status"] == "optimal"
    assert [(m["workload"], m["source"], m["target"]) for m in result["moves"]] == [
        ("churn-us-serving", "eks-use1", "oke-ash")]
    move = result["moves"][0]
    assert move["residency"]["allowed"]
    assert move["monthly_saving"] == pytest.approx(0.25 * (1.212 - 0.184) * 730, rel=1e-6)
    # churn-eu-serving stays: its oke-fra replica runs on committed capacity (free at the margin).
    assert result["proposed"]["churn-eu-serving"] == {"oke-fra": 1, "gke-euw4": 1}
    assert result["savings_pct"] > 25


def test_no_moves_when_the_budget_is_zero(estate_home):
    result = plan(load_estate(home=estate_home), ["aws", "azure", "gcp", "oci"], max_moves=0)
    assert result["moves"] == []
    assert result["savings_monthly"] == 0


def _result(pct: float, blocks: bool = False) -> dict:
    return {"savings_pct": pct, "moves": [{"residency": {"blocks": blocks, "reason": "class x may not land"}}]}


def test_gate_decisions():
    applying = gate(_result(30), dry_run=False, min_savings_pct=10, approval_required=False)
    assert (applying.apply, applying.approval) == (True, False)
    approving = gate(_result(30), dry_run=False, min_savings_pct=10, approval_required=True)
    assert (approving.apply, approving.approval, approving.reason) == (True, True, "waiting for approval")
    assert not gate(_result(5), dry_run=False, min_savings_pct=10, approval_required=False).apply
    assert gate(_result(30), dry_run=True, min_savings_pct=10, approval_required=False) == GateDecision(
        False, "dry run: plan only")
    assert not gate({"savings_pct": 0, "moves": []}, dry_run=False, min_savings_pct=0, approval_required=False).apply
    with pytest.raises(ValueError, match="residency would block"):
        gate(_result(30, blocks=True), dry_run=False, min_savings_pct=10, approval_required=False)


def test_plan_moves_pairs_leaving_and_arriving_replicas():
    clusters = tuple(ClusterData(c, c, "aws", "s", 1.0, 8, 32, 0, None, 16, 64, 0) for c in ("a", "b", "c"))
    w = WorkloadData("w", 3, 1, 2, 0, None, False, {"a": 2, "b": 1}, "x", frozenset("abc"))
    moves = plan_moves(Problem(clusters, (w,), 9), {"w": {"c": 2, "b": 1}})
    assert moves == [{"workload": "w", "source": "a", "target": "c", "replicas": 2}]


def test_clouds_filter_keeps_other_clouds_workloads_and_their_capacity(estate_home):
    from multicloud.cost.catalog import catalog_for_estate
    from multicloud.cost.model import build_problem
    from multicloud.residency.policy import ResidencyPolicy

    estate = load_estate(home=estate_home)
    placement = {w.id: dict(w.placement) for w in estate.workloads}
    problem = build_problem(estate, catalog_for_estate(estate), ResidencyPolicy.from_estate(estate), placement,
                            max_moves=5, clouds=["oci"])
    assert {c.cloud for c in problem.clusters} == {"oci"}
    assert problem.workloads == ()  # churn-eu also runs on gke-euw4 (not in this run): it stays
    assert problem.cluster("oke-fra").cpu == 16 - 2  # its oke-fra replica still takes room


def test_cost_source_needs_its_connection():
    from pydantic import ValidationError

    from multicloud.estate.models import CostSource

    with pytest.raises(ValidationError, match="needs connection_id"):
        CostSource(type="aws_cost_explorer")
    with pytest.raises(ValidationError, match="needs tenancy"):
        CostSource(type="oci_usage_api", connection_id="oci_default")
