"""The DAGs on a kubernetes-driver estate: pods that run, gates through the API server's service proxy.

Emulated: the Kubernetes API servers (tests/emulators/kubernetes.py, one per cluster; no
kube-apiserver can run here). Real: the DAGs (``dag.test``), the driver and the official client
over HTTP, and every pod: a process running the model-server image's entrypoint on the trained
artifact (checksum verified against the model card before its port opens), Ready only when its
readiness probe answers; gates reach the pods through the service proxy with the driver's token.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from multicloud.drivers import ModelDeployment, driver_for
from multicloud.drivers.local import stop_all_servers
from multicloud.estate import load_estate
from multicloud.placement import current_placement
from multicloud.reports import latest_summary
from multicloud.training import artifacts
from multicloud.training.run import train_and_store
from multicloud.waiting import wait_until
from tests.dags.cost_fixtures import serve_declared_placement, write_card
from tests.dags.dag_files import load_dag
from tests.kube_estate import estate_yaml, start_clusters, stop_all, use_estate
from tests.synthetic_events import seed_customer_events

FAST_GATES = {"gate_checks": 2, "gate_interval_s": 0.05}


def publish_copy(estate, model: str, source: str, version: str) -> None:
    """A new version with the same coefficients (a good model), its card's checksum its own."""
    root = Path(artifacts.artifact_uri(estate, model, source).removeprefix("file://"))
    target = root.parent / version
    target.mkdir()
    raw = json.loads((root / "model.json").read_text())
    raw["version"] = version
    body = json.dumps(raw)
    (target / "model.json").write_text(body)
    card = json.loads((root / "card.json").read_text())
    card.update(version=version, trained_at="2999-01-01T00:00:00+00:00",
                artifact_sha256=hashlib.sha256(body.encode()).hexdigest())
    (target / "card.json").write_text(json.dumps(card))


def versions_of_running_pods(emulator) -> set[str]:
    return {p["metadata"]["labels"]["multicloud.io/version"] for p in emulator.list("pods")
            if p["status"].get("phase") == "Running"}


def wait_for(condition, timeout_s: float = 10.0) -> None:
    assert wait_until(condition, timeout_s), "condition not reached"


@pytest.fixture
def kube_estate(airflow_db, estate_home, tmp_path, monkeypatch, request):
    clusters = start_clusters(request.param, monkeypatch, tmp_path / "pods")
    use_estate(estate_yaml(clusters), tmp_path / "estate.yaml", monkeypatch)
    yield load_estate(home=estate_home), clusters
    stop_all_servers(home=estate_home)
    errors = [e for emulator in clusters.values() for e in emulator.errors]
    stop_all(clusters)
    assert not errors


@pytest.mark.e2e  # make test runs model_rollout on Kubernetes through the scheduler (tests/scheduler/test_kubernetes_rollout.py)
@pytest.mark.timeout(300)
@pytest.mark.parametrize("kube_estate", [("oke-fra", "gke-euw4")], indirect=True)
def test_model_rollout_on_kubernetes_then_a_bad_version_is_rolled_back_everywhere(kube_estate, estate_home):
    estate, clusters = kube_estate
    seed_customer_events(estate)
    train_and_store(estate, "churn-eu", "v1")

    run = load_dag("model_rollout").test(run_conf={"model": "churn-eu", **FAST_GATES})
    assert run.state == "success"
    for cluster, emulator in clusters.items():
        served = driver_for(estate, cluster).served()["churn-eu"]
        assert (served["versions"], served["weights"]) == ({"v1": 1}, {"v1": 100})
        assert versions_of_running_pods(emulator) == {"v1"}
        # Every gate request reached the pod through the API server's service proxy.
        assert {path for _svc, _pod, path in emulator.proxied} >= {"/healthz", "/predict"}
    headline = latest_summary("model_rollout", estate_home)["headline"]
    assert any("churn-eu v1 (eu-personal) serves on gke-euw4, oke-fra" in line for line in headline)
    assert any("traffic split by replica count on gke-euw4, oke-fra" in line for line in headline)

    # v2 passes the canary (oke-fra) but its pods never come up on wave 1 (gke-euw4): both touched
    # clusters go back to v1 alone; no v2 Deployment, Service or pod is left on either.
    publish_copy(estate, "churn-eu", "v1", "v2")
    clusters["gke-euw4"].fail("churn-eu-v2")
    failed = load_dag("model_rollout").test(run_conf={"model": "churn-eu", "version": "v2", **FAST_GATES})
    assert failed.state == "failed"
    summary = latest_summary("model_rollout", estate_home)
    assert summary["headline"][0].startswith("ROLLED BACK: gke-euw4")
    assert sorted(t["cluster"] for t in summary["data"]["journal"]["touched"]) == ["gke-euw4", "oke-fra"]
    assert [e for e in summary["data"]["journal"]["events"] if e["kind"] == "gate" and e["stage"] == "canary"
            and e["passed"]]
    for cluster, emulator in clusters.items():
        served = driver_for(estate, cluster).served()["churn-eu"]
        assert (served["versions"], served["weights"]) == ({"v1": 1}, {"v1": 100})
        assert emulator.get("deployments", "models", "churn-eu-v2") is None
        assert emulator.get("services", "models", "churn-eu-v2") is None
        wait_for(lambda e=emulator: versions_of_running_pods(e) == {"v1"})
        assert {p["metadata"]["labels"]["multicloud.io/version"] for p in emulator.list("pods")} == {"v1"}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kube_estate", [("eks-use1", "oke-ash")], indirect=True)
def test_cost_move_between_kubernetes_clusters_is_make_before_break(kube_estate, estate_home):
    estate, clusters = kube_estate
    serve_declared_placement(estate, estate_home, every_driver=True)
    assert versions_of_running_pods(clusters["eks-use1"]) == {"v1"}

    run = load_dag("cost_rebalance").test(run_conf=MOVE_CONF)
    assert run.state == "success"
    assert_moved_make_before_break(estate, clusters, estate_home)


MOVE_CONF = {"dry_run": False, "max_moves": 5, "min_savings_pct": 10}


def assert_moved_make_before_break(estate, clusters, home: Path) -> None:
    """churn-us moved eks-use1 -> oke-ash: its health gate went through the target's service proxy, and
    the target's pod was Ready (in its Endpoints) before the source's Deployment went."""
    source, target = clusters["eks-use1"], clusters["oke-ash"]
    assert current_placement(estate, home)["churn-us-serving"] == {"oke-ash": 1}
    [applied] = latest_summary("cost_rebalance", home)["data"]["applied"]
    assert (applied["source"], applied["target"], applied["status"]) == ("eks-use1", "oke-ash", "applied")
    assert versions_of_running_pods(target) == {"v1"}
    assert target.proxied
    assert source.get("deployments", "models", "churn-us-v1") is None
    serving_on_target = target.first_time("endpoints", "churn-us-v1", when=lambda o: bool(o.get("subsets")))
    source_gone = source.first_time("deployments", "churn-us-v1", kind="DELETED")
    assert serving_on_target is not None
    assert source_gone is not None
    assert serving_on_target < source_gone


def serve_churn_eu_on_the_pair(estate, clusters, home: Path) -> set[str]:
    """churn-eu v1 served on both clusters of the eu-churn pair, data at both regions (the replica
    behind by its lag); returns the primary's first pods (fail back must replace them)."""
    from tests.dags.dr_fixtures import NEWEST_EVENT, REPLICA_LAG, write_events
    from tests.dags.dr_fixtures import write_model as write_dr_model

    uri = write_dr_model(estate)
    write_card(estate, "churn-eu", uri)
    write_events(estate, "oci-fra", NEWEST_EVENT)
    write_events(estate, "gcp-euw4", NEWEST_EVENT - REPLICA_LAG)
    for cluster in clusters:
        driver = driver_for(estate, cluster, home)
        driver.deploy(ModelDeployment("churn-eu", "v1", 1, uri, runtime=estate.runtime.model_dump(mode="json")))
        assert driver.wait_ready("churn-eu", "v1", 60).state == "complete", cluster
    return {p["metadata"]["name"] for p in clusters["oke-fra"].list("pods")}


REHEARSAL_CONF = {"scenario": "region_outage", "hold_s": 1, "stabilisation_checks": 2, "max_duration_s": 90,
                  "path": "orchestrated"}


def assert_failed_over_and_back(clusters, first_pods: set[str], home: Path) -> None:
    """The rehearsal passed: answers from both clusters' pods, the primary's Deployment scaled to zero
    by the fault and new pods after fail back, the estate as before, every fault undone."""
    from multicloud.dr.ledger import FaultLedger

    report = latest_summary("dr_rehearsal", home)["data"]
    assert report["outcome"] == "passed"
    assert 0 < report["score"]["rto_s"] <= 30
    assert report["probe"]["regions"] == ["gcp-euw4", "oci-fra"]
    assert all(report["as_before"].values()), report["as_before"]
    primary = clusters["oke-fra"]
    assert primary.first_time("deployments", "churn-eu-v1", when=lambda o: o["spec"]["replicas"] == 0)
    assert versions_of_running_pods(primary) == {"v1"}
    assert not first_pods & {p["metadata"]["name"] for p in primary.list("pods")}
    assert {path.split("?")[0] for _svc, _pod, path in clusters["gke-euw4"].proxied} & {"/predict", "/healthz"}
    assert all(e["state"] in ("undone", "kept") for e in FaultLedger("eu-churn", home).entries())


@pytest.mark.e2e  # make test runs it through the scheduler (tests/scheduler/test_kubernetes_move_and_rehearsal.py)
@pytest.mark.timeout(300)
@pytest.mark.parametrize("kube_estate", [("oke-fra", "gke-euw4")], indirect=True)
def test_dr_rehearsal_on_kubernetes_fails_over_and_back(kube_estate, estate_home, monkeypatch, tmp_path):
    from tests.dags.dr_fixtures import teardown
    from tests.kube_estate import estate_yaml as kube_yaml

    _, clusters = kube_estate
    # The local DR gateway process forwards to the pods through each cluster's ingress (external_url).
    use_estate(kube_yaml(clusters, external=True), tmp_path / "estate.yaml", monkeypatch)
    first_pods = serve_churn_eu_on_the_pair(load_estate(home=estate_home), clusters, estate_home)
    try:
        run = load_dag("dr_rehearsal").test(run_conf=REHEARSAL_CONF)
    finally:
        teardown(estate_home)
    assert run.state == "success"
    assert_failed_over_and_back(clusters, first_pods, estate_home)
