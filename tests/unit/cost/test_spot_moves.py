"""Spot placements applied, not only planned: a plan whose move lands on a spot pool runs end to
end on the local driver (each replica records its pool) and on the Kubernetes driver against the
API emulator (the pods carry the pool's capacity-type nodeSelector; on-demand pods are kept off
spot nodes); the report's achieved saving counts the spot move; a critical workload keeps an
on-demand replica in every region where it runs spot, checked again when a move is applied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multicloud.cost.apply import apply_move
from multicloud.cost.run import plan, report
from multicloud.drivers import driver_for
from multicloud.drivers.local import LocalClusterDriver, stop_all_servers
from multicloud.estate import load_estate
from multicloud.paths import DEFAULT_ESTATE_FILE
from multicloud.placement import current_placement
from tests.dags.cost_fixtures import serve_declared_placement

SPOT_POOLS = {"oke-ash": "oke", "gke-euw4": "gke", "eks-use1": "eks"}


def spot_estate_text(base: str | None = None) -> str:
    """The local estate with spot pools on three clusters and both serving workloads preemptible."""
    text = base or DEFAULT_ESTATE_FILE.read_text()
    for cluster, kind in SPOT_POOLS.items():
        marker = f"      id: {cluster}\n      kind: {kind}\n"
        assert marker in text
        gpu = ", gpu: 1, gpu_type: A10G" if cluster == "eks-use1" else ""
        text = text.replace(marker, marker + f"      spot: {{capacity: {{cpu: 8, memory_gb: 32{gpu}}}}}\n", 1)
    for workload in ("churn-eu-serving", "churn-us-serving"):
        marker = f"  - id: {workload}\n"
        text = text.replace(marker, marker + "    preemptible: true\n", 1)
    return text


def apply_plan(estate, home: Path, run_id: str) -> tuple[dict, list[dict], dict]:
    result = plan(estate, ["aws", "azure", "gcp", "oci"], max_moves=5, home=home, only_served=True)
    applied = [apply_move(estate, move, run_id, home=home) for move in result["moves"]]
    _lines, data = report(estate, run_id, result, applied, [], "applying", home=home)
    return result, applied, data


@pytest.fixture
def spot_estate(estate_home, tmp_path, monkeypatch):
    path = tmp_path / "spot.yaml"
    path.write_text(spot_estate_text())
    monkeypatch.setenv("MULTICLOUD_ESTATE", str(path))
    estate = load_estate(home=estate_home)
    serve_declared_placement(estate, estate_home)
    yield estate
    stop_all_servers(home=estate_home)


def test_a_plan_with_a_spot_move_is_applied_on_the_local_driver(spot_estate, estate_home):
    result, applied, data = apply_plan(spot_estate, estate_home, "spot-local")
    [move] = [m for m in result["moves"] if m["workload"] == "churn-us-serving"]
    assert (move["source"], move["target"]) == ("eks-use1", "oke-ash.spot")
    [done] = [a for a in applied if a["workload"] == "churn-us-serving"]
    assert done["status"] == "applied", done
    assert current_placement(spot_estate, estate_home)["churn-us-serving"] == {"oke-ash.spot": 1}

    spot = LocalClusterDriver("oke-ash", estate_home, pool="spot")
    assert spot.served()["churn-us"]["versions"] == {"v1": 1}
    assert "churn-us" not in LocalClusterDriver("oke-ash", estate_home).served()   # not on on-demand nodes
    assert "churn-us" not in LocalClusterDriver("eks-use1", estate_home).served()  # the source was released
    state = json.loads((estate_home / "clusters" / "oke-ash" / "state.spot.json").read_text())
    [replica] = state["models"]["churn-us"]["versions"]["v1"]["processes"]
    assert replica["pool"] == "spot"
    # Traffic reaches the spot replica through the cluster's endpoints, and it answers.
    [url] = LocalClusterDriver("oke-ash", estate_home).endpoints("churn-us")
    assert spot.fetch(f"{url}/healthz")[0] == 200

    # The achieved saving counts the spot move (spot price on the placement store's truth).
    assert data["achieved_basis"].startswith("placement model")
    assert data["achieved_savings_monthly"] == pytest.approx(result["savings_monthly"], abs=0.01)
    assert data["achieved_savings_monthly"] >= move["monthly_saving"] > 0
    assert data["spot"]["spot_replicas"] == 1

    # On the same served estate (the plan left churn-eu-serving where it was): the critical floor.
    critical_workload_keeps_an_on_demand_replica_where_it_runs_spot(spot_estate, estate_home)


def critical_workload_keeps_an_on_demand_replica_where_it_runs_spot(spot_estate, estate_home) -> None:
    workload = "churn-eu-serving"
    assert current_placement(spot_estate, estate_home)[workload] == {"oke-fra": 1, "gke-euw4": 1}
    to_spot = {"workload": workload, "source": "gke-euw4", "target": "gke-euw4.spot", "replicas": 1}
    refused = apply_move(spot_estate, to_spot, "floor", home=estate_home)
    assert refused["status"] == "refused"
    assert "no on-demand replica" in refused["error"]
    assert current_placement(spot_estate, estate_home)[workload] == {"oke-fra": 1, "gke-euw4": 1}
    assert "churn-eu" not in LocalClusterDriver("gke-euw4", estate_home, pool="spot").served()

    add_spot = {"workload": workload, "source": None, "target": "gke-euw4.spot", "replicas": 1, "before": 0}
    assert apply_move(spot_estate, add_spot, "floor", home=estate_home)["status"] == "applied"
    assert current_placement(spot_estate, estate_home)[workload] == {"oke-fra": 1, "gke-euw4": 1, "gke-euw4.spot": 1}

    # The placement store still says one on-demand replica, but the cluster no longer serves it:
    # the next spot replica there is refused (the store is not taken on trust).
    LocalClusterDriver("gke-euw4", estate_home).remove("churn-eu")
    again = {"workload": workload, "source": None, "target": "gke-euw4.spot", "replicas": 1, "before": 1}
    refused = apply_move(spot_estate, again, "floor-2", home=estate_home)
    assert refused["status"] == "refused"
    assert "serve(s) none" in refused["error"]
    assert LocalClusterDriver("gke-euw4", estate_home, pool="spot").served()["churn-eu"]["versions"] == {"v1": 1}


def test_a_spot_id_needs_a_spot_pool(tmp_path, monkeypatch, estate_home):
    (tmp_path / "spot.yaml").write_text(spot_estate_text())
    monkeypatch.setenv("MULTICLOUD_ESTATE", str(tmp_path / "spot.yaml"))
    spot_estate = load_estate(home=estate_home)
    with pytest.raises(ValueError, match="has no spot pool"):
        driver_for(spot_estate, "oke-fra.spot", estate_home)
    with pytest.raises(ValueError, match="unknown node pool"):
        driver_for(spot_estate, "oke-ash.gpu", estate_home)


def test_kubernetes_driver_scoped_to_a_spot_pool(monkeypatch):
    """API semantics (SIMULATED image: pods Ready without a process): a spot Deployment beside an
    on-demand one of the same version, each driver seeing only its pool, shared Services kept
    until no pool runs the version."""
    from kubernetes import config

    from multicloud.drivers import ModelDeployment
    from multicloud.drivers.kubernetes import KubernetesClusterDriver
    from tests.emulators.kubernetes import SIMULATED, KubernetesEmulator

    runtime = {"image": "img", "python": "3.11", "env": {}, "limits": {"cpu": 1, "memory_gb": 1}}
    off_spot = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "eks.amazonaws.com/capacityType", "operator": "NotIn", "values": ["SPOT"]}]}]}}}}
    kube = KubernetesEmulator(images={"img": SIMULATED}).start()
    try:
        api = config.new_client_from_config_dict(kube.kubeconfig())
        on_demand = KubernetesClusterDriver("eks-use1", api, poll_s=0.02, scheduling=off_spot)
        spot = KubernetesClusterDriver("eks-use1", api, poll_s=0.02, pool="spot", scheduling={
            "nodeSelector": {"eks.amazonaws.com/capacityType": "SPOT"}})
        assert spot.cluster_id == "eks-use1.spot"
        on_demand.deploy(ModelDeployment("churn-us", "v1", 2, "file:///m", runtime))
        spot.deploy(ModelDeployment("churn-us", "v1", 1, "file:///m", runtime))
        assert spot.wait_ready("churn-us", "v1", 20).state == "complete"
        assert on_demand.wait_ready("churn-us", "v1", 20).state == "complete"
        assert on_demand.served()["churn-us"]["versions"] == {"v1": 2}
        assert spot.served()["churn-us"]["versions"] == {"v1": 1}
        pods = kube.list("pods", selector="multicloud.io/model=churn-us")
        by_pool = sorted((p["metadata"]["labels"].get("multicloud.io/pool", "-"),
                          json.dumps({k: p["spec"].get(k) for k in ("nodeSelector", "affinity") if p["spec"].get(k)},
                                     sort_keys=True)) for p in pods)
        assert by_pool == [("-", json.dumps(off_spot, sort_keys=True))] * 2 + [
            ("spot", json.dumps({"nodeSelector": {"eks.amazonaws.com/capacityType": "SPOT"}}))]
        assert kube.get("services", "models", "churn-us-v1-spot")["spec"]["selector"]["multicloud.io/pool"] == "spot"
        assert spot.endpoints("churn-us", "v1")[0].endswith("/churn-us-v1-spot:8080/proxy")
        on_demand.scale("churn-us", "v1", 1)
        assert kube.get("deployments", "models", "churn-us-v1")["spec"]["replicas"] == 1
        assert kube.get("deployments", "models", "churn-us-v1-spot")["spec"]["replicas"] == 1

        on_demand.remove("churn-us")   # the spot pool still serves v1: the shared Services stay
        assert kube.get("deployments", "models", "churn-us-v1") is None
        assert kube.get("services", "models", "churn-us-v1") is not None
        assert kube.get("services", "models", "churn-us") is not None
        assert on_demand.endpoints("churn-us")[0].endswith("/churn-us-v1:8080/proxy")  # traffic: spot pods
        spot.remove("churn-us")        # nothing left anywhere: every Service goes
        for name in ("churn-us-v1-spot", "churn-us-v1", "churn-us"):
            assert kube.get("services", "models", name) is None, name
    finally:
        kube.stop()
    assert not kube.errors


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_a_plan_with_a_spot_move_is_applied_on_the_kubernetes_driver(estate_home, tmp_path, monkeypatch):
    from tests.kube_estate import estate_yaml, start_clusters, stop_all, use_estate

    clusters = start_clusters(("eks-use1", "oke-ash"), monkeypatch, tmp_path / "pods")
    try:
        use_estate(estate_yaml(clusters, base=spot_estate_text()), tmp_path / "estate.yaml", monkeypatch)
        estate = load_estate(home=estate_home)
        serve_declared_placement(estate, estate_home, every_driver=True)
        source, target = clusters["eks-use1"], clusters["oke-ash"]

        result, applied, data = apply_plan(estate, estate_home, "spot-kube")
        [done] = [a for a in applied if a["workload"] == "churn-us-serving"]
        assert (done["source"], done["target"], done["status"]) == ("eks-use1", "oke-ash.spot", "applied"), done
        [pod] = [p for p in target.list("pods") if p["metadata"]["labels"]["multicloud.io/model"] == "churn-us"]
        assert pod["metadata"]["labels"]["multicloud.io/pool"] == "spot"
        assert pod["spec"]["nodeSelector"] == {"oci.oraclecloud.com/oke-is-preemptible": "true"}
        assert pod["status"]["phase"] == "Running"
        assert target.get("deployments", "models", "churn-us-v1-spot") is not None
        assert target.get("deployments", "models", "churn-us-v1") is None  # nothing on on-demand nodes
        assert target.get("services", "models", "churn-us-v1") is not None  # the shared traffic Service
        assert source.get("deployments", "models", "churn-us-v1") is None
        assert driver_for(estate, "oke-ash.spot", estate_home).served()["churn-us"]["versions"] == {"v1": 1}
        assert "churn-us" not in driver_for(estate, "oke-ash", estate_home).served()
        # The cluster's traffic endpoint (the shared per-version Service) reaches the spot pod.
        on_demand = driver_for(estate, "oke-ash", estate_home)
        [url] = on_demand.endpoints("churn-us")
        assert on_demand.fetch(f"{url}/healthz")[0] == 200
        assert data["achieved_savings_monthly"] == pytest.approx(result["savings_monthly"], abs=0.01)
        assert data["achieved_savings_monthly"] > 0
    finally:
        stop_all_servers(home=estate_home)
        errors = [e for emulator in clusters.values() for e in emulator.errors]
        stop_all(clusters)
    assert not errors


def test_on_demand_pods_of_a_cluster_with_a_spot_pool_stay_off_spot_nodes(tmp_path, monkeypatch, estate_home):
    from multicloud.drivers.scheduling import pool_scheduling

    monkeypatch.setenv("MULTICLOUD_ESTATE", str(tmp_path / "spot.yaml"))
    (tmp_path / "spot.yaml").write_text(spot_estate_text())
    estate = load_estate(home=estate_home)
    _region, gke = estate.cluster("gke-euw4")
    assert pool_scheduling(gke, "spot") == {"nodeSelector": {"cloud.google.com/gke-spot": "true"}}
    assert pool_scheduling(gke, None)["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "cloud.google.com/gke-spot", "operator": "NotIn", "values": ["true"]}]}]}
    _region, eks = estate.cluster("eks-use1")
    assert pool_scheduling(eks, "spot")["nodeSelector"] == {"eks.amazonaws.com/capacityType": "SPOT"}
    _region, fra = estate.cluster("oke-fra")
    assert pool_scheduling(fra, None) == {}  # no spot pool: the pod spec is unchanged
    aks = gke.model_copy(update={"kind": "aks", "id": "aks-x"})
    assert pool_scheduling(aks, "spot") == {
        "nodeSelector": {"kubernetes.azure.com/scalesetpriority": "spot"},
        "tolerations": [{"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal", "value": "spot",
                         "effect": "NoSchedule"}]}
    named = gke.model_copy(update={"spot": gke.spot.model_copy(update={
        "node_selector": {"pool": "cheap"}, "tolerations": [{"key": "cheap", "operator": "Exists"}]})})
    assert pool_scheduling(named, "spot") == {"nodeSelector": {"pool": "cheap"},
                                              "tolerations": [{"key": "cheap", "operator": "Exists"}]}
