"""``restore_previous`` on both drivers: the local one (real model-server processes) and the
Kubernetes one (emulated API, simulated image). The same algorithm backs a rollout's rollback and a
failed cost move's target (tests/unit/rollout, tests/unit/cost)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multicloud.drivers.base import ClusterDriver, ModelDeployment
from multicloud.drivers.restore import RestoreFailed, restore_previous, snapshot
from multicloud.serving.model import LogisticModel

RUNTIME = {"image": "multicloud/model-server:1.4.0", "python": "3.11", "env": {"OMP_NUM_THREADS": "1"},
           "limits": {"cpu": 1, "memory_gb": 1}}


def _artifact(root: Path, version: str) -> str:
    folder = root / "artifacts" / "churn-eu" / version
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.json").write_text(
        LogisticModel("churn-eu", version, "eu-personal", ("a",), (0.0,), (1.0,), (1.0,), 0.0).to_json())
    return f"file://{folder}"


@pytest.fixture(params=["local", "kubernetes"])
def cluster(request, estate_home, monkeypatch):
    if request.param == "local":
        from multicloud.drivers.local import LocalClusterDriver, stop_all_servers

        yield LocalClusterDriver("oke-fra", estate_home)
        stop_all_servers(home=estate_home)
        return
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    from multicloud.drivers.kubernetes import KubernetesClusterDriver
    from tests.emulators.kubernetes import SIMULATED, KubernetesEmulator

    emulator = KubernetesEmulator(images={RUNTIME["image"]: SIMULATED}).start()
    monkeypatch.setenv("AIRFLOW_CONN_K8S_RESTORE", json.dumps(
        {"conn_type": "kubernetes", "extra": {"kube_config": json.dumps(emulator.kubeconfig())}}))
    yield KubernetesClusterDriver("oke-fra", KubernetesHook(kubernetes_conn_id="k8s_restore").get_conn(), poll_s=0.02)
    emulator.stop()


def _deploy(driver: ClusterDriver, home: Path, version: str, replicas: int) -> None:
    driver.deploy(ModelDeployment("churn-eu", version, replicas, _artifact(home, version), RUNTIME))


def test_a_change_that_owned_the_model_is_undone_whole(cluster, estate_home):
    """A cost move's target: versions it added removed, replicas it added scaled back, traffic as before."""
    assert restore_previous(cluster, "churn-eu", snapshot(cluster, "churn-eu")) == {"versions": {}, "weights": {}}
    _deploy(cluster, estate_home, "v1", 1)
    before = snapshot(cluster, "churn-eu")
    assert before == {"versions": {"v1": 1}, "weights": {"v1": 100}}
    _deploy(cluster, estate_home, "v1", 2)  # the move added a replica of what ran ...
    _deploy(cluster, estate_home, "v2", 1)  # ... and a version beside it, with traffic
    cluster.shift("churn-eu", {"v1": 50, "v2": 50})
    assert restore_previous(cluster, "churn-eu", before) == before
    assert cluster.served()["churn-eu"]["versions"] == {"v1": 1}
    # Nothing ran before: the whole model goes.
    _deploy(cluster, estate_home, "v3", 1)
    restore_previous(cluster, "churn-eu", {"versions": {}, "weights": {}})
    assert "churn-eu" not in cluster.served()


def test_a_change_of_one_version_leaves_the_others_alone(cluster, estate_home):
    """A rollout's rollback: only its own version goes; what it cannot put back fails, never guesses."""
    _deploy(cluster, estate_home, "v1", 1)
    before = snapshot(cluster, "churn-eu")
    _deploy(cluster, estate_home, "v2", 1)
    _deploy(cluster, estate_home, "v9", 1)  # another run's version: not this rollback's to remove
    cluster.shift("churn-eu", {"v1": 80, "v2": 10, "v9": 10})
    after = restore_previous(cluster, "churn-eu", before, changed={"v2"})
    assert after["versions"] == {"v1": 1, "v9": 1}
    assert {v: w for v, w in after["weights"].items() if w} == {"v1": 100}
    # v1 was scaled by someone else since: this change (v9) goes, v1 is not its to scale back.
    cluster.scale("churn-eu", "v1", 3)
    with pytest.raises(RestoreFailed, match="previous churn-eu v1 is no longer deployed"):
        restore_previous(cluster, "churn-eu", before, changed={"v9"})
    assert cluster.served()["churn-eu"]["versions"] == {"v1": 3}
    # A previous version that is gone cannot be recreated: failed before any traffic goes to it.
    cluster.remove("churn-eu", "v1")
    _deploy(cluster, estate_home, "v2", 1)
    with pytest.raises(RestoreFailed, match="v1 is no longer deployed"):
        restore_previous(cluster, "churn-eu", before)
    assert "churn-eu" not in cluster.served()  # the change's own version went first
