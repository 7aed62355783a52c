"""model_rollout end to end with dag.test() on the local estate: real model servers on loopback."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from multicloud.alerts import read_alerts
from multicloud.drivers import driver_for
from multicloud.drivers.local import stop_all_servers
from multicloud.estate import load_estate
from multicloud.reports import latest_summary
from multicloud.serving.model import LogisticModel
from multicloud.training import artifacts
from multicloud.training.run import train_and_store
from tests.dags.dag_files import load_dag
from tests.synthetic_events import seed_customer_events

FAST_GATES = {"gate_checks": 2, "gate_interval_s": 0.05}


def predict(url: str, instance: dict) -> dict:
    request = urllib.request.Request(f"{url}/predict", data=json.dumps({"instances": [instance]}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def publish_bad_version(estate, estate_home: Path) -> None:
    """v2: the v1 artifact with its coefficients negated (every smoke case answers wrongly)."""
    good = estate_home / "storage" / "oci-fra" / "models" / "churn-eu" / "v1"
    bad = good.parent / "v2"
    bad.mkdir()
    raw = json.loads((good / "model.json").read_text())
    raw.update(version="v2", coef=[-c for c in raw["coef"]], intercept=-raw["intercept"])
    LogisticModel.from_dict(raw)
    (bad / "model.json").write_text(json.dumps(raw))
    card = json.loads((good / "card.json").read_text())
    card.update(version="v2", trained_at="2999-01-01T00:00:00+00:00")
    (bad / "card.json").write_text(json.dumps(card))
    assert artifacts.latest_version(estate, "churn-eu") == "v2"


@pytest.fixture
def trained_estate(airflow_db, estate_home):
    estate = load_estate(home=estate_home)
    seed_customer_events(estate)
    train_and_store(estate, "churn-eu", "v1")
    yield estate
    stop_all_servers(home=estate_home)


@pytest.mark.timeout(300)
def test_good_version_reaches_every_allowed_cluster_then_a_bad_one_is_rolled_back(trained_estate, estate_home):
    estate = trained_estate
    dag = load_dag("model_rollout")
    run = dag.test(run_conf={"model": "churn-eu", **FAST_GATES})
    assert run.state == "success"

    # Every allowed cluster hosting the workload serves v1 and answers the card's smoke cases.
    card = artifacts.read_card(estate, "churn-eu", "v1")
    for cluster in ("oke-fra", "gke-euw4"):
        driver = driver_for(estate, cluster)
        assert driver.served()["churn-eu"]["versions"] == {"v1": 1}
        for url in driver.endpoints("churn-eu"):
            for case in card["smoke_cases"]:
                assert predict(url, case["instance"])["predictions"][0] == case["expected"]
    # Residency: never on a US or UK cluster, and the plan says why.
    for cluster in ("oke-ash", "eks-use1", "gke-usc1", "oke-lon", "aks-uks"):
        assert driver_for(estate, cluster).served() == {}
    summary = latest_summary("model_rollout", estate_home)
    excluded = summary["data"]["plan"]["plans"][0]["excluded"]
    assert {e["cluster"] for e in excluded} == {"oke-ash", "eks-use1", "gke-usc1", "oke-lon", "aks-uks"}
    assert all(e["rule"] == "default-deny:not-allowed" and "eu-personal" in e["reason"] for e in excluded)
    assert any("excluded by residency" in line and "US: " in line for line in summary["headline"])
    assert any("churn-eu v1 (eu-personal) serves on gke-euw4, oke-fra" in line for line in summary["headline"])

    # Rerunning the finished rollout changes nothing (same processes, nothing planned).
    pids = {c: sorted(driver_for(estate, c).pids()) for c in ("oke-fra", "gke-euw4")}
    rerun = dag.test(run_conf={"model": "churn-eu", "version": "v1", **FAST_GATES})
    assert rerun.state == "success"
    assert {c: sorted(driver_for(estate, c).pids()) for c in pids} == pids
    assert latest_summary("model_rollout", estate_home)["data"]["plan"]["plans"][0]["targets"] == []

    # A bad version (wrong answers): the canary fails its gate and is rolled back; nothing else touched.
    publish_bad_version(estate, estate_home)
    failed = load_dag("model_rollout").test(run_conf={"model": "churn-eu", "version": "v2", **FAST_GATES})
    assert failed.state == "failed"
    for cluster in ("oke-fra", "gke-euw4"):
        served = driver_for(estate, cluster).served()["churn-eu"]
        assert served["versions"] == {"v1": 1}
        assert served["weights"] == {"v1": 100}
    assert sorted(driver_for(estate, "gke-euw4").pids()) == pids["gke-euw4"]  # never touched
    summary = latest_summary("model_rollout", estate_home)
    assert summary["headline"][0].startswith("ROLLED BACK: oke-fra")
    assert [t["cluster"] for t in summary["data"]["journal"]["touched"]] == ["oke-fra"]
    [rollback_alert] = read_alerts(estate_home, kind="rollback")
    assert rollback_alert["dag_id"] == "model_rollout"
    assert "rolled back 1 cluster(s)" in rollback_alert["message"]
