"""Runtime drift against the estate baseline, and rollback of what a run touched (real servers)."""

from __future__ import annotations

import pytest

from multicloud.drivers import driver_for
from multicloud.rollout import engine
from multicloud.rollout.baseline import baseline_runtime, compare, drift_report
from multicloud.serving.model import LogisticModel


def _artifact(home, version):
    folder = home / "a" / version
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(
        LogisticModel("churn-eu", version, "eu-personal", ("x",), (0.0,), (1.0,), (1.0,), 0.0).to_json())
    return f"file://{folder}"


def test_compare_reports_each_differing_field():
    expected = {"image": "img:1", "python": "3.11", "env": {"A": "1"}, "limits": {"memory_gb": 1}}
    assert compare(expected, {"image": "img:1", "python": "3.11.7", "env": {"A": "1"},
                              "limits": {"memory_gb": 1.0}}) == []
    diffs = compare(expected, {"image": "img:2", "python": "3.12.1", "env": {}, "limits": {"memory_gb": 2}})
    assert [d["field"] for d in diffs] == ["image", "python", "env.A", "limits.memory_gb"]
    # A Deployment without a cpu limit drifts from a cpu baseline; a local server reports none (no drift).
    with_cpu = {**expected, "limits": {"cpu": 1, "memory_gb": 1}}
    assert compare(with_cpu, {**expected, "limits": {"cpu": None, "memory_gb": 1.0}}) == [
        {"field": "limits.cpu", "expected": 1, "actual": None}]
    assert compare(with_cpu, {**expected, "limits": {"memory_gb": 1.0}}) == []
    assert [d["field"] for d in compare(expected, {**expected, "limits": {}})] == ["limits.memory_gb"]


def test_drift_report_reads_what_each_cluster_actually_runs(estate, estate_home):
    journal = engine.Journal("run-1", estate_home)
    runtime = baseline_runtime(estate)
    item = {"cluster": "oke-fra", "model": "churn-eu", "version": "v1", "replicas": 1,
            "artifact_uri": _artifact(estate_home, "v1")}
    engine.deploy_item(driver_for(estate, "oke-fra"), item, strategy="canary", runtime=runtime,
                       journal=journal, ready_timeout_s=20)
    drifted = {**runtime, "env": {**runtime["env"], "OMP_NUM_THREADS": "8"}}
    engine.deploy_item(driver_for(estate, "gke-euw4"), {**item, "cluster": "gke-euw4"}, strategy="canary",
                       runtime=drifted, journal=journal, ready_timeout_s=20)
    rows = {r["cluster"]: r for r in drift_report(estate)}
    assert set(rows) == {"oke-fra", "gke-euw4"}
    assert rows["oke-fra"]["drift"] is False
    assert rows["oke-fra"]["actual"]["python"].startswith("3.11")
    assert rows["gke-euw4"]["differences"] == [{"field": "env.OMP_NUM_THREADS", "expected": "1", "actual": "8"}]


def test_rollback_restores_exactly_the_previous_versions_and_weights(estate, estate_home):
    runtime = baseline_runtime(estate)
    driver = driver_for(estate, "oke-fra")
    v1 = {"cluster": "oke-fra", "model": "churn-eu", "version": "v1", "replicas": 1,
          "artifact_uri": _artifact(estate_home, "v1")}
    engine.deploy_item(driver, v1, strategy="canary", runtime=runtime, journal=engine.Journal("r1", estate_home),
                       ready_timeout_s=20)
    journal = engine.Journal("r2", estate_home)
    v2 = {**v1, "version": "v2", "artifact_uri": _artifact(estate_home, "v2")}
    result = engine.deploy_item(driver, v2, strategy="canary", runtime=runtime, journal=journal, ready_timeout_s=20)
    assert result["weights"] == {"v1": 90, "v2": 10}
    restored = engine.rollback_touched(driver, journal.read()["touched"][0])
    assert restored["restored"] == {"v1": 1}
    assert restored["weights"] == {"v1": 100}
    # A run whose deploy fails (unreadable artifact) is recorded before it touches the cluster.
    journal3 = engine.Journal("r3", estate_home)
    with pytest.raises(Exception, match="does not exist"):
        engine.deploy_item(driver, {**v2, "version": "v3", "artifact_uri": "file:///nowhere"}, strategy="canary",
                           runtime=runtime, journal=journal3, ready_timeout_s=5)
    assert journal3.read()["touched"][0]["previous"]["versions"] == {"v1": 1}


def test_a_cluster_that_cannot_be_restored_does_not_stop_the_rollback_of_the_others(estate, estate_home):
    from multicloud.rollout.run import rollback_if_needed

    journal = engine.Journal("r4", estate_home)
    with journal.update() as data:  # oke-fra served a v0 that is gone since: it cannot be restored
        data["touched"].append({"cluster": "oke-fra", "model": "churn-eu", "version": "v1",
                                "previous": {"versions": {"v0": 1}, "weights": {"v0": 100}}})
    item = {"cluster": "gke-euw4", "model": "churn-eu", "version": "v1", "replicas": 1,
            "artifact_uri": _artifact(estate_home, "v1")}
    engine.deploy_item(driver_for(estate, "gke-euw4"), item, strategy="canary", runtime=baseline_runtime(estate),
                       journal=journal, ready_timeout_s=20)
    with pytest.raises(engine.RolloutFailed, match="rollback incomplete: oke-fra"):
        rollback_if_needed(estate, "r4", estate_home)
    assert driver_for(estate, "gke-euw4").served() == {}  # restored although oke-fra failed first
    after = journal.read()
    assert [r["cluster"] for r in after["rolled_back"]] == ["gke-euw4"]
    assert [e["kind"] for e in after["events"]].count("rollback_failed") == 1
    from multicloud.rollout.run import summarize

    plan = {"plans": [], "dry_run": False, "strategy": "canary"}
    lines, _data, ok = summarize(estate, plan, "r4", estate_home)
    assert not ok
    assert lines[1] == "restored: gke-euw4=nothing"
    assert lines[2].startswith("NOT RESTORED: oke-fra (churn-eu): RolloutFailed")
