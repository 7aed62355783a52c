"""model_rollout through the real scheduler on a kubernetes-driver estate whose pods run.

One Airflow deployment (tests/harness/airflow.py: api-server, scheduler, dag-processor,
triggerer, LocalExecutor; its DAG folder holds model_rollout alone, so its start parses one
file) whose estate switches the four EU clusters to the kubernetes driver, each an emulated API
server (tests/emulators/kubernetes.py; no kube-apiserver can run
here) reached through an Airflow ``kubernetes`` connection of the deployment. Real: the scheduler
running every task (mapped deploy lanes, gates, promote, rollback, summary) in its own task
process, the driver and the official client over HTTP, and every pod: a process running the
model-server image's entrypoint on the trained artifact, Ready only when its readiness probe
answers; gates reach the pods through each API server's service proxy with the driver's token.
"""

from __future__ import annotations

import pytest

from multicloud.drivers import ModelDeployment, driver_for
from multicloud.reports import latest_summary
from multicloud.rollout.run import build_plan
from multicloud.rollout.settings import RolloutSettings
from multicloud.training import artifacts
from multicloud.training.run import train_and_store
from tests.dags.test_kubernetes_estate import FAST_GATES, publish_copy, versions_of_running_pods, wait_for
from tests.kube_estate import kubernetes_deployment
from tests.synthetic_events import seed_customer_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
CLUSTERS = ("oke-fra", "eks-euw1", "aks-weu", "gke-euw4")  # every EU cluster: churn-eu may run on each
RUN_TIMEOUT = 420
CONF = {"model": "churn-eu", "clusters": list(CLUSTERS), **FAST_GATES}


@pytest.fixture(scope="module")
def kube_airflow(airflow_db_template, tmp_path_factory):
    """The deployment, its estate (this process sees the same estate, home and connections) and the emulators."""
    root = tmp_path_factory.mktemp("airflow-kubernetes")
    with kubernetes_deployment(airflow_db_template, root, "model_rollout", CLUSTERS) as (instance, estate, clusters):
        seed_customer_events(estate)
        train_and_store(estate, "churn-eu", "v1")
        yield instance, estate, clusters


def serving_v1_only(estate, clusters) -> None:
    for cluster, emulator in clusters.items():
        served = driver_for(estate, cluster).served()["churn-eu"]
        assert (served["versions"], served["weights"]) == ({"v1": 1}, {"v1": 100}), cluster
        wait_for(lambda e=emulator: versions_of_running_pods(e) == {"v1"})
        assert {p["metadata"]["labels"]["multicloud.io/version"] for p in emulator.list("pods")} == {"v1"}


@pytest.mark.e2e
def test_model_rollout_of_a_good_version_through_the_scheduler(kube_airflow):
    """v1 from nothing: canary, wave 1 (two lanes in parallel), wave 2, each gated through the proxy; promoted."""
    af, estate, clusters = kube_airflow
    run_id = af.trigger("model_rollout", conf=CONF)
    af.wait_for_run("model_rollout", run_id, timeout=RUN_TIMEOUT)
    serving_v1_only(estate, clusters)
    for emulator in clusters.values():  # every gate request reached its pod through the service proxy
        assert {path for _svc, _pod, path in emulator.proxied} >= {"/healthz", "/predict"}
    summary = latest_summary("model_rollout", af.estate_home)
    assert summary["run_id"] == run_id
    assert any("churn-eu v1 (eu-personal) serves on aks-weu, eks-euw1, gke-euw4, oke-fra" in line
               for line in summary["headline"])


def test_a_bad_version_is_rolled_back_on_every_touched_cluster_through_the_scheduler(kube_airflow):
    """v2 passes the canary and wave 1 (gates through the service proxy), its pods never come up on
    wave 2: every cluster the run touched serves v1 alone again, none is left mixed."""
    af, estate, clusters = kube_airflow
    uri = artifacts.artifact_uri(estate, "churn-eu", "v1")
    for cluster in CLUSTERS:  # v1 everywhere first (the good run's end state, when it ran)
        driver = driver_for(estate, cluster)
        if "churn-eu" not in driver.served():
            driver.deploy(ModelDeployment("churn-eu", "v1", 1, uri, runtime=estate.runtime.model_dump(mode="json")))
    for cluster in CLUSTERS:
        assert driver_for(estate, cluster).wait_ready("churn-eu", "v1", 90).state == "complete", cluster
    publish_copy(estate, "churn-eu", "v1", "v2")
    conf = {**CONF, "version": "v2"}
    stages = [[item["cluster"] for lane in lanes for item in lane] for lanes in build_plan(estate, RolloutSettings.from_params(conf), [])["stages"]]
    canary, wave_1, [failing] = stages[0], stages[1], stages[2]
    assert (len(canary), len(wave_1)) == (1, 2)
    clusters[failing].fail("churn-eu-v2")
    gated_before = {c: len(e.proxied) for c, e in clusters.items()}

    run_id = af.trigger("model_rollout", conf=conf)
    af.wait_for_run("model_rollout", run_id, timeout=RUN_TIMEOUT, state="failed")
    states = {(t["task_id"], t["map_index"]): t["state"] for t in af.task_instances("model_rollout", run_id)}
    assert states[("gate_canary", -1)] == states[("gate_wave_1", -1)] == "success"
    assert {states[("deploy_wave_1", 0)], states[("deploy_wave_1", 1)]} == {"success"}  # two lanes
    assert (states[("deploy_wave_2", 0)], states[("rollback", -1)]) == ("failed", "success")
    for cluster in canary + wave_1:  # their v2 gates went through the API server's service proxy
        paths = [p for svc, _pod, p in clusters[cluster].proxied[gated_before[cluster]:] if svc == "churn-eu-v2"]
        assert {"/healthz", "/predict"} <= set(paths), cluster
    summary = latest_summary("model_rollout", af.estate_home)
    assert summary["run_id"] == run_id
    assert summary["headline"][0].startswith(f"ROLLED BACK: {failing}")
    assert sorted(t["cluster"] for t in summary["data"]["journal"]["touched"]) == sorted(CLUSTERS)
    serving_v1_only(estate, clusters)
    for emulator in clusters.values():
        assert emulator.get("deployments", "models", "churn-eu-v2") is None
        assert emulator.get("services", "models", "churn-eu-v2") is None
