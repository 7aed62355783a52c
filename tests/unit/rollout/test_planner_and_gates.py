"""Rollout planning (residency, placement, waves, idempotence) and Flagger-style gate scoring."""

from __future__ import annotations

import pytest

from multicloud.placement import current_placement
from multicloud.rollout.gates import Sample, Thresholds, p95, score_check, verdict
from multicloud.rollout.planner import STAGES, plan_rollout


def test_eu_model_is_never_planned_for_a_us_cluster_and_the_plan_says_why(estate):
    plan = plan_rollout(estate, current_placement(estate), "churn-eu", "v1", "file:///a",
                        clusters=["eks-use1", "oke-fra", "aks-weu"])
    assert [e["cluster"] for e in plan["excluded"]] == ["eks-use1"]
    assert plan["excluded"][0]["rule"] == "default-deny:not-allowed"
    assert "eu-personal" in plan["excluded"][0]["reason"]
    assert "US" in plan["excluded"][0]["reason"]
    targets = {t["cluster"]: t["replicas"] for t in plan["targets"]}
    assert targets == {"oke-fra": 1, "aks-weu": 1}  # explicit and unplaced: one replica
    assert plan["stages"][0] == [[plan["targets"][0]]]
    assert plan["targets"][0]["cluster"] == "oke-fra"


def test_default_candidates_follow_placement_and_skip_unplaced_clusters(estate):
    plan = plan_rollout(estate, current_placement(estate), "churn-us", "v3", "file:///a")
    assert [t["cluster"] for t in plan["targets"]] == ["eks-use1"]
    assert {s["cluster"] for s in plan["skipped"]} == {"oke-ash", "gke-usc1"}
    assert len(plan["excluded"]) == 6


def test_waves_grow_and_respect_max_parallel(estate):
    placement = {"churn-eu-serving": {c.id: 1 for _, c in estate.clusters()}}
    plan = plan_rollout(estate, placement, "churn-eu", "v1", "file:///a", strategy="blue_green", max_parallel=2)
    sizes = [sum(len(lane) for lane in stage) for stage in plan["stages"]]
    assert sizes == [1, 2, 1, 0]
    assert len(STAGES) == 4
    assert all(len(stage) <= 2 for stage in plan["stages"])
    with pytest.raises(ValueError, match="strategy"):
        plan_rollout(estate, placement, "churn-eu", "v1", "file:///a", strategy="yolo")
    with pytest.raises(ValueError, match="unknown cluster"):
        plan_rollout(estate, placement, "churn-eu", "v1", "file:///a", clusters=["nope"])


def test_clusters_already_serving_the_version_are_unchanged(estate):
    serving = {"oke-fra": {"versions": {"v1": 1}, "weights": {"v1": 100}},
               "gke-euw4": {"versions": {"v0": 1, "v1": 1}, "weights": {"v0": 90, "v1": 10}}}
    plan = plan_rollout(estate, current_placement(estate), "churn-eu", "v1", "file:///a", serving=serving)
    assert plan["unchanged"] == ["oke-fra"]
    assert [t["cluster"] for t in plan["targets"]] == ["gke-euw4"]


def _samples(ok: int, bad: int, ms: float = 5.0, error: str = "HTTP 500") -> list[Sample]:
    return [Sample("u", "smoke", True, ms) for _ in range(ok)] + [Sample("u", "smoke", False, ms, error)
                                                                   for _ in range(bad)]


def test_gate_scoring_follows_flagger_semantics():
    t = Thresholds(success_rate_min=0.9, p95_ms_max=100, max_failed_checks=2, checks=3)
    good = score_check(_samples(19, 1), t)
    assert good.passed
    assert good.success_rate == 0.95
    slow = score_check(_samples(20, 0, ms=150), t)
    assert not slow.passed
    assert "p95" in slow.failures[0]
    wrong = score_check(_samples(19, 1, error="wrong answer {}"), t)
    assert not wrong.passed
    assert wrong.wrong_answers == 1
    assert not score_check([], t).passed
    assert verdict([good], t) is None  # more checks needed
    assert verdict([good, slow], t) is None  # one failure is under the threshold of 2
    failed = verdict([good, slow, wrong], t)
    assert failed is not None
    assert not failed.passed
    assert failed.failed_checks == 2
    passed = verdict([good, slow, good], t)
    assert passed is not None
    assert passed.passed
    assert p95([float(i) for i in range(1, 101)]) == 95.0
    with pytest.raises(ValueError):
        Thresholds(success_rate_min=0)
