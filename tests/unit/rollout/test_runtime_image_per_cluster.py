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
