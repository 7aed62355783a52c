"""The must-show of automated failover: the primary fails and nobody triggers anything.

Real Airflow components through the real-scheduler harness (tests/harness/airflow.py:
api-server, scheduler, dag-processor, triggerer; LocalExecutor on a throw-away SQLite copy of the
migrated template, free port; the project's dags/ and plugins/; nobody unpauses dr_failover: it is
created unpaused), and the
local estate served for real: churn-eu model servers on
the primary (2 replicas) and the secondary (a pilot light of 1), the health-checked gateway, a
probe that checks every answer against the model card's smoke cases with one client retry.

The test then only breaks things and repairs them: a region outage at the primary (servers
stopped, storage moved aside). The gateway's health checks fail over by themselves and write a
signal; the triggerer's ``HealthSignalTrigger`` turns it into an asset event; the scheduler
runs ``dr_failover``, which promotes the write target and scales the pilot light up; a repeated
signal opens nothing twice. After the primary is repaired, ``dr_failover`` waits for the
estate's healthy checks and stabilisation window and fails back; the estate is then exactly as
before the fault.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from multicloud.alerts import read_alerts
from multicloud.dr import failover, faults, health
from multicloud.dr.ledger import FaultLedger
from multicloud.dr.probe import read_samples, start_probe, stop_probe
from multicloud.dr.rehearsal import estate_snapshot
from multicloud.dr.scoring import availability, rpo_s
from multicloud.dr.watermarks import dataset_watermarks
from multicloud.dr.write_targets import write_target
from multicloud.drivers import ModelDeployment
from multicloud.drivers.local import LocalClusterDriver
from multicloud.estate import load_estate
from multicloud.paths import DEFAULT_ESTATE_FILE
from multicloud.reports import safe_run_id
from multicloud.waiting import wait_until
from tests.dags.dr_fixtures import NEWEST_EVENT, REPLICA_LAG, teardown, write_events, write_model
from tests.harness.airflow import AirflowInstance, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(1500)]
# Waits are generous: on a loaded 2-core machine one task instance takes 30-60 s to start.
TASK_WAIT_S = 300

PAIR_BLOCK = """    endpoint: churn-eu.global
    health_check: {interval_s: 0.25, timeout_s: 0.5, unhealthy_threshold: 2, healthy_threshold: 2}
    fail_back: {healthy_checks: 4, stabilisation_s: 2}
"""


def _estate_file(tmp_path: Path) -> Path:
    text = DEFAULT_ESTATE_FILE.read_text()
    text = text.replace("    endpoint: churn-eu.global\n", PAIR_BLOCK, 1)
    text = text.replace("    replicas: 2\n    resources: {cpu: 2, memory_gb: 4}\n    critical: true\n"
                        "    reads: [customer-events]\n    requests_per_hour: 20000\n"
                        "    placement: {oke-fra: 1, gke-euw4: 1}",
                        "    replicas: 3\n    resources: {cpu: 2, memory_gb: 4}\n    critical: true\n"
                        "    reads: [customer-events]\n    requests_per_hour: 20000\n"
                        "    placement: {oke-fra: 2, gke-euw4: 1}", 1)
    assert "placement: {oke-fra: 2, gke-euw4: 1}" in text
    assert "healthy_checks: 4" in text
    path = tmp_path / "estate.yaml"
    path.write_text(text)
    return path


class Stack:
    """The real-scheduler harness (tests/harness/airflow.py) plus the waits this test needs."""

    def __init__(self, tmp_path: Path, estate_file: Path, estate_home: Path, airflow_db: Path) -> None:
        self.estate_home = estate_home
        self.af = AirflowInstance(tmp_path / "deployment", db_template=airflow_db, extra_env={
            "MULTICLOUD_ESTATE": str(estate_file), "MULTICLOUD_ESTATE_HOME": str(estate_home),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1", "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())})

    def start(self, dag_ids: tuple[str, ...] = ("dr_failover",)) -> None:
        self.af.start(timeout=600)  # a loaded 2-core machine: the api-server alone took > 240 s once
        self.af.wait_for_dags(dag_ids)
        # The harness creates DAGs paused; dr_failover says is_paused_upon_creation=False, and only
        # an unpaused DAG's asset watchers run.
        assert self.af.dag("dr_failover")["is_paused"] is False

    def runs(self) -> list[tuple[str, str, str]]:
        return [(r["dag_run_id"], r["run_type"], r["state"]) for r in self.af.runs("dr_failover")]

    def task_states(self, run_id: str) -> dict[str, str]:
        return {t["task_id"]: t["state"] for t in self.af.task_instances("dr_failover", run_id)}

    def watcher_running(self) -> bool:
        """The triggerer runs dr_failover's watcher: its heartbeat (what dr_rehearsal's preflight checks)."""
        age = health.watcher_age_s(self.estate_home)
        return age is not None and age < 30

    def wait_for(self, predicate, timeout: float, what: str, interval: float = 0.25):
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            self.af.check_alive()
            value = predicate()
            if value:
                print(f"{time.monotonic() - started:6.1f}s  {what}")
                return value
            time.sleep(interval)
        tails = "\n".join(f"--- {name}\n{self.af.tail(name)}" for name in self.af.components)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        """The run's state; None when the api-server did not answer in time (it happens at load 25+)."""
        import requests

        try:
            return self.af.run(dag_id, run_id)["state"]
        except requests.exceptions.RequestException:
            return None

    def stop(self) -> None:
        self.af.stop()


def _serve(estate, home: Path) -> dict[str, LocalClusterDriver]:
    uri = write_model(estate)
    # The pilot light serves (and scales up) from its own region's copy: the primary's is down.
    staged = home / "storage" / "gcp-euw4" / "models" / "churn-eu" / "v1"
    shutil.copytree(uri.removeprefix("file://"), staged)
    write_events(estate, "oci-fra", NEWEST_EVENT)
    write_events(estate, "gcp-euw4", NEWEST_EVENT - REPLICA_LAG)
    drivers = {}
    for cluster, replicas, source in (("oke-fra", 2, uri), ("gke-euw4", 1, f"file://{staged}")):
        driver = LocalClusterDriver(cluster, home)
        driver.deploy(ModelDeployment("churn-eu", "v1", replicas, source,
                                      runtime=estate.runtime.model_dump(mode="json")))
        assert driver.wait_ready("churn-eu", "v1", 30).state == "complete"
        drivers[cluster] = driver
    return drivers


def test_primary_fails_and_dr_failover_runs_by_itself_then_fails_back_exactly(tmp_path, airflow_db_template,
                                                                               estate_home,
                                                                               monkeypatch):
    estate_file = _estate_file(tmp_path)
    monkeypatch.setenv("MULTICLOUD_ESTATE", str(estate_file))
    estate = load_estate(estate_file, home=estate_home)
    pair = estate.dr_pair("eu-churn")
    drivers = _serve(estate, estate_home)
    stack = Stack(tmp_path, estate_file, estate_home, airflow_db_template)
    probe_file = tmp_path / "probe.jsonl"
    probe_pid = None
    try:
        armed = failover.arm(estate, pair, estate_home)
        before = estate_snapshot(estate, pair, estate_home)
        card = json.loads((estate_home / "storage/oci-fra/models/churn-eu/v1/card.json").read_text())
        probe_pid = start_probe(armed["root"], probe_file, {}, 0.1, {"oke-fra": "oci-fra", "gke-euw4": "gcp-euw4"},
                                smoke_cases=card["smoke_cases"])
        stack.start()
        stack.wait_for(stack.watcher_running, 240, "the triggerer to run the watcher")
        assert stack.runs() == []  # nothing ran before the outage

        # ---- the outage: nobody triggers anything from here on ------------------------------------
        ledger = FaultLedger(pair.id, estate_home)
        primary_marks = dataset_watermarks(estate, pair.primary, pair.datasets)
        fault_at = time.time()
        faults.stop_servers(estate, ledger, "oke-fra", ["churn-eu"], run_id="outage")
        faults.take_storage_offline(estate, ledger, pair.primary, run_id="outage")

        [signal] = stack.wait_for(lambda: health.read_signals(health.signals_file(estate_home))[0], 20,
                                  "the gateway's health checks to fail over")
        assert (signal["from"], signal["to"], signal["pair"]) == ("oci-fra", "gcp-euw4", "eu-churn")
        promoted = stack.wait_for(lambda: write_target(pair, "customer-events", estate_home) == "gcp-euw4", TASK_WAIT_S,
                                  "dr_failover to promote the write target")
        assert promoted
        [(run_id, run_type, _state)] = stack.runs()
        assert run_type == "asset_triggered"
        stack.wait_for(lambda: drivers["gke-euw4"].served()["churn-eu"]["versions"] == {"v1": 2}, TASK_WAIT_S,
                       "the pilot light to scale up to the primary's 2 replicas")
        stack.wait_for(lambda: read_alerts(estate_home, kind="failover"), TASK_WAIT_S, "a page")
        # A write during the outage goes to the promoted secondary and must survive fail back.
        outage_write = estate_home / "storage" / write_target(pair, "customer-events", estate_home) / "outage-write.json"
        outage_write.write_text('{"order": 1}')
        secondary_marks = dataset_watermarks(estate, pair.secondary, pair.datasets)

        # ---- the same signal again: a second run that opens nothing ---------------------------------
        health.append_signal(health.signals_file(estate_home), signal)
        stack.wait_for(lambda: len(stack.runs()) == 2 and stack.runs()[1][2] == "success", TASK_WAIT_S,
                       "the repeated signal's run")
        assert stack.task_states(stack.runs()[1][0])["open_incident"] == "success"
        assert set(stack.task_states(stack.runs()[1][0]).values()) == {"success", "skipped"}
        assert len(failover.incidents(estate_home)) == 1

        # ---- the primary comes back; fail back is dr_failover's, after the stabilisation window ------
        repaired_at = time.time()
        faults.undo_storage_offline(ledger.find_open("storage_offline", pair.primary)["undo"])  # artifacts first
        faults.undo_servers_stopped(estate, ledger.find_open("servers_stopped", "oke-fra")["undo"])
        stack.wait_for(lambda: stack.runs()[0][2] == "success", TASK_WAIT_S, "dr_failover to fail back")
        failed_back_at = failover.incidents(estate_home)[signal["incident"]]["events"]["failed_back"]
        assert failed_back_at - repaired_at >= pair.fail_back.stabilisation_s
        states = stack.task_states(run_id)
        assert states["approve_fail_back"] == "skipped"
        assert states["apply_standby_stack"] == "skipped"
        assert states["fail_back"] == "success"
        assert wait_until(lambda: any(s.region == "oci-fra" and s.t > failed_back_at for s in read_samples(probe_file)),
                          30), "the probe never saw the primary again after the fail-back"
        stop_probe(probe_pid, probe_file)
        probe_pid = None

        after = estate_snapshot(estate, pair, estate_home)
        assert {k: after[k] for k in ("served", "route", "write_target")} == {
            k: before[k] for k in ("served", "route", "write_target")}
        assert outage_write.read_text() == '{"order": 1}'  # nothing written during the outage was lost
        measured_rpo = max(rpo_s(primary_marks[d], secondary_marks[d]) for d in pair.datasets)
        assert measured_rpo == REPLICA_LAG.total_seconds()  # RPO as measured: the replica's lag, no more
        samples = read_samples(probe_file)
        # from the health checks' failover (stopping the servers takes a moment) to the repair
        outage = [s for s in samples if signal["at"] <= s.t <= repaired_at]
        assert signal["at"] >= fault_at
        assert outage
        assert {s.region for s in outage if s.answered} == {"gcp-euw4"}
        assert availability(samples) == 1.0, [s for s in samples if not s.answered][:3]  # no failed request
        assert any(s.region == "oci-fra" for s in samples if s.t > failed_back_at)
        assert {e["state"] for e in ledger.entries() if e["run_id"] == signal["incident"]} == {"undone"}
        assert read_alerts(estate_home, kind="fail_back")
    finally:
        if probe_pid:
            stop_probe(probe_pid, probe_file)
        stack.stop()
        teardown(estate_home)


def test_dr_rehearsal_with_its_defaults_through_the_rest_api_rehearses_the_automated_path(
        tmp_path, airflow_db_template, estate_home, monkeypatch):
    """The UI's Trigger with no conf: path automated. The rehearsal only injects and observes; the
    gateway fails over, the triggerer's watcher starts dr_failover (asset-triggered, nobody
    triggers it), which promotes the write target, scales the pilot light and later fails back."""
    estate_file = _estate_file(tmp_path)
    monkeypatch.setenv("MULTICLOUD_ESTATE", str(estate_file))
    estate = load_estate(estate_file, home=estate_home)
    _serve(estate, estate_home)
    stack = Stack(tmp_path, estate_file, estate_home, airflow_db_template)
    try:
        stack.start(("dr_failover", "dr_rehearsal"))
        stack.wait_for(stack.watcher_running, 240, "the triggerer to run the watcher")
        # Unpausing a weekly DAG with catchup=False also makes the scheduler run its latest interval:
        # that rehearsal runs too (max_active_runs=1 queues one behind the other), with its own dr_failover.
        run_id = stack.af.trigger("dr_rehearsal")  # logical_date: null, no conf: every default
        state = stack.wait_for(lambda: stack.run_state("dr_rehearsal", run_id) in ("success", "failed")
                               and stack.run_state("dr_rehearsal", run_id), 1200, "the rehearsal to finish", 2.0)
        assert state == "success", stack.af.failure_report("dr_rehearsal", run_id)
        report = json.loads((estate_home / "reports" / "dr_rehearsal" / f"{safe_run_id(run_id)}.json").read_text())
        report = report["data"]
        assert (report["path"], report["outcome"]) == ("automated", "passed"), report
        failover_runs = {r[0]: r[1:] for r in stack.runs()}
        assert failover_runs[report["dr_failover"]["run_id"]] == ("asset_triggered", "success")
        assert {"write_target_promoted", "pilot_light_scaled", "failed_back"} <= set(report["dr_failover"]["events"])
        assert report["score"]["rto_s"] <= 10
        assert report["probe"]["availability"] == 1.0
        assert all(report["as_before"].values()), report["as_before"]
        print(f"dr_rehearsal (automated, under the scheduler): RTO {report['score']['rto_s']:.2f}s, "
              f"{report['probe']['samples']} probes, availability {report['probe']['availability']:.4f}")
    finally:
        stack.stop()
        teardown(estate_home)
