"""cost_rebalance end to end on the local estate with real model servers (local cluster driver).

Cost data comes from usage x the price catalog (the local estate configures no billing API; the
API collectors are tested against moto and the OCI emulator in tests/unit/cost).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from multicloud.drivers.local import LocalClusterDriver, stop_all_servers
from multicloud.estate import load_estate
from multicloud.placement import current_placement
from multicloud.reports import latest_summary
from tests.dags.cost_fixtures import serve_declared_placement
from tests.dags.dag_files import load_dag


def _predict(url: str) -> dict:
    body = json.dumps({"instances": [{"sessions_30d": 10, "spend_30d": 50, "support_tickets_90d": 1, "tenure_months": 20}]})
    request = urllib.request.Request(f"{url}/predict", data=body.encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture
def served_estate(estate_home):
    estate = load_estate(home=estate_home)
    serve_declared_placement(estate, estate_home)
    yield estate
    stop_all_servers(home=estate_home)


@pytest.mark.timeout(240)
def test_rebalance_moves_to_a_cheaper_allowed_cluster_and_keeps_residency(airflow_db, estate_home, served_estate):
    estate = served_estate
    dag = load_dag("cost_rebalance")

    dry = dag.test(run_conf={"dry_run": True, "max_moves": 5, "min_savings_pct": 10})
    assert dry.state == "success"
    assert current_placement(estate, estate_home)["churn-us-serving"] == {"eks-use1": 1}
    assert "churn-us" in LocalClusterDriver("eks-use1", estate_home).served()

    run = load_dag("cost_rebalance").test(run_conf={"dry_run": False, "max_moves": 5, "min_savings_pct": 10})
    assert run.state == "success"

    placement = current_placement(estate, estate_home)
    # churn-us-serving left the GPU node in us-east-1 for the cheapest US cluster (oke-ash) ...
    assert placement["churn-us-serving"] == {"oke-ash": 1}
    target = LocalClusterDriver("oke-ash", estate_home)
    assert target.served()["churn-us"]["weights"] == {"v1": 100}
    answer = _predict(target.endpoints("churn-us")[0])
    assert answer["version"] == "v1"
    assert answer["predictions"][0]["label"] in (0, 1)
    # ... is gone from the source ...
    assert "churn-us" not in LocalClusterDriver("eks-use1", estate_home).served()
    # ... and never left the US (us-personal allows one jurisdiction).
    for cluster in placement["churn-us-serving"]:
        assert estate.region_of_cluster(cluster).jurisdiction == "US"
    # The critical EU workload still spans two EU regions.
    eu = placement["churn-eu-serving"]
    assert {estate.region_of_cluster(c).jurisdiction for c in eu} == {"EU"}
    assert len({estate.region_of_cluster(c).id for c in eu}) >= 2

    summary = latest_summary("cost_rebalance", estate_home)
    data = summary["data"]
    assert data["achieved_savings_pct"] > 25
    assert data["achieved_monthly"] < data["before_monthly"]
    [move] = data["moves"]
    assert (move["source"], move["target"], move["residency"]["allowed"]) == ("eks-use1", "oke-ash", True)
    assert move["residency"]["rule"] == "allow.jurisdictions"
    assert [a["status"] for a in data["applied"]] == ["applied"]
    assert Path(data["chart"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any("churn-us-serving: eks-use1 -> oke-ash" in line for line in summary["headline"])
    assert len(summary["headline"]) <= 8


def test_dag_shape_params_and_approval_step(airflow_db):
    dag = load_dag("cost_rebalance")
    assert dag.tags
    assert "cost" in dag.tags
    assert dag.default_args["owner"]
    assert dag.default_args["retries"] >= 1
    assert {"dry_run", "min_savings_pct", "max_moves", "clouds", "approval_required"} <= set(dag.params)
    assert type(dag.get_task("approve")).__name__ == "ApprovalOperator"
    assert dag.get_task("gate").downstream_task_ids == {"approve", "moves"}
    assert dag.get_task("approve").downstream_task_ids == {"moves"}
    assert dag.get_task("report").trigger_rule == "all_done"
    assert dag.get_task("apply").max_active_tis_per_dagrun == 1
