"""The Kubernetes driver's control-plane calls over real HTTP: official client + KubernetesHook.

Emulated (tests/emulators/kubernetes.py): no kube-apiserver can run here. These tests exercise the
API semantics only, so the image is SIMULATED (pods Ready without a process); the pods-that-run
tests are in test_kubernetes_pods.py. OKE's kubeconfig comes from the OCI emulator (signed
requests, real SDK) and its token is verified by the Kubernetes emulator like OKE verifies it;
EKS's from moto in server mode (real boto3 and the amazon provider's EksHook).
"""

from __future__ import annotations

import base64
import json
import os
import sys

import pytest
import yaml

from multicloud.drivers.base import ModelDeployment
from multicloud.drivers.kubernetes import KubernetesClusterDriver, rollout_status
from multicloud.estate import parse_estate
from multicloud.paths import DEFAULT_ESTATE_FILE
from tests.emulators.kubernetes import SIMULATED, KubernetesEmulator, OKEVerifier

RUNTIME = {"image": "multicloud/model-server:1.4.0", "python": "3.11", "env": {"OMP_NUM_THREADS": "1"},
           "limits": {"cpu": 1, "memory_gb": 1}}


@pytest.fixture
def kube(monkeypatch):
    emulator = KubernetesEmulator(images={RUNTIME["image"]: SIMULATED}).start()
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
    proxy = f"{kube.url}/api/v1/namespaces/models/services"
    assert driver.endpoints("churn-eu") == [f"{proxy}/churn-eu-v1:8080/proxy", f"{proxy}/churn-eu-v2:8080/proxy"]
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
    drifted = {**RUNTIME, "env": {"OMP_NUM_THREADS": "4", "MODEL_SERVER_DEBUG": "1"}}
    driver.deploy(dep("v1", replicas=1, runtime=drifted))
    assert driver.served()["churn-eu"]["runtime"]["env"] == {"OMP_NUM_THREADS": "4", "MODEL_SERVER_DEBUG": "1"}
    assert driver.rollback("churn-eu") == "v1"
    obj = kube.get("deployments", "models", "churn-eu-v1")
    env = {e["name"]: e["value"] for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["OMP_NUM_THREADS"] == "1"
    assert "MODEL_SERVER_DEBUG" not in env  # `rollout undo`: the whole previous template, not a merge
    assert "multicloud.io/previous-template" not in obj["metadata"]["annotations"]
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


def oke_v2_kubeconfig(kube: KubernetesEmulator, cluster_ocid: str, region: str) -> dict:
    """What OKE's create_kubeconfig returns for token version 2.0.0: an exec user running the oci CLI."""
    config = kube.kubeconfig()
    config["users"] = [{"name": "user-oke", "user": {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "oci",
        "args": ["ce", "cluster", "generate-token", "--cluster-id", cluster_ocid, "--region", region]}}}]
    config["contexts"][0]["context"]["user"] = "user-oke"
    return config


def test_oke_kubeconfig_comes_from_the_container_engine_api(kube, oci_emulator, oci_conn, oci_api_key):
    from multicloud.drivers import driver_for

    cluster_ocid = "ocid1.cluster.oc1.eu-frankfurt-1.test"
    key_id = f"{oci_api_key['tenancy']}/{oci_api_key['user']}/{oci_api_key['fingerprint']}"
    kube.tokens.clear()  # only an OKE token signed by the connection's key gets in
    kube.oke = OKEVerifier(cluster_ocid, "eu-frankfurt-1", {key_id: oci_api_key["public_pem"].encode()})

    @oci_emulator.route("POST", r"/20180222/clusters/(?P<id>[^/]+)/kubeconfig/content")
    def kubeconfig(request):
        assert request.params["id"] == cluster_ocid
        assert request.body == {"tokenVersion": "2.0.0"}
        return 200, yaml.safe_dump(oke_v2_kubeconfig(kube, cluster_ocid, "eu-frankfurt-1"))

    estate = _estate_with("    cluster:\n      id: oke-fra\n      kind: oke\n      driver: kubernetes\n"
                          "      connection_id: oci_test\n      cluster_ocid: ocid1.cluster.oc1.eu-frankfurt-1.test\n")
    driver = driver_for(estate, "oke-fra")
    driver.deploy(dep("v1", replicas=1))
    assert driver.wait_ready("churn-eu", "v1", 10).state == "complete"
    assert oci_emulator.requests_to("POST", r"/kubeconfig/content")[0].signed
    assert not kube.rejected, kube.rejected
    # A token signed by another key, or for another cluster, is refused like OKE refuses it.
    from oci.signer import Signer

    from multicloud.hooks.oke_token import generate_token

    with open(oci_api_key["key_file"]) as handle:
        signer = Signer(oci_api_key["tenancy"], oci_api_key["user"], oci_api_key["fingerprint"], None,
                        private_key_content=handle.read())
    with pytest.raises(ValueError, match="not this cluster"):
        kube.oke.verify(generate_token(signer, "eu-frankfurt-1", "ocid1.cluster.oc1.eu-frankfurt-1.other"))
    kube.oke.verify(generate_token(signer, "eu-frankfurt-1", cluster_ocid))


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
    first = client.configuration.get_api_key_with_prefix("BearerToken")  # minted in-process from STS
    assert first.startswith("Bearer k8s-aws-v1.")
    url = base64.urlsafe_b64decode(first.removeprefix("Bearer k8s-aws-v1.") + "==").decode()
    assert "Action=GetCallerIdentity" in url
    assert "X-Amz-Signature=" in url


def test_bearer_tokens_are_renewed_before_they_expire():
    from kubernetes import client

    from multicloud.drivers.kubernetes import renew_bearer_token

    now = [1000.0]
    minted = []

    def mint() -> str:
        minted.append(now[0])
        return f"token-{len(minted)}"

    api = client.ApiClient(client.Configuration(host="http://127.0.0.1:1"))
    renew_bearer_token(api, mint, lifetime_s=900, margin_s=60, clock=lambda: now[0])
    assert api.configuration.get_api_key_with_prefix("BearerToken") == "Bearer token-1"
    now[0] += 839
    assert api.configuration.get_api_key_with_prefix("BearerToken") == "Bearer token-1"
    now[0] += 1  # 60 s before the 15 minutes end: a fresh token before the old one expires
    assert api.configuration.get_api_key_with_prefix("BearerToken") == "Bearer token-2"
    assert minted == [1000.0, 1840.0]
