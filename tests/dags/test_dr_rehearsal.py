"""dr_rehearsal end to end on the local estate: real model servers, gateway, probe and faults.

Nothing is emulated here: the pair's model servers are real processes (local cluster driver),
the fault really stops them and moves the primary region's storage aside, traffic really goes
through the local gateway process, and RTO/RPO are measured from a real probe.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import psutil
import pytest

from multicloud.alerts import read_alerts
from multicloud.dr import gateway
from multicloud.dr.ledger import FaultLedger
from multicloud.dr.report import read_history
from multicloud.drivers.local import find_servers
from multicloud.estate import load_estate
from multicloud.reports import latest_summary
from tests.dags.dag_files import load_dag
from tests.dags.dr_fixtures import REPLICA_LAG, crash, serve_pair, teardown

FAST = {"hold_s": 1, "stabilisation_checks": 2, "max_duration_s": 90, "path": "orchestrated"}


def _dr_processes(home: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info.get("cmdline") or [])
        if ("multicloud.dr.probe" in cmdline or "multicloud.dr.gateway" in cmdline) and str(home) in cmdline:
            found.append(process)
    return found


@pytest.fixture
def served_pair(airflow_db, estate_home):
    estate = load_estate(home=estate_home)
    drivers = serve_pair(estate, estate_home)
    yield estate, drivers
    teardown(estate_home)
    assert not find_servers(home=estate_home)
    assert not _dr_processes(estate_home)


def _storage(estate_home: Path) -> Path:
    return estate_home / "storage" / "oci-fra"


@pytest.mark.timeout(300)
def test_full_rehearsal_measures_rto_rpo_and_leaves_the_estate_as_before(served_pair, estate_home):
    _estate, drivers = served_pair
    primary = drivers["oke-fra"]
    before_served = {c: d.served()["churn-eu"]["versions"] for c, d in drivers.items()}
    files_before = sorted(p.relative_to(_storage(estate_home)) for p in _storage(estate_home).rglob("*"))

    run = load_dag("dr_rehearsal").test(run_conf={"scenario": "region_outage", **FAST})

    assert run.state == "success"
    summary = latest_summary("dr_rehearsal", estate_home)
    report = summary["data"]
    assert report["outcome"] == "passed", summary["headline"]
    assert 0 < report["score"]["rto_s"] <= 30
    assert report["score"]["rpo_s"] == REPLICA_LAG.total_seconds()
    assert report["probe"]["regions"] == ["gcp-euw4", "oci-fra"]  # answers came from both sides
    assert report["as_before"] == {"served": True, "route": True, "storage": True, "write_target": True}
    # the fault really happened: the primary's servers were replaced (new processes after the restart)
    assert report["faults"]["servers_stopped"] == {"churn-eu": {"v1": 1}}
    assert {c: d.served()["churn-eu"]["versions"] for c, d in drivers.items()} == before_served
    assert primary.status("churn-eu", "v1").state == "complete"
    assert sorted(p.relative_to(_storage(estate_home)) for p in _storage(estate_home).rglob("*")) == files_before
    assert not list(_storage(estate_home).parent.glob("oci-fra.offline-*"))
    assert gateway.running_gateway(estate_home) is None
    assert not _dr_processes(estate_home)
    assert all(e["state"] in ("undone", "kept") for e in FaultLedger("eu-churn", estate_home).entries())
    assert Path(report["html"]).read_text().count("data:image/png;base64,") == 1
    assert any(line.startswith("RTO ") for line in summary["headline"])
    assert read_history(estate_home)[-1]["outcome"] == "passed"


@pytest.mark.timeout(300)
def test_automated_path_only_observes_the_gateway_failing_over_by_itself(served_pair, estate_home):
    """No dr_failover here (dag.test has no scheduler): the steering alone, and no failed request."""
    run = load_dag("dr_rehearsal").test(run_conf={**FAST, "path": "automated", "dr_failover_wait_s": 0})

    assert run.state == "success"
    report = latest_summary("dr_rehearsal", estate_home)["data"]
    assert report["outcome"] == "passed", report
    assert report["path"] == "automated"
    assert report["probe"]["answers_checked"] == "smoke cases"
    assert report["probe"]["availability"] == 1.0  # the gateway's retry on the standby: no failed request
    assert report["probe"]["regions"] == ["gcp-euw4", "oci-fra"]
    assert report["slo"]["monthly_error_budget_s"] == 2592.0  # 99.9% of 30 days = 43.2 min
    assert report["slo"]["downtime_s"] == 0
    # the failover event is the health checks' own, after the fault and before the first secondary answer
    events = report["events"]
    assert events["fault"] < events["failover"]
    assert report["as_before"] == {"served": True, "route": True, "storage": True, "write_target": True}
    assert {e["kind"] for e in FaultLedger("eu-churn", estate_home).entries()} >= {"route_set", "servers_stopped"}
    assert "traffic_switched" not in {e["kind"] for e in FaultLedger("eu-churn", estate_home).entries()}
    assert read_history(estate_home)[-1]["path"] == "automated"


@pytest.mark.timeout(300)
def test_broken_secondary_fails_preflight_and_nothing_is_injected(served_pair, estate_home):
    _estate, drivers = served_pair
    primary_pids = drivers["oke-fra"].pids()
    crash(drivers["gke-euw4"])

    run = load_dag("dr_rehearsal").test(run_conf=FAST)

    assert run.state == "failed"
    report = latest_summary("dr_rehearsal", estate_home)["data"]
    assert report["outcome"] == "preflight_failed"
    failed = [c["name"] for c in report["preflight"] if not c["ok"]]
    assert "secondary serves churn-eu-serving" in failed
    assert FaultLedger("eu-churn", estate_home).entries() == []  # not even the gateway was started
    assert drivers["oke-fra"].pids() == primary_pids  # the primary was never touched
    assert (_storage(estate_home) / "customer-events").is_dir()


@pytest.mark.timeout(300)
def test_secondary_breaking_mid_rehearsal_trips_the_stop_condition_and_restores_the_primary(served_pair, estate_home):
    _estate, drivers = served_pair
    routes = gateway.routes_file(estate_home)
    stop = threading.Event()

    def break_secondary_once_traffic_moves() -> None:
        while not stop.is_set():
            if routes.exists() and json.loads(routes.read_text())["routes"].get("churn-eu.global", {}).get(
                    "region") == "gcp-euw4":
                crash(drivers["gke-euw4"])
                return
            time.sleep(0.01)

    saboteur = threading.Thread(target=break_secondary_once_traffic_moves, daemon=True)
    saboteur.start()
    try:
        run = load_dag("dr_rehearsal").test(run_conf={**FAST, "max_errors": 5, "hold_s": 5})
    finally:
        stop.set()
        saboteur.join(5)

    assert run.state == "failed"
    report = latest_summary("dr_rehearsal", estate_home)["data"]
    assert report["outcome"] == "aborted"
    assert "max_errors 5" in report["abort_reason"]
    assert drivers["oke-fra"].status("churn-eu", "v1").state == "complete"  # primary back in service
    assert (_storage(estate_home) / "customer-events").is_dir()
    assert json.loads(routes.read_text())["routes"] == {}  # route table as before the rehearsal
    assert {e["state"] for e in FaultLedger("eu-churn", estate_home).entries()} == {"undone"}
    [failed_alert] = read_alerts(estate_home, kind="rehearsal_failed")
    assert failed_alert["dag_id"] == "dr_rehearsal"
    assert "aborted" in failed_alert["message"]


@pytest.mark.timeout(300)
def test_dry_run_injects_nothing_and_leaves_no_trace(served_pair, estate_home):
    _estate, drivers = served_pair
    pids = {c: d.pids() for c, d in drivers.items()}

    run = load_dag("dr_rehearsal").test(run_conf={**FAST, "dry_run": True})

    assert run.state == "success"
    report = latest_summary("dr_rehearsal", estate_home)["data"]
    assert report["outcome"] == "dry_run"
    assert report["plan"] == ["servers_stopped on oci-fra", "storage_offline on oci-fra"]
    assert {c: d.pids() for c, d in drivers.items()} == pids
    assert {e["kind"] for e in FaultLedger("eu-churn", estate_home).entries()} == {
        "gateway_started", "route_set", "probe_started"}  # only the measuring harness, all undone
    assert all(e["state"] == "undone" for e in FaultLedger("eu-churn", estate_home).entries())
    assert all(report["as_before"].values())
