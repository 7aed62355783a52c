"""The same runtime baseline everywhere: every cluster's pods run the estate's ``runtime.image``;
a cluster runs another image only when the estate says so for it (``cluster.image``), and the
drift report expects exactly that image there.

Real: the DAG's deploy task function (``deploy_lane``), the driver and the official client over
HTTP. Emulated: the API servers (SIMULATED images: this test is about pod specs, not processes).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multicloud.estate import load_estate
from multicloud.rollout.baseline import baseline_runtime, drift_report
from multicloud.rollout.run import deploy_lane
from tests.emulators.kubernetes import SIMULATED, KubernetesEmulator
from tests.kube_estate import conn_id, estate_yaml, use_estate

BASE = "multicloud/model-server:1.4.0"
MIRROR = "mirror.example/multicloud/model-server:1.4.0"


@pytest.fixture
def two_clusters(estate_home, tmp_path, monkeypatch):
    emulators = {c: KubernetesEmulator(images={BASE: SIMULATED, MIRROR: SIMULATED}).start()
                 for c in ("oke-fra", "gke-euw4")}
    for cluster, emulator in emulators.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id(cluster).upper()}", json.dumps(
            {"conn_type": "kubernetes", "extra": {"kube_config": json.dumps(emulator.kubeconfig())}}))
    text = estate_yaml(emulators).replace(
        "      id: gke-euw4\n      driver: kubernetes\n",
        f"      id: gke-euw4\n      driver: kubernetes\n      image: {MIRROR}\n", 1)
    assert MIRROR in text
    use_estate(text, tmp_path / "estate.yaml", monkeypatch)
    yield load_estate(home=estate_home), emulators
    for emulator in emulators.values():
        emulator.stop()


def images_of(emulator) -> set[str]:
    return {c["image"] for d in emulator.list("deployments") for c in d["spec"]["template"]["spec"]["containers"]}


def test_estate_image_everywhere_and_an_override_only_where_declared(two_clusters, estate_home: Path):
    estate, emulators = two_clusters
    assert baseline_runtime(estate)["image"] == BASE
    assert baseline_runtime(estate, "oke-fra")["image"] == BASE  # no override: the estate's image
    assert baseline_runtime(estate, "gke-euw4")["image"] == MIRROR
    lane = [{"cluster": c, "model": "churn-eu", "version": "v1", "replicas": 1,
             "artifact_uri": "file:///models/churn-eu/v1"} for c in ("oke-fra", "gke-euw4")]
    deploy_lane(estate, lane, "canary", "image-check", 30, estate_home)
    assert images_of(emulators["oke-fra"]) == {BASE}
    assert images_of(emulators["gke-euw4"]) == {MIRROR}
    rows = {r["cluster"]: r for r in drift_report(estate, estate_home) if r["model"] == "churn-eu"}
    assert rows["oke-fra"]["expected"]["image"] == BASE
    assert rows["gke-euw4"]["expected"]["image"] == MIRROR
    assert not [d for r in rows.values() for d in r["differences"] if d["field"] == "image"]


def test_cost_moves_and_dr_standbys_run_the_clusters_own_image(two_clusters, estate_home: Path):
    """The same per-cluster image as a rollout: a cost move onto gke-euw4 and the DR pilot light
    deployed on it (eu-churn's secondary) run MIRROR there; oke-fra keeps the estate's image."""
    from multicloud.cost.apply import apply_move
    from multicloud.dr import failover
    from multicloud.drivers import ModelDeployment, driver_for
    from tests.dags.cost_fixtures import write_model as write_cost_model

    estate, emulators = two_clusters
    uri = write_cost_model(estate, "churn-eu", "v1")
    source = driver_for(estate, "oke-fra", estate_home)
    source.deploy(ModelDeployment("churn-eu", "v1", 1, uri, runtime=baseline_runtime(estate, "oke-fra")))
    assert source.wait_ready("churn-eu", "v1", 30).state == "complete"
    move = {"workload": "churn-eu-serving", "source": "oke-fra", "target": "gke-euw4", "replicas": 1}
    moved = apply_move(estate, move, "image-move", home=estate_home, ready_timeout_s=30,
                       health_check=lambda endpoints, version: [])  # SIMULATED pods answer no probe
    assert moved["status"] == "applied", moved
    assert images_of(emulators["gke-euw4"]) == {MIRROR}
    assert images_of(emulators["oke-fra"]) <= {BASE}

    driver_for(estate, "gke-euw4", estate_home).remove("churn-eu")
    # The pilot light is out: dr_failover deploys the artifact staged in the secondary's own storage.
    secondary_models = Path(estate.region("gcp-euw4").storage.url.removeprefix("file://")) / "models" / "churn-eu"
    (secondary_models / "v1").mkdir(parents=True, exist_ok=True)
    (secondary_models / "v1" / "model.json").write_text(Path(uri.removeprefix("file://"), "model.json").read_text())
    incident = failover.open_incident(estate, {"pair": "eu-churn", "incident": "image:1", "at": 1.0}, estate_home, "r")
    assert failover.scale_pilot_light(estate, incident, estate_home)
    assert images_of(emulators["gke-euw4"]) == {MIRROR}
