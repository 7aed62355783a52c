"""Make-before-break moves through the real local driver: success, rollback, retry."""

from __future__ import annotations

import pytest

from multicloud.alerts import read_alerts
from multicloud.cost.apply import apply_move
from multicloud.drivers.local import LocalClusterDriver, stop_all_servers
from multicloud.estate import load_estate
from multicloud.placement import current_placement
from tests.dags.cost_fixtures import serve_declared_placement

MOVE = {"workload": "churn-us-serving", "source": "eks-use1", "target": "oke-ash", "replicas": 1}


@pytest.fixture
def served(estate_home):
    estate = load_estate(home=estate_home)
    serve_declared_placement(estate, estate_home)
    yield estate
    stop_all_servers(home=estate_home)


def test_failed_health_gate_rolls_back_and_the_source_keeps_serving(served, estate_home):
    result = apply_move(served, MOVE, "run-1", home=estate_home, health_check=lambda urls, v: ["emulated: 503"])
    assert result["status"] == "rolled_back"
    assert "health gate failed" in result["error"]
    assert "churn-us" not in LocalClusterDriver("oke-ash", estate_home).served()
    source = LocalClusterDriver("eks-use1", estate_home)
    assert source.served()["churn-us"]["versions"] == {"v1": 1}
    assert source.status("churn-us", "v1").state == "complete"
    assert current_placement(served, estate_home)["churn-us-serving"] == {"eks-use1": 1}
    [rollback_alert] = read_alerts(estate_home, kind="rollback")
    assert "eks-use1 -> oke-ash rolled back" in rollback_alert["message"]


def test_move_applies_once_and_a_retry_is_a_no_op(served, estate_home):
    first = apply_move(served, MOVE, "run-2", home=estate_home)
    assert first["status"] == "applied", first
    assert current_placement(served, estate_home)["churn-us-serving"] == {"oke-ash": 1}
    again = apply_move(served, MOVE, "run-2", home=estate_home)
    assert again == first
    assert LocalClusterDriver("oke-ash", estate_home).served()["churn-us"]["versions"] == {"v1": 1}
    assert "churn-us" not in LocalClusterDriver("eks-use1", estate_home).served()
