"""DR preflight capacity counts GPUs and their type, not only vCPU and memory."""

from __future__ import annotations

from pathlib import Path

import yaml

from multicloud.dr.preflight import check_capacity
from multicloud.estate import load_estate

LOCAL = Path(__file__).resolve().parents[3] / "include" / "estate" / "local.yaml"


def _estate(home: Path, resources: dict):
    raw = yaml.safe_load(LOCAL.read_text())
    next(w for w in raw["workloads"] if w["id"] == "churn-eu-serving")["resources"] = resources
    path = home / "gpu.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_estate(str(path), home=home)


def test_a_gpu_workload_does_not_fit_a_secondary_without_gpus(estate_home):
    estate = _estate(estate_home, {"cpu": 2, "memory_gb": 4, "gpu": 1, "gpu_type": "L4"})
    check = check_capacity(estate, estate.dr_pair("eu-churn"))   # gke-euw4: n2 nodes, no GPU
    assert not check.ok
    assert "1 GPU" in check.detail
    assert "needs L4" in check.detail


def test_cpu_workloads_still_fit(estate_home):
    estate = _estate(estate_home, {"cpu": 2, "memory_gb": 4})
    assert check_capacity(estate, estate.dr_pair("eu-churn")).ok
