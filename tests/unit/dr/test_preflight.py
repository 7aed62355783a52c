"""DR preflight: not ready vs refused, capacity counting GPUs and their type, the failover watcher."""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from multicloud.dr import health
from multicloud.dr.preflight import Check, PreflightFailed, check_capacity
from multicloud.estate import load_estate


def test_only_not_ready_checks_failing_means_not_ready():
    checks = [Check("capacity", True, "ok"), Check("secondary serves w", False, "primary serves nothing", not_ready=True)]
    assert PreflightFailed(checks).not_ready


def test_a_real_refusal_alongside_is_a_failure():
    checks = [Check("residency", False, "denied"), Check("secondary serves w", False, "nothing", not_ready=True)]
    refusal = PreflightFailed(checks)
    assert not refusal.not_ready
    assert "residency: denied" in str(refusal)


def test_a_fresh_local_estate_is_not_ready_rather_than_failed(estate_home):
    """Nothing synced, nothing served (a fresh `make airflow`): every failed check is 'not ready'.

    Seen under the real scheduler: the weekly run the scheduler creates on a fresh deployment
    failed preflight (no data at the primary, 0/0 primary endpoints) and became "the last rehearsal"."""
    from multicloud.dr.preflight import check_local_reachability, check_replica_lag, check_secondary_serving
    from multicloud.estate import load_estate

    estate = load_estate(home=estate_home)
    pair = estate.dr_pair("eu-churn")
    lag, _ = check_replica_lag(estate, pair)
    checks = [*check_secondary_serving(estate, pair), *lag, *check_local_reachability(estate, pair)]
    assert [c for c in checks if not c.ok], checks
    assert PreflightFailed(checks).not_ready, [c for c in checks if not c.ok and not c.not_ready]


def test_no_data_at_a_primary_that_serves_is_a_failure_not_a_skip():
    """Missing data or endpoints skip a rehearsal only on an estate whose primary serves nothing."""
    checks = [Check("secondary serves w", True, "ok"),
              Check("replica lag d", False, "no data for d at the primary", not_ready_if_unserved=True),
              Check("primary endpoints answer", False, "0/0 endpoint(s)", not_ready_if_unserved=True)]
    assert not PreflightFailed(checks).not_ready


def test_preflight_of_the_automated_path_needs_a_running_failover_watcher(estate_home):
    from multicloud.dr.preflight import check_failover_watcher
    from multicloud.statefile import atomic_write_text

    missing = check_failover_watcher(estate_home)
    assert not missing.ok
    assert "never beat" in missing.detail
    assert "unpause dr_failover" in missing.detail
    beat = health.watcher_file(health.signals_file(estate_home))
    beat.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(beat, json.dumps({"at": time.time() - 1}))
    assert check_failover_watcher(estate_home).ok
    atomic_write_text(beat, json.dumps({"at": time.time() - 600}))
    stale = check_failover_watcher(estate_home)
    assert not stale.ok
    assert "last beat 600s ago" in stale.detail


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
