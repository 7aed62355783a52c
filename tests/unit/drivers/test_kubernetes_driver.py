"""The Kubernetes driver over real HTTP: official client + KubernetesHook against the API emulator.

Emulated (tests/emulators/kubernetes.py): no kube-apiserver can run here. OKE's kubeconfig comes
from the OCI emulator (signed requests, real SDK); EKS's from moto in server mode (real boto3 and
the amazon provider's EksHook).
"""

from __future__ import annotations

import json
import os
import sys

import pytest
import yaml

from multicloud.drivers.base import ModelDeployment
from multicloud.drivers.kubernetes import KubernetesClusterDriver, rollout_status
from multicloud.estate import parse_estate
from multicloud.paths import DEFAULT_ESTATE_FILE
from tests.emulators.kubernetes import KubernetesEmulator

RUNTIME = {"image": "multicloud/model-server:1.4.0", "python": "3.11", "env": {"OMP_NUM_THREADS": "1"},
           "limits": {"cpu": 1, "memory_gb": 1}}


@pytest.fixture
def kube(monkeypatch):
    emulator = KubernetesEmulator().start()
    monkeypatch.setenv("AIRFLOW_CONN_K8S_TEST", json.dumps(
        {"conn_type": "kubernetes", "extra": {"kube_config": json.dumps(emulator.kubeconfig())}}))
    yield emulator
    emulator.stop()


@pytest.fixture
def driver(kube):
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    return KubernetesClusterDriver("oke-fra", KubernetesHook(kubernetes_conn_id="k8s_test").get_conn(),
                                   poll_s=0.02, progress_deadline_s=1)


def dep(version: str, replicas: int = 2, runtime: dict | None = None) -> ModelDeployment:
    return ModelDeployment("churn-eu", version, replicas, f"oci://models@ns/churn-eu/{version}", runtime or RUNTIME,
                           {"rollout": "manual__2026-11-29T10:00:00+00:00"})


def test_hook_connects_and_apply_progresses_to_complete(kube, driver):
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    assert KubernetesHook(kubernetes_conn_id="k8s_test").test_connection()[0]
    kube.stall("churn-eu-v1")
    driver.deploy(dep("v1", replicas=3))
    assert driver.status("churn-eu", "v1").state == "progressing"
    kube.stalled.clear()
    status = driver.wait_ready("churn-eu", "v1", timeout_s=10)
    assert (status.state, status.ready, status.desired) == ("complete", 3, 3)
    obj = kube.get("deployments", "models", "churn-eu-v1")
    assert obj["metadata"]["labels"]["multicloud.io/version"] == "v1"
    assert obj["spec"]["template"]["metadata"]["labels"] == {
        "multicloud.io/model": "churn-eu", "multicloud.io/version": "v1", "app.kubernetes.io/managed-by": "multicloud-rollout"}
    assert ("PATCH", "/apis/apps/v1/namespaces/models/deployments/churn-eu-v1", "application/apply-patch+yaml") in kube.requests
    served = driver.served()["churn-eu"]
    assert served["versions"] == {"v1": 3}
    assert served["weights"] == {"v1": 100}
    assert served["runtime"] == {"image": "multicloud/model-server:1.4.0", "python": "3.11",
                                 "env": {"OMP_NUM_THREADS": "1"}, "limits": {"cpu": 1.0, "memory_gb": 1.0}}
    generation = obj["metadata"]["generation"]
    driver.deploy(dep("v1", replicas=3))  # idempotent: same spec, same generation
    assert kube.get("deployments", "models", "churn-eu-v1")["metadata"]["generation"] == generation
    driver.scale("churn-eu", "v1", 1)
    assert driver.wait_ready("churn-eu", "v1", 10).desired == 1


def test_stuck_rollout_fails_past_its_deadline_and_canary_rollback(kube, driver):
    driver.deploy(dep("v1", replicas=1))
    driver.wait_ready("churn-eu", "v1", 10)
    kube.stall("churn-eu-v2")
    driver.deploy(dep("v2", replicas=1))
    driver.shift("churn-eu", {"v1": 90, "v2": 10})
    status = driver.wait_ready("churn-eu", "v2", timeout_s=10)
    assert status.state == "failed"
    assert "progress deadline" in status.message
    assert driver.endpoints("churn-eu") == [
        "http://churn-eu-v1.models.svc.cluster.local:8080", "http://churn-eu-v2.models.svc.cluster.local:8080"]
    assert driver.rollback("churn-eu") == "v1"
    assert kube.get("deployments", "models", "churn-eu-v2") is None
    assert driver.served()["churn-eu"]["weights"] == {"v1": 100}
    kube.fail("churn-eu-v3")
    driver.deploy(dep("v3", replicas=1))
    assert driver.wait_ready("churn-eu", "v3", 10).state == "failed"
    driver.remove("churn-eu")
    assert driver.served() == {}
    assert kube.get("services", "models", "churn-eu") is None


def test_rollback_to_the_previous_revision_restores_the_pod_template(kube, driver):
    driver.deploy(dep("v1", replicas=1))
    driver.wait_ready("churn-eu", "v1", 10)
    drifted = {**RUNTIME, "env": {"OMP_NUM_THREADS": "4"}}
    driver.deploy(dep("v1", replicas=1, runtime=drifted))
    assert driver.served()["churn-eu"]["runtime"]["env"] == {"OMP_NUM_THREADS": "4"}
    assert driver.rollback("churn-eu") == "v1"
    obj = kube.get("deployments", "models", "churn-eu-v1")
    env = {e["name"]: e["value"] for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["OMP_NUM_THREADS"] == "1"
    assert driver.wait_ready("churn-eu", "v1", 10).state == "complete"


def test_rollout_status_reads_like_kubectl():
    base = {"metadata": {"name": "d", "generation": 2}, "spec": {"replicas": 2}}
    assert rollout_status("c", "m", "v", {**base, "status": {"observedGeneration": 1}}).state == "progressing"
    old_pending = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}
    assert "pending termination" in rollout_status("c", "m", "v", {**base, "status": old_pending}).message
    done = {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    assert rollout_status("c", "m", "v", {**base, "status": done}).state == "complete"


def test_emulator_watch_streams_changes(kube, driver):
    import threading

    from kubernetes import watch

    kube.stall("churn-eu-v1")
    driver.deploy(dep("v1", replicas=2))
    listed = driver.apps.list_namespaced_deployment("models")
    threading.Timer(0.2, kube.stalled.clear).start()
    events = list(watch.Watch().stream(driver.apps.list_namespaced_deployment, "models", timeout_seconds=1,
                                       resource_version=listed.metadata.resource_version))
    assert events
    assert {e["type"] for e in events} == {"MODIFIED"}  # only changes after the listed resourceVersion
    assert events[-1]["object"].status.available_replicas == 2
    fresh = [e["type"] for e in watch.Watch().stream(driver.apps.list_namespaced_deployment, "models",
                                                     timeout_seconds=1)]
    assert fresh == ["ADDED"]  # no resourceVersion: the current state first


def _estate_with(cluster_yaml: str):
    text = DEFAULT_ESTATE_FILE.read_text()
    marker = "    cluster:\n      id: oke-fra\n      kind: oke\n"
    assert marker in text
    return parse_estate(text.replace(marker, cluster_yaml, 1))


def test_oke_kubeconfig_comes_from_the_container_engine_api(kube, oci_emulator, oci_conn):
    from multicloud.drivers import driver_for

    @oci_emulator.route("POST", r"/20180222/clusters/(?P<id>[^/]+)/kubeconfig/content")
    def kubeconfig(request):
        assert request.params["id"] == "ocid1.cluster.oc1.eu-frankfurt-1.test"
        return 200, yaml.safe_dump(kube.kubeconfig())

    estate = _estate_with("    cluster:\n      id: oke-fra\n      kind: oke\n      driver: kubernetes\n"
                          "      connection_id: oci_test\n      cluster_ocid: ocid1.cluster.oc1.eu-frankfurt-1.test\n")
    driver = driver_for(estate, "oke-fra")
    driver.deploy(dep("v1", replicas=1))
    assert driver.wait_ready("churn-eu", "v1", 10).state == "complete"
    assert oci_emulator.requests_to("POST", r"/kubeconfig/content")[0].signed


def test_eks_kubeconfig_through_the_eks_hook_and_moto(monkeypatch, moto_server):
    moto_server.connection("aws_test")
    # The kubeconfig's exec helper runs `python3.<minor> -m airflow...eks_get_token`: this venv's.
    monkeypatch.setenv("PATH", f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}")
    eks = moto_server.client("eks")
    eks.create_cluster(name="models-use1", roleArn="arn:aws:iam::123456789012:role/eks",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    described = eks.describe_cluster(name="models-use1")["cluster"]
    from multicloud.drivers.kubernetes import eks_api_client

    client = eks_api_client("aws_test", "models-use1", "us-east-1", "models")
    assert client.configuration.host == described["endpoint"].rstrip("/")
    token = client.configuration.api_key.get("BearerToken", "")  # minted by the EKS exec helper
    assert token.startswith("Bearer k8s-aws-v1.")
