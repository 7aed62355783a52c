"""Pods that run: the Kubernetes driver against the emulator's kubelet, service proxy and Endpoints.

Emulated: the API server (tests/emulators/kubernetes.py; none can run here). Real: every pod is a
process running the serving entrypoint exactly as the model-server image's container would
(``python -m multicloud.serving serve --artifact ... --host 0.0.0.0 --port 8080``), Ready only once
its readiness probe answers; the gate's probes reach it through the API server's service proxy
with the driver's bearer token.
"""

from __future__ import annotations

import json

import pytest

from multicloud.drivers.base import ModelDeployment
from multicloud.drivers.kubernetes import KubernetesClusterDriver
from multicloud.rollout.gates import Thresholds
from multicloud.rollout.probes import http_fetch, run_gate
from multicloud.serving.model import LogisticModel
from multicloud.waiting import wait_until
from tests.emulators.kubernetes import KubernetesEmulator
from tests.kube_estate import SERVING_IMAGE, serving_images, write_artifact

RUNTIME = {"image": SERVING_IMAGE, "python": "3.11", "env": {"OMP_NUM_THREADS": "1"},
           "limits": {"cpu": 1, "memory_gb": 1}}
FEATURES = ("a", "b")


def model(version: str, sign: float = 1.0) -> LogisticModel:
    return LogisticModel("churn-eu", version, "eu-personal", FEATURES, (0.0, 0.0), (1.0, 1.0),
                         (2.0 * sign, -1.0 * sign), 0.1 * sign)


@pytest.fixture
def kube(tmp_path):
    emulator = KubernetesEmulator(images=serving_images()).start(log_dir=str(tmp_path / "pods"))
    yield emulator
    emulator.stop()
    assert not emulator.running_pids()
    assert not emulator.errors


def driver_for(kube: KubernetesEmulator, **options) -> KubernetesClusterDriver:
    from kubernetes import config

    api = config.new_client_from_config_dict(kube.kubeconfig())
    return KubernetesClusterDriver("oke-fra", api, poll_s=0.05, progress_deadline_s=30, **options)


def smoke(m: LogisticModel) -> list[dict]:
    instance = {"a": 1.0, "b": 0.5}
    return [{"instance": instance, "expected": m.predict(instance)}]


def test_pods_run_the_serving_entrypoint_and_gates_reach_them_through_the_service_proxy(kube, tmp_path):
    v1 = model("v1")
    uri = write_artifact(tmp_path / "models" / "churn-eu" / "v1", v1)
    kube.put_secret("models", "artifact-store", {"AWS_ACCESS_KEY_ID": "from-a-secret"})
    driver = driver_for(kube, artifact_secret="artifact-store")
    driver.deploy(ModelDeployment("churn-eu", "v1", 2, uri, RUNTIME))
    status = driver.wait_ready("churn-eu", "v1", 30)
    assert (status.state, status.ready) == ("complete", 2), status.message

    # The pod spec production admission would accept: probes, limits, non-root, credentials by reference.
    pod = kube.list("pods", selector="multicloud.io/version=v1")[0]
    container = pod["spec"]["containers"][0]
    assert container["command"] + container["args"] == [
        "python", "-m", "multicloud.serving", "serve", "--artifact", uri, "--host", "0.0.0.0", "--port", "8080"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"] == {"limits": {"cpu": "1", "memory": "1024Mi"},
                                      "requests": {"cpu": "1", "memory": "1024Mi"}}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["envFrom"] == [{"secretRef": {"name": "artifact-store"}}]
    assert "from-a-secret" not in json.dumps(kube.get("deployments", "models", "churn-eu-v1"))  # no literal keys
    assert len(kube.running_pids()) == 2
    endpoints = kube.get("endpoints", "models", "churn-eu-v1")
    assert len(endpoints["subsets"]) == 2  # one per Ready pod

    # From outside the cluster: the API server's service proxy, with the driver's credentials.
    [url] = driver.endpoints("churn-eu", "v1")
    assert url == f"{kube.url}/api/v1/namespaces/models/services/churn-eu-v1:8080/proxy"
    assert http_fetch(f"{url}/healthz")[0] == 401  # no credentials, no way in
    verdict = run_gate([url], smoke(v1), "v1", Thresholds(checks=2, interval_s=0.0), fetch=driver.fetch)
    assert verdict.passed, verdict.reason
    assert {path for _svc, _pod, path in kube.proxied} >= {"/healthz", "/predict"}
    assert len({pod for _svc, pod, _path in kube.proxied}) == 2  # spread over both Ready pods
    status, raw = driver.fetch(f"{url}/v2/models/churn-eu/infer", json.dumps(
        {"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [1.0, 0.5]}]}).encode())
    assert status == 200
    assert json.loads(raw)["outputs"][0]["data"] == [smoke(v1)[0]["expected"]["probability"]]

    # A wrong-answering version fails its gate through the same path.
    v2 = model("v2", sign=-1.0)
    driver.deploy(ModelDeployment("churn-eu", "v2", 1, write_artifact(tmp_path / "models" / "churn-eu" / "v2", v2),
                                  RUNTIME))
    assert driver.wait_ready("churn-eu", "v2", 30).state == "complete"
    bad = run_gate(driver.endpoints("churn-eu", "v2"), smoke(v1), "v2", Thresholds(checks=1, interval_s=0.0),
                   fetch=driver.fetch)
    assert not bad.passed
    assert "answered wrongly" in bad.reason


def test_an_artifact_failing_its_checksum_never_becomes_ready(kube, tmp_path):
    root = tmp_path / "models" / "churn-eu" / "v1"
    uri = write_artifact(root, model("v1"))
    (root / "model.json").write_text(model("v1", sign=-1.0).to_json())  # tampered after the card was written
    driver = driver_for(kube)
    driver.progress_deadline_s = 2
    driver.deploy(ModelDeployment("churn-eu", "v1", 1, uri, RUNTIME))
    status = driver.wait_ready("churn-eu", "v1", 20)
    assert status.state == "failed"
    assert "progress deadline" in status.message
    # it must exit: no port before the check
    assert wait_until(lambda: kube.list("pods")[0]["status"].get("containerStatuses", [{}])[0].get("restartCount", 0)
                      >= 1, 60, interval_s=0.1), "the container never exited"
    pod = kube.list("pods")[0]
    assert pod["status"]["conditions"] == [{"type": "Ready", "status": "False"}]
    assert kube.get("endpoints", "models", "churn-eu-v1")["subsets"] == []


def test_canary_weights_are_a_gateway_api_httproute_and_rollback_undoes_the_template(kube, tmp_path):
    uri = write_artifact(tmp_path / "models" / "churn-eu" / "v1", model("v1"))
    uri2 = write_artifact(tmp_path / "models" / "churn-eu" / "v2", model("v2"))
    driver = driver_for(kube, gateway={"name": "models-gateway", "namespace": "gateway-system"})
    driver.deploy(ModelDeployment("churn-eu", "v1", 1, uri, RUNTIME))
    driver.deploy(ModelDeployment("churn-eu", "v2", 1, uri2, RUNTIME))
    driver.shift("churn-eu", {"v1": 90, "v2": 10})
    route = kube.get("httproutes", "models", "churn-eu")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [{"name": "models-gateway", "namespace": "gateway-system"}]
    assert route["spec"]["rules"][0]["backendRefs"] == [
        {"name": "churn-eu-v1", "port": 8080, "weight": 90}, {"name": "churn-eu-v2", "port": 8080, "weight": 10}]
    served = driver.served()["churn-eu"]
    assert (served["weights"], served["traffic"]) == ({"v1": 90, "v2": 10}, "gateway-api")
    driver.remove("churn-eu", "v2")
    assert kube.get("httproutes", "models", "churn-eu")["spec"]["rules"][0]["backendRefs"] == [
        {"name": "churn-eu-v1", "port": 8080, "weight": 100}]

    # Re-applying v1 with an extra env var, then undoing it: the running pods lose the variable.
    assert driver.wait_ready("churn-eu", "v1", 30).state == "complete"
    first_pods = {p["metadata"]["name"] for p in kube.list("pods")}
    driver.deploy(ModelDeployment("churn-eu", "v1", 1, uri, {**RUNTIME, "env": {**RUNTIME["env"],
                                                                                "MODEL_SERVER_DEBUG": "1"}}))
    assert driver.wait_ready("churn-eu", "v1", 30).state == "complete"
    assert driver.rollback("churn-eu") == "v1"
    assert driver.wait_ready("churn-eu", "v1", 30).state == "complete"
    [pod] = kube.list("pods", selector="multicloud.io/version=v1")
    env = {e["name"] for e in pod["spec"]["containers"][0]["env"]}
    assert "MODEL_SERVER_DEBUG" not in env
    assert pod["metadata"]["name"] not in first_pods  # new pods of the restored template
    driver.remove("churn-eu")
    assert kube.get("httproutes", "models", "churn-eu") is None
    without = driver_for(kube)
    without.deploy(ModelDeployment("churn-eu", "v1", 1, uri, RUNTIME))
    assert without.served()["churn-eu"]["traffic"] == "replica-count"
